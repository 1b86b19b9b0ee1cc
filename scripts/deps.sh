#!/bin/sh
# Install the Debian packages mend needs that are not installed yet.
# As root: apt-get installs them. Otherwise: print the one line to run.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null || {
        echo "deps: apt-get install failed; run: apt-get install -y$missing" >&2; exit 1; }
else
    echo "deps: missing packages; run as root:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
