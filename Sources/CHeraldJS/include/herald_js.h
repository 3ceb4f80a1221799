#ifndef HERALD_JS_H
#define HERALD_JS_H

/// Runs the JavaScript worker on stdin/stdout until stdin closes. `argv[1]`, if given, is the heap
/// limit in MiB. Returns the process exit status.
int herald_js_main(int argc, char **argv);

#endif
