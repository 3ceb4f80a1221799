// The JavaScript worker behind hook filters and transforms, run as `herald-js` or as
// `herald __js-worker` (the same code, so `swift run herald` needs no second program).
//
// One process runs untrusted ES5 functions (Sync Gateway's dialect) on Duktape, one request at a
// time, for the Herald process that spawned it. It is a separate process so the parent can bound
// each call in time by killing it: Duktape as packaged has no execution-timeout hook, and an
// endless loop cannot be interrupted in-process. Memory is bounded here, by an allocator that
// refuses to grow the heap past the limit given on the command line.
//
// Each script lives in its own realm (a fresh global environment, created per cache key), so one
// hook's function cannot see or alter the globals another hook's function runs with. Functions are
// compiled once per key: the parent's key names a hook's version.
//
// Protocol on stdin/stdout, one exchange at a time:
//   request:  "<key> <source bytes> <args bytes>\n" then the source, then the arguments (a JSON array;
//             none, 0 bytes, to compile only)
//   response: "ok <typeof result> <bytes>\n<result as JSON>" or "error <kind> <bytes>\n<message>"
//   kinds: "compile" (the source is not a function), "throw" (the call threw), "memory" (the heap
//   limit was reached).
// Keys starting with "once-" compile a script for one call without keeping its realm (checks, trials).
// The heap is replaced by a fresh one (every realm dropped, recompiled on demand) after a call that
// hit the memory limit, when the realms left hold more than half of it, or past MAX_REALMS realms,
// so what one script keeps cannot make the next caller's call fail.
#include "herald_js.h"
#include <duktape.h>
#include <signal.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

// MARK: capped allocator

typedef union {
    size_t size;
    max_align_t align;
} block_header;

static size_t heap_used = 0;
static size_t heap_limit = 64u * 1024u * 1024u;
static int heap_exhausted = 0;
static int realms_created = 0;
#define MAX_REALMS 512

static void *capped_alloc(void *udata, duk_size_t size) {
    (void) udata;
    if (size == 0) return NULL;
    if (size > heap_limit - heap_used) {
        heap_exhausted = 1;
        return NULL;
    }
    block_header *block = malloc(sizeof(block_header) + size);
    if (!block) return NULL;
    block->size = size;
    heap_used += size;
    return block + 1;
}

static void capped_free(void *udata, void *ptr) {
    (void) udata;
    if (!ptr) return;
    block_header *block = (block_header *) ptr - 1;
    heap_used -= block->size;
    free(block);
}

static void *capped_realloc(void *udata, void *ptr, duk_size_t size) {
    if (!ptr) return capped_alloc(udata, size);
    if (size == 0) {
        capped_free(udata, ptr);
        return NULL;
    }
    block_header *block = (block_header *) ptr - 1;
    size_t old = block->size;
    if (size > old && size - old > heap_limit - heap_used) {
        heap_exhausted = 1;
        return NULL;
    }
    block_header *grown = realloc(block, sizeof(block_header) + size);
    if (!grown) return NULL;
    heap_used = heap_used - old + size;
    grown->size = size;
    return grown + 1;
}

static void fatal_handler(void *udata, const char *msg) {
    (void) udata;
    fprintf(stderr, "herald-js: fatal: %s\n", msg ? msg : "unknown");
    _exit(70);
}

// MARK: I/O

static int read_exactly(char *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        size_t got = fread(buffer + done, 1, length - done, stdin);
        if (got == 0) return -1;
        done += got;
    }
    return 0;
}

static void respond(const char *status, const char *kind, const char *body, size_t length) {
    fprintf(stdout, "%s %s %zu\n", status, kind, length);
    fwrite(body, 1, length, stdout);
    fflush(stdout);
}

// MARK: requests

typedef struct {
    const char *key;
    const char *source;
    size_t source_length;
    const char *args;
    size_t args_length;
    const char *result_type;
} request;

