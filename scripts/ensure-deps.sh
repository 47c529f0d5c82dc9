#!/usr/bin/env bash
# Installs what QuorumFS needs and is missing: Debian packages for FUSE (libfuse-dev to build the
# binding, fuse3 for fusermount) and the npm dependencies. Fast when everything is present, so it
# runs before every `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
dpkg -s libfuse-dev >/dev/null 2>&1 || need_apt+=(libfuse-dev)
dpkg -s fuse3 >/dev/null 2>&1 || need_apt+=(fuse3)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "quorumfs: missing Debian packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Reinstall npm packages when node_modules is missing or older than the lock file, or the FUSE
# addon was never built (it builds from source against libfuse-dev).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -e node_modules/@cocalc/fuse-native/build/Release/fuse.node ] \
   || [ ! -e node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
  echo "installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
