#!/usr/bin/env bash
# Installs what `npm run bench` needs and is missing: fio (and perl's Digest::SHA) for the shared
# fsbench.sh; with --peers also the Debian packages the peer scripts name (../shared/bench/peers:
# moosefs-up.sh needs moosefs-master moosefs-chunkserver moosefs-client moosefs-cli, gluster-up.sh
# needs glusterfs-server glusterfs-client). Fast when everything is present (run by every bench).
# Packages are installed as root with apt-get (one `apt-get update` first); their services are not
# started (the peer scripts start their own daemons on loopback).
set -euo pipefail

peers=0
for a in "$@"; do
  case $a in
    --peers) peers=1 ;;
    *) echo "usage: $0 [--peers]" >&2; exit 2 ;;
  esac
done

need=()
command -v fio >/dev/null 2>&1 || need+=(fio)
perl -MDigest::SHA -e 1 >/dev/null 2>&1 || need+=(perl)   # Digest::SHA ships with Debian's perl
for t in timeout sha256sum; do command -v "$t" >/dev/null 2>&1 || { need+=(coreutils); break; }; done
command -v findmnt >/dev/null 2>&1 || need+=(util-linux)
command -v fusermount >/dev/null 2>&1 || command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
if [ "$peers" -eq 1 ]; then
  for p in moosefs-master moosefs-chunkserver moosefs-client moosefs-cli glusterfs-server glusterfs-client; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
fi
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "quorumfs bench: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "quorumfs bench: installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting services (glusterd on 24007, mfsmaster...) during the install:
# the peer scripts run their own instances on loopback. Only when no policy is in place already.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "quorumfs bench: installed ${need[*]}" >&2
