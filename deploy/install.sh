#!/usr/bin/env bash
# Installs Herald into a prefix: bin/herald, bin/herald-js (the JavaScript worker for hook filters)
# and share/herald/{Templates,Public} (the web UI), where an installed herald finds them.
#
#   deploy/install.sh [--prefix /usr/local] [--configuration release|debug] [--no-build] [--bin-path DIR]
#
# Builds with `swift build -c <configuration> $SWIFT_BUILD_FLAGS` first unless --no-build is given
# (the container image passes --static-swift-stdlib); --bin-path takes the programs from DIR.
set -euo pipefail

prefix=/usr/local
bin=
configuration=release
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --configuration) configuration="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --bin-path) bin="$2"; build=0; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$configuration" in release|debug) ;; *) echo "install.sh: --configuration is release or debug" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "$build" = 1 ]; then
    # shellcheck disable=SC2086 # the flags are words
    swift build -c "$configuration" ${SWIFT_BUILD_FLAGS:-} --product herald
    # shellcheck disable=SC2086
    swift build -c "$configuration" ${SWIFT_BUILD_FLAGS:-} --product herald-js
fi
bin="${bin:-$(swift build -c "$configuration" --show-bin-path)}"
for program in herald herald-js; do
    [ -x "$bin/$program" ] || { echo "install.sh: $bin/$program is not built (drop --no-build)" >&2; exit 1; }
done

install -d -m 0755 "$prefix/bin" "$prefix/share/herald"
install -m 0755 "$bin/herald" "$bin/herald-js" "$prefix/bin/"
rm -rf "$prefix/share/herald/Templates" "$prefix/share/herald/Public"
cp -R Templates Public "$prefix/share/herald/"
chmod -R u=rwX,go=rX "$prefix/share/herald"
echo "installed $prefix/bin/herald, $prefix/bin/herald-js and $prefix/share/herald"
