#!/bin/bash
# contrib/parallel/run-shards.sh for real: GNU parallel over SSH to two shard
# hosts, each running `mxdiag batch --shard K/2` against the lab's domains.
#
#   run_shards_lab.sh MXDIAG LAB     (root, the lab up; ctest: lab.batch_shards_ssh)
#
# The hosts are two network namespaces (mxshard-1, mxshard-2), each with its
# own sshd (Debian's openssh-server) on its own address (198.18.K.2), reached
# over a veth pair from a client namespace (mxshard-c) where GNU parallel and
# ssh run.  Each sshd runs with a private tmpfs over /root, so the files
# parallel sends and gets back live in that host's own home.  Keys, host
# keys, known_hosts and both ssh configurations are made here in a temporary
# directory; /root/.ssh is not read or changed.  The mxdiag the hosts run
# (MXDIAG=wrapper) enters the lab namespace, where the lab's resolver and
# mail hosts are (127.0.0.1 cannot be routed to another namespace).
#
# Checks: the merged output has the domains and verdicts (status + finding
# codes, but for *_slow ones: timing) of one `mxdiag batch` run over the whole
# list, each domain once; the
# two shards ran on the two hosts; a shard killed half-way (SIGTERM to its
# mxdiag) makes the run exit 1 naming it, and `run-shards.sh --resume` keeps
# the finished shard, continues the killed one from where it stopped (its
# first lines kept byte for byte, no domain twice) and completes the result.
set -euo pipefail

MX=$(readlink -f "$1")
# LAB "-": no lab (a check of the SSH/parallel plumbing alone, for debugging:
# DNS to a closed port, many quick domains)
if [ "$2" = - ]; then LAB=; else LAB=$(readlink -f "$2"); fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN_SHARDS=$ROOT/contrib/parallel/run-shards.sh
NS_C=mxshard-c
NS_H=(mxshard-1 mxshard-2)