// Errors raised in a realm are caught there (protected calls on the realm's own thread) and thrown
// again, as their message, on the main context: an error must not unwind across threads.
static void rethrow_from(duk_context *realm, duk_idx_t base, duk_context *ctx) {
    duk_push_string(ctx, duk_safe_to_string(realm, -1));
    duk_set_top(realm, base);
    (void) duk_throw(ctx);
}

static duk_ret_t encode_top(duk_context *ctx, void *udata) {
    (void) udata;
    duk_json_encode(ctx, -1);
    return 1;
}

static duk_ret_t decode_top(duk_context *ctx, void *udata) {
    (void) udata;
    duk_json_decode(ctx, -1);
    return 1;
}

// The realm of `key`: a thread with its own global environment, the compiled function at index 0.
static duk_context *realm_for(duk_context *ctx, request *req, int *compile_error) {
    duk_push_global_stash(ctx);
    if (duk_get_prop_string(ctx, -1, req->key)) {
        duk_context *realm = duk_get_context(ctx, -1);
        duk_pop_2(ctx);
        return realm;
    }
    duk_pop(ctx);
    duk_push_thread_new_globalenv(ctx);
    duk_context *realm = duk_get_context(ctx, -1);
    // Without the Duktape object: its finalizers (Duktape.fin) would run in other callers' time.
    duk_push_global_object(realm);
    duk_del_prop_string(realm, -1, "Duktape");
    duk_pop(realm);
    // Wrapped in parentheses so `function (doc) {…}` is an expression whose value is the function.
    duk_push_string(realm, "(");
    duk_push_lstring(realm, req->source, req->source_length);
    duk_push_string(realm, "\n)");
    duk_concat(realm, 3);
    duk_push_string(realm, "filter");
    *compile_error = 1;
    if (duk_pcompile(realm, DUK_COMPILE_EVAL) != 0 || duk_pcall(realm, 0) != 0) rethrow_from(realm, 0, ctx);
    if (!duk_is_function(realm, -1)) {
        duk_set_top(realm, 0);
        (void) duk_type_error(ctx, "the script is not a function");
    }
    *compile_error = 0;
    if (strncmp(req->key, "once-", 5) == 0) {
        // Kept on the value stack for this call only; dropped when the request ends.
        duk_remove(ctx, -2);
        return realm;
    }
    duk_put_prop_string(ctx, -2, req->key);  // stash[key] = thread (keeps the realm alive)
    realms_created++;
    duk_pop(ctx);
    return realm;
}

typedef struct {
    request *req;
    int compile_error;
} call_state;

static duk_ret_t run_request(duk_context *ctx, void *udata) {
    call_state *state = udata;
    request *req = state->req;
    duk_context *realm = realm_for(ctx, req, &state->compile_error);
    if (req->args_length == 0) {
        req->result_type = "function";
        duk_push_string(ctx, "null");
        return 1;
    }
    duk_idx_t base = duk_get_top(realm);
    duk_dup(realm, 0);
    // Arguments are decoded in the script's own realm, with that realm's prototypes.
    duk_push_lstring(realm, req->args, req->args_length);
    if (duk_safe_call(realm, decode_top, NULL, 1, 1) != 0) rethrow_from(realm, base, ctx);
    duk_idx_t args = duk_get_top_index(realm);
    duk_size_t count = duk_get_length(realm, args);
    for (duk_size_t i = 0; i < count; i++) duk_get_prop_index(realm, args, (duk_uarridx_t) i);
    duk_remove(realm, args);
    if (duk_pcall(realm, (duk_idx_t) count) != 0) rethrow_from(realm, base, ctx);
    switch (duk_get_type(realm, -1)) {
    case DUK_TYPE_UNDEFINED: req->result_type = "undefined"; break;
    case DUK_TYPE_NULL: req->result_type = "null"; break;
    case DUK_TYPE_BOOLEAN: req->result_type = "boolean"; break;
    case DUK_TYPE_NUMBER: req->result_type = "number"; break;
    case DUK_TYPE_STRING: req->result_type = "string"; break;
    case DUK_TYPE_OBJECT: req->result_type = duk_is_function(realm, -1) ? "function" : (duk_is_array(realm, -1) ? "array" : "object"); break;
    default: req->result_type = "other"; break;
    }
    if (duk_is_undefined(realm, -1) || duk_is_function(realm, -1)) {
        duk_pop(realm);
        duk_push_null(realm);
    }
    if (duk_safe_call(realm, encode_top, NULL, 1, 1) != 0) rethrow_from(realm, base, ctx);
    // What was sent is what the JSON says (a toJSON may turn an object into anything, or nothing).
    if (!duk_is_string(realm, -1)) {
        duk_pop(realm);
        duk_push_string(realm, "null");
        req->result_type = "undefined";
    } else {
        const char *json = duk_get_string(realm, -1);
        switch (json[0]) {
        case '{': req->result_type = "object"; break;
        case '[': req->result_type = "array"; break;
        case '"': req->result_type = "string"; break;
        case 't': case 'f': req->result_type = "boolean"; break;
        case 'n': if (strcmp(req->result_type, "undefined") != 0) req->result_type = "null"; break;
        default: req->result_type = "number"; break;
        }
    }
    duk_xmove_top(ctx, realm, 1);  // the encoded result, onto the main context
    duk_set_top(realm, base);
    return 1;
}

