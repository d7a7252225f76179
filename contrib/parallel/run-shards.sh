#!/bin/sh
# A long domain list over several hosts with GNU parallel: N shards, each
# host runs `mxdiag batch --shard K/N` on the whole list (every host needs the
# same list and mxdiag), JSONL comes back on stdout and the shards'
# outputs concatenated are the whole result (each domain exactly once).
#   contrib/parallel/run-shards.sh domains.yaml results.jsonl host1 host2 host3
set -eu
list=$1; out=$2; shift 2
n=$#
logins=$(printf '%s,' "$@"); logins=${logins%,}
# --transferfile sends the list; -j1 per host: each mxdiag is already concurrent.
seq 1 "$n" | parallel -j1 --sshlogin "$logins" --transferfile "$list" --cleanup \
    "mxdiag batch --quiet --no-progress -j 256 --shard {}/$n $(basename "$list")" >"$out"
# A rerun after a failure: --resume skips the domains already in the output.