skip() {
    if [ "${CI:-}" = "true" ]; then echo "FAIL (CI=true, not skipping): $*"; exit 1; fi
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    if [ -n "${T:-}" ] && [ -d "$T" ]; then # what the runs left, for the reader of the log
        for f in "$T"/run*.err "$T"/conn.* "$T"/pid.* "$T"/out/results.jsonl.shards/*.rc; do
            [ -f "$f" ] && echo "--- $f" && head -c 3000 "$f"
        done
        wc -l "$T"/out/results.jsonl.shards/*.jsonl "$T"/ref.jsonl 2>/dev/null || true
    fi
    exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, sshd)"
for t in parallel /usr/sbin/sshd ssh ssh-keygen rsync unshare python3; do
    command -v "$t" >/dev/null || skip "$t missing (apt-get install parallel openssh-server openssh-client rsync)"
done
[ -z "$LAB" ] || ip netns list | grep -qw mxlab || skip "the lab is not up (tests/lab/lab up)"
for ns in "$NS_C" "${NS_H[@]}"; do
    ! ip netns list | grep -qw "$ns" || fail "namespace $ns exists already (another run?)"
done

T=$(mktemp -d /tmp/mxshards.XXXXXX)
chmod 755 "$T"
SSHD_PIDS=()
cleanup() {
    for p in "${SSHD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${SSHD_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    for ns in "$NS_C" "${NS_H[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

# ---- two hosts and a client, joined by veth pairs
ip netns add "$NS_C"
ip -n "$NS_C" link set lo up
# a checkout under /root (a clone in root's home) stays visible to the hosts:
# its top directory under /root is bound back over the tmpfs, nothing else
REBIND=
for p in "$MX" "$LAB"; do
    case $p in /root/?*)
        top=${p#/root/}; top=${top%%/*}
        REBIND="$REBIND mkdir -p /root/$top && mount --bind REALROOT/$top /root/$top &&" ;;
    esac
done
for i in 1 2; do
    ns=${NS_H[$((i - 1))]}
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "mxshc$i" netns "$NS_C" type veth peer name "mxshh$i" netns "$ns"
    ip -n "$NS_C" addr add "198.18.$i.1/24" dev "mxshc$i"
    ip -n "$NS_C" link set "mxshc$i" up
    ip -n "$ns" addr add "198.18.$i.2/24" dev "mxshh$i"
    ip -n "$ns" link set "mxshh$i" up
done

# ---- keys and configurations, all in $T
ssh-keygen -q -t ed25519 -N '' -C mxshards-client -f "$T/id_ed25519"
cp "$T/id_ed25519.pub" "$T/authorized_keys"
mkdir -p /run/sshd # sshd's privilege separation directory (Debian's tmpfiles.d would make it)
: >"$T/known_hosts"
for i in 1 2; do
    ssh-keygen -q -t ed25519 -N '' -C "mxshard-$i" -f "$T/host$i"
    echo "198.18.$i.2 $(cut -d' ' -f1,2 "$T/host$i.pub")" >>"$T/known_hosts"
    cat >"$T/sshd$i.conf" <<EOF
ListenAddress 198.18.$i.2:22
HostKey $T/host$i
PidFile none
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers root
LogLevel ERROR
EOF
done
cat >"$T/ssh_config" <<EOF
Host shard1
    HostName 198.18.1.2
Host shard2
    HostName 198.18.2.2
Host *
    User root
    IdentityFile $T/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $T/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
EOF
for i in 1 2; do
    ns=${NS_H[$((i - 1))]}
    # ip netns exec, unshare and sh all exec: $! is sshd's pid.
    ip netns exec "$ns" unshare -m --propagation private \
        sh -c "mkdir -p $T/realroot$i && mount --bind /root $T/realroot$i &&
               mount -t tmpfs -o mode=0700 mxshard-home /root && ${REBIND//REALROOT/$T/realroot$i}
               exec /usr/sbin/sshd -D -e -f $T/sshd$i.conf" \
        2>"$T/sshd$i.log" &
    SSHD_PIDS+=($!)
done
client() { ip netns exec "$NS_C" env HOME="$T/home" PARALLEL_SSH="ssh -F $T/ssh_config" "$@"; }
mkdir -p "$T/home"
for i in 1 2; do
    ok=0
    for _ in $(seq 50); do
        if client ssh -F "$T/ssh_config" "shard$i" true 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ $ok = 1 ] || fail "sshd on shard$i does not answer: $(cat "$T/sshd$i.log")"
done
# The hosts' homes are their own: a file made on shard1 is not on shard2 nor here.
client ssh -F "$T/ssh_config" shard1 'echo one > ~/mxshard-probe'
client ssh -F "$T/ssh_config" shard2 'test ! -e ~/mxshard-probe' || fail "shard hosts share a home"
[ ! -e /root/mxshard-probe ] || fail "shard host's home is the real /root"

# ---- the mxdiag the hosts run: records its pid and which host ran it
cat >"$T/mxdiag-host" <<EOF
#!/bin/sh
k=
prev=
for a in "\$@"; do
    [ "\$prev" = --shard ] && k=\${a%%/*}
    prev=\$a
done
echo "\${SSH_CONNECTION:-none}" >> "$T/conn.\$k"
echo \$\$ > "$T/pid.\$k.tmp" && mv "$T/pid.\$k.tmp" "$T/pid.\$k"
EOF
if [ -n "$LAB" ]; then
    echo "exec \"$LAB\" exec \"$MX\" \"\$@\"" >>"$T/mxdiag-host"
else
    echo "exec \"$MX\" \"\$@\"" >>"$T/mxdiag-host"
fi
chmod 755 "$T/mxdiag-host"

# ---- the list: lab scenarios whose verdict does not depend on timing, and names that do not exist
python3 - "$T/domains.yaml" "${LAB:+lab}" <<'EOF'
import sys
if sys.argv[2] != "lab":
    with open(sys.argv[1], "w") as f:
        f.write("domains:\n" + "".join("  - nx%04d.nonexistent.test\n" % i for i in range(3000)))
    sys.exit(0)
doms = ["healthy.test", "refused.test", "rejected.test", "dropped.test", "hostunreach.test", "netunreach.test",
        "prohibited.test", "nullmx.test", "nonexistent.test", "aonly.test", "mxcname.test", "mxnoaddr.test",
        "mxreserved.test", "backup.test", "allrefuse.test", "fourdrop.test", "srcblock.test", "reject554.test",
        "tempfail421.test", "badname.test", "expired.test"] + ["nx%02d.nonexistent.test" % i for i in range(20)]


def shard(d):  # mxdiag batch --shard: FNV-1a 64 of the lower-cased name, modulo N (here 2), plus 1
    h = 1469598103934665603
    for c in d.lower().encode():
        h = ((h ^ c) * 1099511628211) & (2**64 - 1)
    return h % 2 + 1


# Shard 2 (the one killed, run with -j 1: one domain after the other) starts
# with a quick name, then dropped.test (a 2 s connect timeout, then a
# traceroute): it is killed after its first line, in the middle of the second.
quick = next(d for d in doms if d.startswith("nx") and shard(d) == 2)
if shard("dropped.test") != 2:
    sys.exit("dropped.test is not in shard 2 of 2 any more: choose another slow domain")
doms = [quick, "dropped.test"] + [d for d in doms if d not in (quick, "dropped.test")]
with open(sys.argv[1], "w") as f:
    f.write("domains:\n" + "".join("  - %s\n" % d for d in doms))
EOF
OPTS=(--timeout 2 --allow-reserved)
NDOM=41
LABX=("$LAB" exec)
if [ -z "$LAB" ]; then
    NDOM=3000
    LABX=()
    OPTS+=(--no-config --resolver 127.0.0.1:9 --only mx)
fi

# ---- one run over the whole list: the reference
set +e
"${LABX[@]}" "$MX" batch -q --no-progress -j 8 "${OPTS[@]}" "$T/domains.yaml" >"$T/ref.jsonl" 2>"$T/ref.err"
rc=$?
set -e
[ $rc -le 3 ] || fail "reference run exited $rc: $(head -c 2000 "$T/ref.err")"

verdicts() { # FILE -> "domain status codes" lines, sorted; fails on a domain seen twice or a half line
    python3 - "$1" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1]).read().splitlines(True):
    if not line.endswith("\n"):
        sys.exit("half-written line in %s" % sys.argv[1])
    d = json.loads(line)
    dom = d["target"]["input"]
    if dom in seen:
        sys.exit("%s twice in %s" % (dom, sys.argv[1]))
    # *_slow (smtp.greeting_slow) measures this machine's load at that moment, not the domain
    codes = sorted({f["code"] for f in d["findings"] if not f["code"].endswith("_slow")})
    seen[dom] = "%s %s %s" % (dom, d["status"], ",".join(codes))
print("\n".join(sorted(seen.values())))
EOF
}
verdicts "$T/ref.jsonl" >"$T/ref.verdicts"
[ "$(wc -l <"$T/ref.verdicts")" = $NDOM ] || fail "reference run covers $(wc -l <"$T/ref.verdicts") of $NDOM domains"

# ---- first sharded run; shard 2 is killed once it has written its first domain
# (-j 1 on the hosts: domains one after the other; the second one is slow).
OUT=$T/out/results.jsonl
mkdir -p "$T/out"
cd "$T/out"
client env MXDIAG="$T/mxdiag-host" "$RUN_SHARDS" "$T/domains.yaml" "$OUT" shard1 shard2 -- -j 1 "${OPTS[@]}" \
    >"$T/run1.out" 2>"$T/run1.err" &
run1=$!
killed=0
for _ in $(seq 600); do
    if [ -s "$T/pid.2" ]; then
        p=$(cat "$T/pid.2")
        # the shard's output is in the host's own home: read it through /proc
        n=$(cat "/proc/$p/cwd/shard-2-of-2.jsonl" 2>/dev/null | wc -l || true)
        if [ "${n:-0}" -ge 1 ]; then
            kill -TERM "$p" && killed=1
            break
        fi
    fi
    kill -0 $run1 2>/dev/null || break
    sleep 0.1
done
set +e
wait $run1
rc1=$?
set -e
[ $killed = 1 ] || fail "shard 2 finished or never started before it could be killed: $(cat "$T/run1.err")"
[ $rc1 = 1 ] || fail "run with a killed shard exited $rc1, want 1: $(cat "$T/run1.err")"
grep -q "unfinished shards.* 2(143)" "$T/run1.err" || fail "the failed shard is not named: $(cat "$T/run1.err")"
S=$OUT.shards
[ "$(cat "$S/shard-1-of-2.rc")" -le 3 ] || fail "shard 1 did not finish: rc $(cat "$S/shard-1-of-2.rc")"
part=$(wc -l <"$S/shard-2-of-2.jsonl")
[ "$part" -ge 1 ] || fail "the killed shard sent back $part lines"
cp "$S/shard-2-of-2.jsonl" "$T/shard2.partial"
cp "$S/shard-1-of-2.jsonl" "$T/shard1.done"
# the two shards ran on the two hosts, one each (SSH_CONNECTION: client addr,
# port, server addr, port; parallel picks which host gets which shard)
h1=$(awk '{print $3}' "$T/conn.1")
h2=$(awk '{print $3}' "$T/conn.2")
case "$h1 $h2" in
"198.18.1.2 198.18.2.2" | "198.18.2.2 198.18.1.2") ;;
*) fail "shards did not run one on each host: shard 1 on '$h1', shard 2 on '$h2'" ;;
esac
verdicts "$OUT" >/dev/null || fail "partial merged output is not clean JSONL"

# ---- resume: only shard 2 runs again, from where it stopped
rm -f "$T/pid.2"
set +e
client env MXDIAG="$T/mxdiag-host" "$RUN_SHARDS" --resume "$T/domains.yaml" "$OUT" shard1 shard2 -- -j 4 "${OPTS[@]}" \
    >"$T/run2.out" 2>"$T/run2.err"
rc2=$?
set -e
[ $rc2 = 0 ] || fail "resumed run exited $rc2: $(cat "$T/run2.err")"
[ "$(wc -l <"$T/conn.1")" = 1 ] || fail "the finished shard 1 ran again on resume"
[ "$(wc -l <"$T/conn.2")" = 2 ] || fail "shard 2 was not resumed"
cmp -s "$T/shard1.done" "$S/shard-1-of-2.jsonl" || fail "the finished shard's output changed on resume"
head -c "$(stat -c %s "$T/shard2.partial")" "$S/shard-2-of-2.jsonl" | cmp -s - "$T/shard2.partial" ||
    fail "the killed shard's first lines were not kept"
verdicts "$OUT" >"$T/merged.verdicts" || fail "merged output: $(cat "$T/merged.verdicts")"
if ! diff -u "$T/ref.verdicts" "$T/merged.verdicts" >"$T/diff"; then
    cat "$T/diff"
    fail "merged shards differ from one run"
fi
total2=$(wc -l <"$S/shard-2-of-2.jsonl")
echo "ok: $NDOM domains over 2 SSH hosts (shard 1: $(wc -l <"$T/shard1.done"), shard 2: $part before the kill," \
    "$total2 after --resume); merged domains and verdicts equal one run's"
