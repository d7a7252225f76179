#!/usr/bin/env python3
"""contrib/kubernetes/mxdiag-batch-job.yaml: structure and shard arithmetic.

  k8s_job.py MXDIAG        (ctest: contrib.k8s_job; no network, no cluster)

No Kubernetes client validates a manifest offline: `kubectl create
--dry-run=client` needs an API server for discovery and its OpenAPI document
(Debian's kubernetes-client included), so the structure is checked here
against the API fields the manifest uses (batch/v1 Job, PodSpec, Container,
Volume), unknown fields refused.  Then the pod's shell command is run for
every JOB_COMPLETION_INDEX with the real mxdiag (its resolver a closed
loopback port, so every domain ends quickly and nothing leaves the machine),
/config and /results mapped to a temporary directory:
  - the shards cover every domain of the list exactly once;
  - a pod run again (Job retry) resumes its file: no domain twice;
  - the pod exits 0 when mxdiag reports domain statuses (exit 1-3), and
    fails with mxdiag's status otherwise (interrupted: 143)."""
import json, os, re, shutil, stat, subprocess, sys, tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "contrib", "kubernetes", "mxdiag-batch-job.yaml")
MX = os.path.abspath(sys.argv[1])


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# The fields of the Kubernetes API (batch/v1, core/v1) this manifest may use,
# with their types: a subset of the API reference, enough to catch a typo or a
# field at the wrong level.  dict = object with these fields, [x] = list of x.
S, I = "string", "integer"
VOLUME_MOUNT = {"name": S, "mountPath": S, "readOnly": bool, "subPath": S}
CONTAINER = {"name": S, "image": S, "command": [S], "args": [S], "env": [{"name": S, "value": S}],
             "volumeMounts": [VOLUME_MOUNT], "imagePullPolicy": S, "workingDir": S,
             "resources": {"limits": {"cpu": S, "memory": S}, "requests": {"cpu": S, "memory": S}}}
VOLUME = {"name": S, "configMap": {"name": S, "optional": bool, "defaultMode": I},
          "persistentVolumeClaim": {"claimName": S, "readOnly": bool}, "emptyDir": {"medium": S, "sizeLimit": S}}
POD_SPEC = {"restartPolicy": S, "containers": [CONTAINER], "volumes": [VOLUME], "serviceAccountName": S,
            "nodeSelector": {}, "securityContext": {"runAsUser": I, "runAsNonRoot": bool, "fsGroup": I}}
JOB = {"apiVersion": S, "kind": S,
       "metadata": {"name": S, "namespace": S, "labels": {}, "annotations": {}},
       "spec": {"completionMode": S, "completions": I, "parallelism": I, "backoffLimit": I,
                "activeDeadlineSeconds": I, "ttlSecondsAfterFinished": I, "backoffLimitPerIndex": I,
                "template": {"metadata": {"labels": {}, "annotations": {}}, "spec": POD_SPEC}}}


def check(node, schema, path):
    if schema == S:
        if not isinstance(node, str):
            fail("%s: want a string, got %r" % (path, node))
    elif schema == I:
        if not isinstance(node, int) or isinstance(node, bool):
            fail("%s: want an integer, got %r" % (path, node))
    elif schema is bool:
        if not isinstance(node, bool):
            fail("%s: want true/false, got %r" % (path, node))
    elif isinstance(schema, list):
        if not isinstance(node, list):
            fail("%s: want a list" % path)
        for i, x in enumerate(node):
            check(x, schema[0], "%s[%d]" % (path, i))
    elif isinstance(schema, dict):
        if not isinstance(node, dict):
            fail("%s: want an object" % path)
        if schema:  # {} = free-form string map (labels, annotations, nodeSelector)
            for k, v in node.items():
                if k not in schema:
                    fail("%s: unknown field %r" % (path, k))
                check(v, schema[k], "%s.%s" % (path, k))
        else:
            for k, v in node.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    fail("%s: want a map of strings" % path)


docs = [d for d in yaml.safe_load_all(open(MANIFEST)) if d is not None]
if len(docs) != 1:
    fail("want one document, got %d" % len(docs))
job = docs[0]
check(job, JOB, "Job")
if job["apiVersion"] != "batch/v1" or job["kind"] != "Job":
    fail("not a batch/v1 Job")
if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", job["metadata"]["name"]):
    fail("metadata.name is not a DNS-1123 label")
spec = job["spec"]
if spec.get("completionMode") != "Indexed":
    fail("completionMode must be Indexed (JOB_COMPLETION_INDEX)")
n = spec["completions"]
if n < 1 or not 1 <= spec.get("parallelism", 1) <= n:
    fail("completions/parallelism: %r/%r" % (n, spec.get("parallelism")))
