// herald-js: the JavaScript worker process for hook filters and transforms (see CHeraldJS).
#include "herald_js.h"

int main(int argc, char **argv) { return herald_js_main(argc, argv); }