static duk_context *new_heap(void) {
    heap_used = 0;
    realms_created = 0;
    return duk_create_heap(capped_alloc, capped_realloc, capped_free, NULL, fatal_handler);
}

int herald_js_main(int argc, char **argv) {
#ifdef __linux__
    // Gone with the server: a worker in an endless loop must not outlive a crashed parent.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 0;
#endif
    if (argc > 1) {
        long megabytes = strtol(argv[1], NULL, 10);
        if (megabytes > 0) heap_limit = (size_t) megabytes * 1024u * 1024u;
    }
    duk_context *ctx = new_heap();
    if (!ctx) {
        fprintf(stderr, "herald-js: cannot create a JavaScript heap\n");
        return 70;
    }
    char header[512];
    while (fgets(header, sizeof header, stdin)) {
        char key[256];
        size_t source_length = 0, args_length = 0;
        if (sscanf(header, "%255s %zu %zu", key, &source_length, &args_length) != 3 || source_length > (64u << 20) || args_length > (256u << 20)) {
            fprintf(stderr, "herald-js: malformed request header\n");
            return 65;
        }
        // Request bytes live outside the capped heap: the limit is for what scripts allocate.
        char *source = malloc(source_length + 1), *args = malloc(args_length + 1);
        if (!source || !args || read_exactly(source, source_length) || read_exactly(args, args_length)) {
            fprintf(stderr, "herald-js: truncated request\n");
            return 65;
        }
        request req = { key, source, source_length, args, args_length, "null" };
        call_state state = { &req, 0 };
        heap_exhausted = 0;
        duk_int_t rc = duk_safe_call(ctx, run_request, &state, 0, 1);
        duk_size_t length = 0;
        if (rc == DUK_EXEC_SUCCESS) {
            const char *json = duk_get_lstring(ctx, -1, &length);
            respond("ok", req.result_type, json, length);
        } else {
            const char *message = duk_safe_to_lstring(ctx, -1, &length);
            // An allocation refused and not recovered by Duktape's emergency collection.
            int out_of_memory = heap_exhausted && strstr(message, "alloc failed") != NULL;
            const char *kind = out_of_memory ? "memory" : (state.compile_error ? "compile" : "throw");
            respond("error", kind, message, length);
        }
        duk_pop(ctx);
        free(source);
        free(args);
        if (heap_exhausted || heap_used > heap_limit / 2 || realms_created > MAX_REALMS) {
            duk_destroy_heap(ctx);
            ctx = new_heap();
            if (!ctx) {
                fprintf(stderr, "herald-js: cannot create a JavaScript heap\n");
                return 70;
            }
        }
    }
    duk_destroy_heap(ctx);
    return 0;
}
