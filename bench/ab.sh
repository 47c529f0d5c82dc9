#!/usr/bin/env bash
# Paired A/B of two QuorumFS builds on fsbench.sh's small-file phases, run side by side.
#
#   bench/ab.sh BUILD_A BUILD_B [NFILES]      (each BUILD a checkout with dist/ built; as root)
#
# On this project's shared 2-vCPU VMs the same build's small-file figures move by 30-50% from one
# minute to the next (CPU steal, the host's disk cache), so two builds run one after the other
# mostly measure the host. Here each build gets its own fresh local cluster (N=3 Qw=3 Qr=1) and
# mount, and every phase runs on both mounts at once, so both meet the same host conditions and
# share the machine evenly. Absolute figures are therefore about half of a solo run's; compare the
# two columns, and swap A and B between repeats (A starts a moment earlier). Phases as in
# fsbench.sh: create NFILES 4 KiB files in a 2-level tree (perl), `ls -lR` and `sha256sum -c` after
# drop_caches, `rm -rf`. Prints one line: "<phase> <A>/<B>" in files (entries for ls) per second.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: bench/ab.sh BUILD_A BUILD_B [NFILES]" >&2
  exit 2
fi
A=$(cd "$1" && pwd)
B=$(cd "$2" && pwd)
N=${3:-2000}
for b in "$A" "$B"; do
  [[ -f $b/bin/quorumfs.js && -d $b/dist ]] || { echo "ab.sh: $b has no bin/quorumfs.js and dist/ (build it first)" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "ab.sh: needs root (mounts and drop_caches)" >&2; exit 2; }

W=$(mktemp -d /tmp/qfs-ab.XXXX)
up() { node "$1/bin/quorumfs.js" up --dir "$2/c" --replicas 3 --write-quorum 3 --read-quorum 1 --detach >/dev/null
       mkdir -p "$2/mnt"; node "$1/bin/quorumfs.js" mount --dir "$2/c" "$2/mnt" >/dev/null; }
down() { umount "$2/mnt" 2>/dev/null || true; node "$1/bin/quorumfs.js" down --dir "$2/c" >/dev/null 2>&1 || true; }
trap 'down "$A" "$W/a"; down "$B" "$W/b"; rm -rf "$W"' EXIT
mkdir -p "$W/a" "$W/b"
up "$A" "$W/a" & pa=$!
up "$B" "$W/b" & pb=$!
# A bare `wait` reports success whatever its jobs did, and a mount that failed would leave an empty
# directory: the phases would then time the local disk under the build's name.
# Both are waited for, so the exit trap never stops a cluster that is still starting.
ok=1; wait "$pa" || ok=0; wait "$pb" || ok=0
[[ $ok -eq 1 ]] || { echo "ab.sh: could not bring up both clusters and mounts" >&2; exit 1; }
for side in a b; do
  mountpoint -q "$W/$side/mnt" || { echo "ab.sh: $W/$side/mnt is not mounted" >&2; exit 1; }
done

# The same files and tree as fsbench.sh's small-file step.
head -c $((N * 4096)) /dev/urandom >"$W/blob"
PL='my ($root,$n,$blobf)=@ARGV; open(my $b,"<",$blobf) or die; binmode $b; local $/; my $blob=<$b>; mkdir $root or die;
for my $i (0..$n-1){ my $top=sprintf("t%02d",int($i/500)); my $sub=sprintf("s%02d",int($i/100)%5);
 if($i%500==0){mkdir "$root/$top" or die} if($i%100==0){mkdir "$root/$top/$sub" or die}
 open(my $fh,">","$root/$top/$sub/".sprintf("f%05d",$i)) or die; binmode $fh; print $fh substr($blob,$i*4096,4096); close($fh) or die;}'
perl -e "$PL" "$W/ref" "$N" "$W/blob"
(cd "$W/ref" && find . -type f -exec sha256sum {} + >"$W/manifest")
rm -rf "$W/ref"

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# One phase on both mounts at once; $1 names it, $2 is what it counts, $3 a command run in the mount.
both() {
  local side
  for side in a b; do
    (
      cd "$W/$side/mnt"
      s=$(date +%s.%N)
      if bash -c "$3" >/dev/null 2>"$W/$side.err"; then
        e=$(date +%s.%N); awk -v n="$2" -v s="$s" -v e="$e" 'BEGIN { printf "%.0f", n / (e - s) }' >"$W/$side.rate"
      else
        echo "FAIL($(head -c 200 "$W/$side.err" | tr '\n' ' '))" >"$W/$side.rate"
      fi
    ) &
  done
  wait
  printf '%s %s/%s  ' "$1" "$(cat "$W/a.rate")" "$(cat "$W/b.rate")"
}
export PL
both create "$N" "perl -e \"\$PL\" tree $N $W/blob"
drop_caches
# ls -lR lists every file and every directory but the top one, as fsbench.sh counts them.
both ls-lR "$((N + (N + 499) / 500 + (N + 99) / 100))" 'ls -lR tree'
drop_caches
both read-back "$N" "cd tree && sha256sum --quiet --strict -c $W/manifest"
both rm-rf "$N" 'rm -rf tree'
echo