pod = spec["template"]["spec"]
if pod.get("restartPolicy") not in ("Never", "OnFailure"):
    fail("a Job's pods need restartPolicy Never or OnFailure")
if len(pod["containers"]) != 1:
    fail("want one container")
c = pod["containers"][0]
vols = {v["name"]: v for v in pod.get("volumes", [])}
for v in vols.values():
    if sum(k in v for k in ("configMap", "persistentVolumeClaim", "emptyDir")) != 1:
        fail("volume %s: want exactly one source" % v["name"])
mounts = {}
for m in c.get("volumeMounts", []):
    if m["name"] not in vols:
        fail("volumeMount %s names no volume" % m["name"])
    mounts[m["mountPath"].rstrip("/")] = m["name"]
if c.get("command") != ["/bin/sh", "-c"] or len(c.get("args", [])) != 1:
    fail("want command [/bin/sh, -c] and one script in args")
script = c["args"][0]
for path in ("/config", "/results"):
    if path not in mounts:
        fail("%s is not mounted" % path)
if "persistentVolumeClaim" not in vols[mounts["/results"]]:
    fail("/results must outlive the pods (a persistentVolumeClaim)")
m = re.search(r"--shard\s+\"?\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)/(\d+)\"?", script)
if not m or int(m.group(1)) != n:
    fail("the script's --shard K/N must be (JOB_COMPLETION_INDEX+1)/%d (completions): %r" % (n, script))

# ---- run the pod's script
T = tempfile.mkdtemp(prefix="mxk8s-")
try:
    os.makedirs(os.path.join(T, "config"))
    os.makedirs(os.path.join(T, "results"))
    os.makedirs(os.path.join(T, "bin"))
    doms = ["k8s%03d.nonexistent.test" % i for i in range(120)]
    with open(os.path.join(T, "config", "domains.yaml"), "w") as f:
        f.write("domains:\n" + "".join("  - %s\n" % d for d in doms))
    # mxdiag in the pod's PATH: the real one, DNS to a closed loopback port
    # (answers ECONNREFUSED at once), only the MX step.  FAKE_EXIT replaces
    # it by a process that exits with that status (an interrupted run).
    fake = os.path.join(T, "bin", "mxdiag")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\n[ -n "${FAKE_EXIT:-}" ] && exit "$FAKE_EXIT"\n'
                'shift\nexec "%s" batch --no-config --resolver 127.0.0.1:9 --only mx --timeout 1 "$@"\n' % MX)
    os.chmod(fake, stat.S_IRWXU)
    pod_script = script.replace("/config/", os.path.join(T, "config") + "/").replace(
        "/results/", os.path.join(T, "results") + "/")
    env = dict(os.environ, PATH=os.path.join(T, "bin") + ":" + os.environ.get("PATH", "/usr/bin:/bin"))

    def pod(i, **extra):
        e = dict(env, JOB_COMPLETION_INDEX=str(i), **extra)
        return subprocess.run(["/bin/sh", "-c", pod_script], env=e, capture_output=True, text=True, timeout=120)

    def results():
        seen = []
        for i in range(n):
            p = os.path.join(T, "results", "shard-%d.jsonl" % i)
            if not os.path.exists(p):
                fail("pod %d wrote no %s" % (i, p))
            seen += [json.loads(l)["target"]["input"] for l in open(p)]
        return seen

    for i in range(n):
        r = pod(i)
        if r.returncode != 0:
            fail("pod %d exited %d (mxdiag reported domain statuses; the Job would retry it): %s"
                 % (i, r.returncode, r.stderr[-500:]))
    seen = results()
    dup = sorted({d for d in seen if seen.count(d) > 1})
    if dup or sorted(seen) != sorted(doms):
        fail("%d shards cover %d of %d domains, twice: %s" % (n, len(set(seen)), len(doms), dup[:5]))
    sizes = [sum(1 for _ in open(os.path.join(T, "results", "shard-%d.jsonl" % i))) for i in range(n)]
    if min(sizes) == 0:
        fail("an empty shard: %s" % sizes)
    # a retried pod (same index) resumes its file: nothing twice
    r = pod(0)
    if r.returncode != 0 or sorted(results()) != sorted(doms):
        fail("pod 0 run again: exit %d, %d lines for %d domains" % (r.returncode, len(results()), len(doms)))
    # an interrupted mxdiag fails the pod (so the Job retries it)
    r = pod(1, FAKE_EXIT="143")
    if r.returncode != 143:
        fail("interrupted mxdiag: pod exited %d, want 143" % r.returncode)
    print("ok: %d indexed pods cover %d domains exactly once (%s per shard); a retry resumes; "
          "statuses 1-3 succeed, 143 fails" % (n, len(doms), "/".join(map(str, sizes))))
finally:
    shutil.rmtree(T)
