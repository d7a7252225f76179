#!/bin/sh
# A long domain list over several hosts with GNU parallel and SSH: N hosts,
# N shards; host K runs `mxdiag batch --shard K/N` on the whole list (the list
# is sent along; every host needs mxdiag) and its JSONL comes back. The shards
# together are the whole result, each domain exactly once (tested:
# tests/shards/run_shards_lab.sh).
#
#   contrib/parallel/run-shards.sh [--resume] LIST RESULTS HOST... [-- MXDIAG-BATCH-OPTIONS...]
#
# Each shard's output is kept in RESULTS.shards/ (shard-K-of-N.jsonl and its
# exit status, shard-K-of-N.rc); RESULTS is their concatenation, written at the
# end of every run, complete or not. When a shard fails (a host went down, the
# run was killed), the command exits 1 and says which; run it again with
# --resume: finished shards are kept, the others continue where they stopped
# (mxdiag batch --resume: the domains already in the shard's file are not
# diagnosed again). Without --resume an earlier RESULTS.shards/ is started over.
#
# MXDIAG-BATCH-OPTIONS default to "-j 256". Environment: MXDIAG, the command on
# the hosts (default "mxdiag"); PARALLEL_SSH, the ssh command GNU parallel uses
# (for example "ssh -F my_ssh_config").
# A shard's exit status 0-3 is the worst domain status (a finished shard); any
# other (130/143 interrupted, 255 ssh failure, ...) marks it unfinished.
set -eu

usage() {
    echo "usage: run-shards.sh [--resume] LIST RESULTS HOST... [-- MXDIAG-BATCH-OPTIONS...]" >&2
    exit 2
}
resume=0
if [ "${1:-}" = "--resume" ]; then
    resume=1
    shift
fi
[ $# -ge 3 ] || usage
list=$1
out=$2
shift 2
[ -r "$list" ] || { echo "run-shards.sh: cannot read $list" >&2; exit 2; }

# Hosts up to "--"; what follows is passed to mxdiag batch, quoted for the remote shell.
logins=
n=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    logins=${logins:+$logins,}$1
    n=$((n + 1))
    shift
done
[ "$n" -ge 1 ] || usage
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
opts=
if [ $# -gt 0 ]; then
    shift
    for a in "$@"; do opts="$opts $(quote "$a")"; done
else
    opts=" -j 256"
fi
mx=${MXDIAG:-mxdiag}

work=$out.shards
mkdir -p "$work"
base=$(basename "$list")
case $base in shard-*) echo "run-shards.sh: the list's name must not start with shard-" >&2; exit 2 ;; esac
cp "$list" "$work/$base"
cd "$work"

todo=
k=1
while [ "$k" -le "$n" ]; do
    f=shard-$k-of-$n
    if [ $resume = 0 ]; then
        rm -f "$f.jsonl" "$f.rc"
    fi
    rc=$(cat "$f.rc" 2>/dev/null || true)
    case $rc in
    0 | 1 | 2 | 3) ;; # finished earlier: kept as it is
    *)
        : >>"$f.jsonl" # --transferfile needs the file, even empty
        rm -f "$f.rc"
        todo="$todo $k"
        ;;
    esac
    k=$((k + 1))
done

if [ -n "$todo" ]; then
    # -j1 per host: each mxdiag is already concurrent.  --wd ...: a private
    # directory per job on the host, removed with the transferred files.
    # The job records mxdiag's exit status in a file returned with the
    # results, so a failed shard still sends back what it finished.
    # shellcheck disable=SC2086
    printf '%s\n' $todo | parallel -j1 --sshlogin "$logins" --wd ... \
        --transferfile "$base" --transferfile "shard-{}-of-$n.jsonl" \
        --return "shard-{}-of-$n.jsonl" --return "shard-{}-of-$n.rc" --cleanup \
        "$mx batch --quiet --no-progress$opts --shard {}/$n -o shard-{}-of-$n.jsonl --resume shard-{}-of-$n.jsonl $(quote "$base"); echo \$? > shard-{}-of-$n.rc" ||
        true
fi

# The merged result, shard by shard, replaced in one rename.
failed=
k=1
: >"$base.merged"
while [ "$k" -le "$n" ]; do
    f=shard-$k-of-$n
    [ -f "$f.jsonl" ] && cat "$f.jsonl" >>"$base.merged"
    rc=$(cat "$f.rc" 2>/dev/null || true)
    case $rc in
    0 | 1 | 2 | 3) ;;
    *) failed="$failed $k(${rc:-no status})" ;;
    esac
    k=$((k + 1))
done
rm -f "$base"
cd - >/dev/null
mv "$work/$base.merged" "$out"
if [ -n "$failed" ]; then
    echo "run-shards.sh: unfinished shards (number(exit status)):$failed; run again with --resume" >&2
    exit 1
fi
exit 0
