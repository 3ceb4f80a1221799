#ifndef HERALD_JS_H
#define HERALD_JS_H

#include <spawn.h>

/// Runs the JavaScript worker on stdin/stdout until stdin closes. `argv[1]`, if given, is the heap
/// limit in MiB. Returns the process exit status.
int herald_js_main(int argc, char **argv);

/// Adds to `actions` the closing of every descriptor above stderr in the child, so a worker never
/// holds another descriptor of its parent open (a pipe whose reader waits for end of file, a socket).
/// Returns 0 or an errno value.
int herald_spawn_close_inherited(posix_spawn_file_actions_t *actions);
/// Makes the child start in `directory` (glibc 2.29 and later).
int herald_spawn_chdir(posix_spawn_file_actions_t *actions, const char *directory);

#endif
