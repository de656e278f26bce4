#!/usr/bin/env bash
# Debian packages that some tests drive as real processes: redis-server and
# redis-cli (the Redis broker's tests and a 3-node cluster), Chromium and its
# driver (the chat page's browser test). Installs only what is missing, so a
# prepared machine pays nothing. Without root or sudo it says what to install
# and goes on: those tests then skip locally, and fail under CI=true.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v ss >/dev/null || missing+=(iproute2)  # tests/test_chat_resume.py finds a process's sockets
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo)
else
    echo "system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]})" \
         "to run the Redis and browser tests" >&2
    exit 0
fi
echo "system-deps: apt-get install ${missing[*]}" >&2
command -v apt-get >/dev/null || { echo "system-deps: no apt-get here; install ${missing[*]} yourself" >&2; exit 0; }
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
