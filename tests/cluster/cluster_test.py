#!/usr/bin/env python3
"""The user's path on a real Kubernetes, end to end (scripts/cluster-test.sh runs this).

  1. The cluster: ../shared/k8s-cluster (PODNETSTAT_CLUSTER_DIR), started unless it is up
     already, or the cluster PODNETSTAT_CLUSTER_KUBECONFIG names. The podnetstat image built
     from the Dockerfile (scripts/image-check.sh, or the tar PODNETSTAT_IMAGE_TAR names) and the
     demo image (tests/cluster/demo.c, static) are loaded into it.
  2. `helm install --wait` of charts/podnetstat: before Kubernetes 1.33 first without
     rbac.kubeletProxyFallback (the NOTES and the kubelet source's 403 must name it), then with
     the values this cluster needs; the DaemonSet must get Ready under the chart's own
     securityContext, probes and RBAC.
  3. Demo workloads in a namespace of their own: a Deployment listening on a declared and an
     undeclared port (and on loopback, with an established pair), a hostNetwork pod, two-container
     pods polled four times a second from their creation, a pod deleted during the test.
  4. Through `kubectl port-forward` + HTTP: /readyz, /api/v1/node sources, /api/v1/pods, each
     pod's sockets against `ss` in the pod's network namespace, the undeclared listener, the
     deleted pod gone within two scans, /metrics through `promtool check metrics`.
  5. Remote mode (`helm upgrade`): HTTPS at the pod IP with a TLS Secret made here; tokens of a
     bound / unbound service account and none: 200 / 403 / 401 from the API server's real
     TokenReview and SubjectAccessReview. On the local cluster, containerd is restarted: the CRI
     source recovers while /healthz and /readyz stay 200 and the agent is not restarted.
  6. `helm uninstall` leaves no podnetstat object behind.
Everything made here is removed at the end, also on failure or SIGTERM/SIGINT; the local cluster
is stopped again unless it was up before. Exit status: 0 all passed, 1 a check failed, 77 skipped
(no cluster; never in CI).
"""

import hashlib
import http.client
import io
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PID = os.getpid()
SKIP = 77
T0 = time.monotonic()

RELEASE = f"podnetstat-e2e-{PID}"  # contains the chart's name: the objects' full name
AGENT_NS = f"podnetstat-e2e-{PID}"
DEMO_NS = f"podnetstat-demo-{PID}"
SELECTOR = f"app.kubernetes.io/name=podnetstat,app.kubernetes.io/instance={RELEASE}"
API_PORT = 9180
HEALTH_PORT = 9181
REFRESH = "1s"


def log(msg):
    print(f"[cluster +{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Fatal(Exception):
    """A step the rest depends on failed: stop, clean up, report."""


class Interrupted(Exception):
    pass


def on_signal(signo, _frame):
    raise Interrupted(f"signal {signo}")


# ---------------------------------------------------------------- processes and tools


def run(cmd, *, env=None, input=None, timeout=300, check=True, quiet=False, merge=False):
    """Runs cmd, returns its stdout (with stderr when merge); a failure raises Fatal with the
    command's stderr. Stopped (a timeout, a signal to the suite) with SIGTERM first, so that a
    script's own cleanup runs."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if input is not None else None,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except BaseException as e:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if isinstance(e, subprocess.TimeoutExpired):
            raise Fatal(f"timed out after {timeout}s: {' '.join(map(str, cmd))}")
        raise
    err = out if merge else err
    if check and proc.returncode != 0:
        raise Fatal(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n{err.strip()[-3000:]}")
    if not quiet and proc.returncode != 0:
        log(f"(exit {proc.returncode}) {' '.join(map(str, cmd))}: {err.strip()[-300:]}")
    return out


def tool(name, env_var):
    """A tool: $ENV_VAR, else the pinned one of scripts/install-deps.sh --k8s-tools, else PATH."""
    for candidate in (os.environ.get(env_var),
                      os.path.join(os.environ.get("PODNETSTAT_TOOLS_DIR", "/opt/podnetstat-tools"),
                                   "bin", name),
                      shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise Fatal(f"{name} not found (scripts/install-deps.sh --k8s-tools installs it; or set {env_var})")


def wait_until(what, timeout, fn, interval=0.5):
    """Calls fn until it returns something true; returns that, or raises Fatal after timeout."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Fatal as e:
            last = e
        if time.monotonic() > end:
            raise Fatal(f"timed out after {timeout}s waiting for {what}" +
                        (f": {last}" if last else ""))
        time.sleep(interval)


# ---------------------------------------------------------------- the report


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            log(f"PASS {name}")
        else:
            self.failed += 1
            log(f"FAIL {name}")
            for line in str(detail).splitlines()[:40]:
                print(f"      {line}", flush=True)
        return ok

    def skip(self, name, why):
        self.skipped += 1
        log(f"SKIP {name}: {why}")


# ---------------------------------------------------------------- the cluster


class Cluster:
    """The local k8s-cluster folder's cluster, or the one a kubeconfig names."""

    def __init__(self):
        self.env = dict(os.environ)
        self.local = False
        self.dir = None
        self.was_up = True
        self.facts = {}
        cluster_dir = os.environ.get("PODNETSTAT_CLUSTER_DIR") or str(REPO.parent / "shared" / "k8s-cluster")
        kubeconfig = os.environ.get("PODNETSTAT_CLUSTER_KUBECONFIG")
        if kubeconfig:
            self.env["KUBECONFIG"] = kubeconfig
        elif (Path(cluster_dir) / "cluster-up.sh").is_file():
            self.local = True
            self.dir = Path(cluster_dir).resolve()
        else:
            self.skip_reason = (
                f"no k8s-cluster folder at {cluster_dir} (set PODNETSTAT_CLUSTER_DIR) and no "
                "PODNETSTAT_CLUSTER_KUBECONFIG naming another cluster")
            return
        self.skip_reason = None

    def lib_alive(self, component):
        """The cluster's own check (lib.sh alive): its PID file names a live process of it."""
        return subprocess.run(["bash", "-c", f'. "{self.dir}/lib.sh" && alive {component}'],
                              env=self.env, capture_output=True).returncode == 0

    def up(self):
        if not self.local:
            run([KUBECTL, "version"], env=self.env, timeout=30)
            return
        if os.geteuid() != 0:
            raise Fatal("the local cluster needs root")
        self.was_up = self.lib_alive("kube-apiserver") and self.lib_alive("kubelet")
        log(f"cluster {'is up already (reused, left up)' if self.was_up else 'starting'}: {self.dir}")
        run([str(self.dir / "cluster-up.sh")], env=self.env, timeout=600)
        for line in run([str(self.dir / "kubectl-env.sh")], env=self.env).splitlines():
            m = re.match(r"export (\w+)=(.*)$", line)
            if m:
                value = subprocess.run(["bash", "-c", f"printf %s {m.group(2)}"],
                                       capture_output=True, text=True).stdout
                self.env[m.group(1)] = value
                self.facts[m.group(1)] = value

    def down(self):
        if self.local and not self.was_up:
            log("stopping the cluster (it was not up before)")
            run([str(self.dir / "cluster-down.sh")], env=self.env, timeout=300, check=False)

    def load_image(self, tar):
        run([str(self.dir / "load-image.sh"), str(tar)], env=self.env, timeout=600)

    def remove_images(self, refs):
        sock = self.facts.get("K8S_CONTAINERD_SOCK")
        if sock:
            run(["ctr", "-a", sock, "-n", "k8s.io", "images", "rm", *refs], check=False, quiet=True)

    def container_pid(self, container_id):
        """The host PID of a running container (containerd's task list), 0 when not found."""
        out = run(["ctr", "-a", self.facts["K8S_CONTAINERD_SOCK"], "-n", "k8s.io", "tasks", "ls"])
        for line in out.splitlines()[1:]:
            f = line.split()
            if len(f) >= 2 and f[0] == container_id:
                return int(f[1])
        return 0


def kubectl(*args, **kw):
    return run([KUBECTL, *args], env=CLUSTER.env, **kw)


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json"))


def helm(*args, **kw):
    return run([HELM, *args], env=CLUSTER.env, **kw)


# ---------------------------------------------------------------- images


def docker_archive(out, ref, binary, entrypoint, user):
    """A one-layer image holding `binary` as /<name> (docker-archive tarball, like the cluster's
    build-images.sh): nothing pulled, no podman needed."""
    name = os.path.basename(binary)
    layer = out.parent / f"{name}.layer.tar"
    with tarfile.open(layer, "w", format=tarfile.GNU_FORMAT) as t:
        info = t.gettarinfo(binary, arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with open(binary, "rb") as f:
            t.addfile(info, f)
    layer_sha = hashlib.sha256(layer.read_bytes()).hexdigest()
    arch = run(["dpkg", "--print-architecture"]).strip() or "amd64"
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"User": user, "Env": ["PATH=/"], "Entrypoint": entrypoint},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]}}).encode()
    config_sha = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_sha}.json", "RepoTags": [ref],
                            "Layers": [f"{layer_sha}/layer.tar"]}]).encode()
    with tarfile.open(out, "w") as t:
        for arcname, data in (("manifest.json", manifest), (f"{config_sha}.json", config)):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            t.addfile(info, fileobj=io.BytesIO(data))
        t.add(layer, arcname=f"{layer_sha}/layer.tar")
    layer.unlink()


def image_ref_of_tar(tar):
    """The first RepoTags entry of a docker-archive tarball (podman save)."""
    with tarfile.open(tar) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    tags = manifest[0].get("RepoTags") or []
    if not tags:
        raise Fatal(f"{tar}: its manifest names no image (save it with a name: podman save IMAGE)")
    return tags[0] if "/" in tags[0].split(":")[0] else "docker.io/library/" + tags[0]


def prepare_images(work):
    """(podnetstat image ref, demo image ref), loaded into the local cluster."""
    if not CLUSTER.local:
        image = os.environ.get("PODNETSTAT_CLUSTER_IMAGE")
        demo = os.environ.get("PODNETSTAT_CLUSTER_DEMO_IMAGE")
        if not image or not demo:
            raise Fatal("a cluster named by PODNETSTAT_CLUSTER_KUBECONFIG needs "
                        "PODNETSTAT_CLUSTER_IMAGE and PODNETSTAT_CLUSTER_DEMO_IMAGE: images its "
                        "nodes can pull (docs/deploy.md, 'The cluster suite')")
        return image, demo
    tar = os.environ.get("PODNETSTAT_IMAGE_TAR")
    if tar:
        log(f"podnetstat image from {tar}")
    else:
        tar = str(work / "podnetstat-image.tar")
        log("building the image from the Dockerfile (scripts/image-check.sh, which also checks it)")
        started = time.monotonic()
        out = run(["bash", str(REPO / "scripts" / "image-check.sh")],
                  env=dict(os.environ, IMAGE_CHECK_SAVE=tar), timeout=3000, merge=True)
        print(out[-1500:], flush=True)
        log(f"image built and checked in {time.monotonic() - started:.0f}s")
    image = image_ref_of_tar(tar)
    CLUSTER.load_image(tar)
    LOADED_IMAGES.append(image)

    demo_bin = work / "demo"
    run(["gcc", "-Os", "-static", "-o", str(demo_bin), str(REPO / "tests" / "cluster" / "demo.c")])
    run(["strip", str(demo_bin)])
    digest = hashlib.sha256(demo_bin.read_bytes()).hexdigest()[:12]
    demo = f"localhost/podnetstat-e2e-demo:{digest}"
    demo_tar = work / "demo.tar"
    docker_archive(demo_tar, demo, demo_bin, ["/demo"], "65534:65534")
    CLUSTER.load_image(demo_tar)
    LOADED_IMAGES.append(demo)
    return image, demo


# ---------------------------------------------------------------- HTTP to the agent


class PortForward:
    """`kubectl port-forward` to a pod's port on a free local port."""

    def __init__(self, pod, port):
        self.proc = subprocess.Popen(
            [KUBECTL, "-n", AGENT_NS, "port-forward", f"pod/{pod}", f":{port}",
             "--address", "127.0.0.1"],
            env=CLUSTER.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        FORWARDS.append(self)
        line = self.proc.stdout.readline()
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise Fatal(f"kubectl port-forward {pod} :{port}: {line}{self.proc.stderr.read()[-500:]}")
        self.port = int(m.group(1))
        # Drain its output so that it never blocks on a full pipe; keep the last error lines.
        self.errors = []
        threading.Thread(target=self._drain, args=(self.proc.stdout, []), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _drain(stream, keep):
        for line in stream:
            keep.append(line)
            del keep[:-20]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Fatal(f"not JSON ({self.status}): {self.body[:300]!r}")


def http_get(host, port, path, *, tls=None, server_name=None, token=None, timeout=10):
    """GET over plain HTTP, or HTTPS verified with `tls` against `server_name` while dialling
    `host` (curl --connect-to)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if tls is None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(server_name, port, context=tls, timeout=timeout)
        raw = socket.create_connection((host, port), timeout=timeout)
        conn.sock = tls.wrap_socket(raw, server_hostname=server_name)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return Answer(r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace"))
    except OSError as e:
        raise Fatal(f"GET {host}:{port}{path}: {e}")
    finally:
        conn.close()


class Agent:
    """The agent of the node, through a port-forward of its API port."""

    def __init__(self, pod):
        self.pod = pod
        self.forward = PortForward(pod, API_PORT)

    def get(self, path):
        return http_get("127.0.0.1", self.forward.port, path)

    def json(self, path):
        a = self.get(path)
        if a.status != 200:
            raise Fatal(f"GET {path}: {a.status} {a.body[:300]}")
        return a.json()

    def close(self):
        self.forward.stop()


def agent_pod():
    """The Running agent pod of the release (one node)."""
    pods = kubectl_json("-n", AGENT_NS, "get", "pods", "-l", SELECTOR)["items"]
    live = [p for p in pods if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]
    if len(live) != 1:
        raise Fatal(f"expected one Running agent pod, found {[p['metadata']['name'] for p in pods]}")
    return live[0]


# ---------------------------------------------------------------- the kernel's view (ss)

SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
             "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
             "UNCONN": "CLOSE", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
             "LISTEN": "LISTEN", "CLOSING": "CLOSING"}
PROC_TCP_STATES = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                   "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
                   "NEW_SYN_RECV"]


def split_endpoint(text):
    """ss's ADDR:PORT ([v6]:port, *:port, addr%dev:port) -> (ip, port, is_v6)."""
    addr, _, port = text.rpartition(":")
    port = 0 if port == "*" else int(port)
    addr = addr.split("%")[0]
    if addr.startswith("["):
        addr = addr[1:-1].split("%")[0]
    if addr == "*":
        return "::", port, True
    ip = ipaddress.ip_address(addr)
    return str(ip), port, ip.version == 6


def ss_sockets(netns_pid, only_pids=None):
    """Every TCP/UDP socket with an inode in the network namespace of netns_pid, per ss:
    {(transport, local ip, port, remote ip, port, state, inode): pids}."""
    out = run(["nsenter", f"--net=/proc/{netns_pid}/ns/net", "ss", "-Htuanpe"])
    sockets = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        netid, state, local, remote = f[0], f[1], f[4], f[5]
        lip, lport, v6 = split_endpoint(local)
        rip, rport, _ = split_endpoint(remote)
        m = re.search(r"\bino:(\d+)", line)
        inode = int(m.group(1)) if m else 0
        if inode == 0:
            continue  # TIME_WAIT and friends: no owner, and come and go
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if only_pids is not None and not pids & only_pids:
            continue
        transport = netid + ("6" if v6 else "")
        sockets[(transport, lip, lport, rip, rport, SS_STATES.get(state, state), inode)] = pids
    return sockets


def proc_net_sockets(text_by_transport):
    """The same keys from /proc/net/{tcp,tcp6,udp,udp6} text (a pod read through kubectl exec),
    without owners."""
    def address(hexaddr):
        raw = bytes.fromhex(hexaddr)
        # each 32-bit word is in host (little-endian) byte order
        words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
        return str(ipaddress.ip_address(words))
    sockets = {}
    for transport, text in text_by_transport.items():
        for line in text.splitlines()[1:]:
            f = line.split()
            if len(f) < 10:
                continue
            (la, lp), (ra, rp) = f[1].split(":"), f[2].split(":")
            inode = int(f[9])
            if inode == 0:
                continue
            st = int(f[3], 16)
            state = PROC_TCP_STATES[st] if transport.startswith("tcp") else (
                "ESTABLISHED" if st == 1 else "CLOSE")
            sockets[(transport, address(la), int(lp, 16), address(ra), int(rp, 16), state,
                     inode)] = set()
    return sockets


def api_sockets(items):
    """The same keys from the agent's socket objects (TCP/UDP only)."""
    sockets = {}
    for s in items:
        if s["transport"] not in ("tcp", "tcp6", "udp", "udp6") or not s.get("inode"):
            continue
        key = (s["transport"], str(ipaddress.ip_address(s["local"]["ip"])), s["local"]["port"],
               str(ipaddress.ip_address(s["remote"]["ip"])), s["remote"]["port"], s["state"],
               s["inode"])
        sockets[key] = {p["pid"] for p in s.get("processes", [])}
    return sockets


def describe_diff(want, got):
    lines = [f"only in the kernel: {k} pids {want[k]}" for k in sorted(set(want) - set(got))]
    lines += [f"only in the API:    {k} pids {got[k]}" for k in sorted(set(got) - set(want))]
    lines += [f"owners differ:      {k} kernel {want[k]} API {got[k]}"
              for k in sorted(set(want) & set(got)) if want[k] and want[k] != got[k]]
    return "\n".join(lines)


# ---------------------------------------------------------------- the demo workloads


def demo_manifests(demo_image, host_port):
    def container(name, args, ports):
        return {"name": name, "image": demo_image, "imagePullPolicy": "IfNotPresent" if not CLUSTER.local else "Never",
                "args": args, "ports": ports,
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "5m", "memory": "8Mi"},
                              "limits": {"cpu": "100m", "memory": "32Mi"}}}

    def pod_spec(containers, **extra):
        return {"terminationGracePeriodSeconds": 2, "automountServiceAccountToken": False,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": containers, **extra}

    web = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": DEMO_NS},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": pod_spec([container(
                                     "web", ["tcp:8080", "tcp:9999", "lo:7070", "udp:5353", "tcp6:8443"],
                                     [{"containerPort": 8080, "protocol": "TCP"},
                                      {"containerPort": 5353, "protocol": "UDP"},
                                      {"containerPort": 8443, "protocol": "TCP"}])])}}}
    hostnet = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "hostnet", "namespace": DEMO_NS, "labels": {"app": "hostnet"}},
               "spec": pod_spec([container("hostnet", [f"tcp:{host_port}"],
                                           [{"containerPort": host_port, "protocol": "TCP"}])],
                                hostNetwork=True)}
    doomed = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "doomed", "namespace": DEMO_NS, "labels": {"app": "doomed"}},
              "spec": pod_spec([container("doomed", ["tcp:8088"],
                                          [{"containerPort": 8088, "protocol": "TCP"}])])}
    # A server that never answers (demo hold:), labelled as no agent is: the plugin's stand-in for
    # an agent that hangs, so that SIGINT and --timeout meet a running kubectl port-forward.
    silent = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "silent", "namespace": DEMO_NS, "labels": {"app": "silent"}},
              "spec": pod_spec([container("silent", ["hold:9180"], [])])}
    return [web, hostnet, doomed, silent]


def duo_manifest(demo_image, name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": DEMO_NS, "labels": {"app": "duo"}},
            "spec": {"terminationGracePeriodSeconds": 2, "automountServiceAccountToken": False,
                     "securityContext": {"seccompProfile": {"type": "RuntimeDefault"},
                                         "runAsNonRoot": True},
                     "containers": [
                         {"name": "alpha", "image": demo_image, "args": ["tcp:8081"],
                          "imagePullPolicy": "Never" if CLUSTER.local else "IfNotPresent",
                          "ports": [{"containerPort": 8081}]},
                         {"name": "beta", "image": demo_image, "args": ["udp:8082", "lo:8083"],
                          "imagePullPolicy": "Never" if CLUSTER.local else "IfNotPresent"}]}}


def apply(objects):
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def free_host_port():
    """A TCP port free on this machine (the hostNetwork demo pod binds it on the node)."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def pods_ready(selector, count):
    items = kubectl_json("-n", DEMO_NS, "get", "pods", "-l", selector)["items"]
    ready = [p for p in items if not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    return ready if len(ready) == count else None


def container_ids(pod):
    """{container name: runtime ID} from the pod's status."""
    return {c["name"]: c.get("containerID", "").split("://")[-1]
            for c in pod["status"].get("containerStatuses", [])}


# ---------------------------------------------------------------- the checks


def check_new_pods_answers(report, agent, demo_image):
    """Two-container pods polled 4 times a second from their creation: every answer lists each
    with its containers named, each once, with the right IDs or none yet, and nothing else (the
    issue: containers twice, once without IDs, or the pause sandbox as an unnamed container, in
    the first answers); a container the runtime has not created yet may be missing."""
    answers = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                answers.append(agent.json(f"/api/v1/namespaces/{DEMO_NS}/pods"))
            except Fatal as e:
                answers.append({"error": str(e)})
            stop.wait(0.25)

    def all_listed():
        return answers and len([p for p in answers[-1].get("items", [])
                                if p.get("name") in names and len(p["containers"]) == 2]) == 3

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    names = [f"duo-{i}" for i in range(3)]
    try:
        apply([duo_manifest(demo_image, n) for n in names])
        final = wait_until("the two-container pods Ready", 120, lambda: pods_ready("app=duo", 3))
        diagnosis = []
        try:
            wait_until("the agent to list them with both containers", 30, all_listed, 0.25)
        except Fatal as e:
            diagnosis = [str(e), "/api/v1/node sources: " +
                         json.dumps(agent.json("/api/v1/node")["sources"]), "agent log:",
                         kubectl("-n", AGENT_NS, "logs", agent.pod, "--tail=20", check=False)]
        time.sleep(3)  # a few more scans
    finally:
        stop.set()
        poller.join()
    ids = {p["metadata"]["name"]: container_ids(p) for p in final}
    seen = 0
    wrong = []
    for n, a in enumerate(answers):
        if "error" in a:
            wrong.append(f"answer {n}: {a['error']}")
            continue
        for pod in a["items"]:
            if pod.get("name") not in ids:
                continue
            seen += 1
            got = [(c.get("name"), c.get("id")) for c in pod["containers"]]
            cnames = [name for name, _ in got]
            names_ok = len(set(cnames)) == len(cnames) and set(cnames) <= {"alpha", "beta"}
            ids_ok = all(cid in ("", ids[pod["name"]].get(name)) for name, cid in got)
            if not (names_ok and ids_ok):
                wrong.append(f"answer {n} (scan {a['scannedAt']}) {pod['name']}: containers {got}")
    last = {p["name"]: sorted((c.get("name"), c.get("id")) for c in p["containers"])
            for p in answers[-1].get("items", []) if p.get("name") in ids}
    complete = all(last.get(name) == sorted(cids.items()) for name, cids in ids.items())
    report.check(f"every answer of /api/v1/pods lists new two-container pods with their containers "
                 f"named, once each, with their IDs or none yet ({seen} pod listings in "
                 f"{len(answers)} answers, 4/s from creation), and all of them once Ready",
                 seen >= 3 and not wrong and complete and not diagnosis,
                 "\n".join(wrong[:20] + diagnosis) or f"{seen} listings of the new pods; last "
                 f"answer {last}, kubectl says {ids}")
    return final


def check_pods(report, agent, expected):
    """/api/v1/pods lists every demo pod with namespace, name, uid, containers and netns."""
    listed = {p["name"]: p for p in agent.json(f"/api/v1/namespaces/{DEMO_NS}/pods")["items"]}
    for pod in expected:
        name = pod["metadata"]["name"]
        got = listed.get(name)
        problems = []
        if got is None:
            problems.append(f"not listed (listed: {sorted(listed)})")
        else:
            want_containers = container_ids(pod)
            got_containers = {c.get("name"): c.get("id") for c in got["containers"]}
            if got["namespace"] != DEMO_NS:
                problems.append(f"namespace {got['namespace']}")
            if got["uid"] != pod["metadata"]["uid"]:
                problems.append(f"uid {got['uid']}, kubectl says {pod['metadata']['uid']}")
            if got_containers != want_containers or len(got["containers"]) != len(want_containers):
                problems.append(f"containers {got['containers']}, kubectl says {want_containers}")
            if not all(c.get("pids") for c in got["containers"]):
                problems.append(f"a container without processes: {got['containers']}")
            host = bool(pod["spec"].get("hostNetwork"))
            if got["hostNetwork"] != host:
                problems.append(f"hostNetwork {got['hostNetwork']}")
            if host and got["netns"] is not None:
                problems.append(f"a hostNetwork pod with a netns {got['netns']}")
            if not host and not (got["netns"] and got["netns"].get("inode")):
                problems.append(f"no netns: {got['netns']}")
            if not host and pod["status"].get("podIP") not in got.get("ips", []):
                problems.append(f"ips {got.get('ips')}, kubectl says {pod['status'].get('podIP')}")
        report.check(f"/api/v1/pods: {DEMO_NS}/{name} with its uid, containers (names, IDs, "
                     f"processes) and {'no netns (hostNetwork)' if pod['spec'].get('hostNetwork') else 'netns'}",
                     not problems, "; ".join(problems))
    return listed


def kernel_view(pod):
    """What the kernel shows for the pod: ss in its network namespace (local cluster), else its
    /proc/net tables read inside it."""
    ids = container_ids(pod)
    name = pod["metadata"]["name"]
    if CLUSTER.local:
        pids = {CLUSTER.container_pid(cid) for cid in ids.values()} - {0}
        if not pids:
            raise Fatal(f"no running task for {name}'s containers {ids}")
        if pod["spec"].get("hostNetwork"):
            # The node's namespace: the sockets the pod's processes hold there.
            return ss_sockets(min(pids), only_pids=pids)
        return ss_sockets(min(pids))
    if pod["spec"].get("hostNetwork"):
        return None
    first = next(iter(ids))
    texts = {}
    for t in ("tcp", "tcp6", "udp", "udp6"):
        texts[t] = kubectl("-n", DEMO_NS, "exec", name, "-c", first, "--", "/demo", "cat",
                           f"/proc/net/{t}")
    return proc_net_sockets(texts)


def check_sockets(report, agent, pods):
    """Each pod's /sockets equals what the kernel shows inside its namespace."""
    for pod in pods:
        name = pod["metadata"]["name"]
        how = "ss -tuanpe in its network namespace" if CLUSTER.local else "its /proc/net tables"
        if pod["spec"].get("hostNetwork"):
            how = "ss -tuanpe on the node, its processes' sockets"
        diff = "no attempt"
        for _ in range(5):  # sockets that come and go between the scan and ss: ask again
            want = kernel_view(pod)
            if want is None:
                report.skip(f"/sockets of hostNetwork pod {name}", "no node access on this cluster")
                break
            items = agent.json(f"/api/v1/namespaces/{DEMO_NS}/pods/{name}/sockets")["items"]
            got = api_sockets(items)
            if not CLUSTER.local:  # /proc/net read inside the pod names no owners
                got = {k: set() for k in got}
            diff = describe_diff(want, got)
            if not diff and want:
                break
            time.sleep(1.2)
        else:
            report.check(f"/api/v1/namespaces/{DEMO_NS}/pods/{name}/sockets = {how}", False,
                         diff or "no sockets at all")
            continue
        if want is not None:
            report.check(f"/api/v1/namespaces/{DEMO_NS}/pods/{name}/sockets = {how} "
                         f"({len(want)} sockets, with inodes and owners)", True)


def check_listeners(report, agent, web_pod):
    name = web_pod["metadata"]["name"]
    items = agent.json(f"/api/v1/listeners?declared=false&namespace={DEMO_NS}&pod={name}")["items"]
    ports = {(s["transport"], s["local"]["port"]) for s in items}
    report.check("/api/v1/listeners?declared=false holds the undeclared port 9999 and not the "
                 "declared 8080, 5353/udp, 8443 (tcp6)",
                 ("tcp", 9999) in ports and not ports & {("tcp", 8080), ("udp", 5353), ("tcp6", 8443)},
                 f"undeclared listeners of {name}: {sorted(ports)}")
    declared = agent.json(f"/api/v1/listeners?declared=true&namespace={DEMO_NS}&pod={name}")["items"]
    dports = {(s["transport"], s["local"]["port"]) for s in declared}
    report.check("/api/v1/listeners?declared=true holds 8080, 5353/udp and 8443",
                 {("tcp", 8080), ("udp", 5353), ("tcp6", 8443)} <= dports, f"declared: {sorted(dports)}")


def parse_time(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def check_deleted_pod(report, agent):
    before = {p["name"] for p in agent.json(f"/api/v1/namespaces/{DEMO_NS}/pods")["items"]}
    if not report.check("the pod to delete is listed before", "doomed" in before, sorted(before)):
        return
    kubectl("-n", DEMO_NS, "delete", "pod", "doomed", "--wait=true", "--timeout=60s")
    gone_at = time.time()
    scans = []
    deadline = time.monotonic() + 30
    while len(scans) < 2 and time.monotonic() < deadline:
        a = agent.json(f"/api/v1/namespaces/{DEMO_NS}/pods")
        at = parse_time(a["scannedAt"])
        if at > gone_at and (not scans or scans[-1][0] != a["scannedAt"]):
            scans.append((a["scannedAt"], {p["name"] for p in a["items"]}))
        time.sleep(0.2)
    report.check("the deleted pod is gone from /api/v1/pods by the second scan after its deletion",
                 len(scans) == 2 and "doomed" not in scans[1][1],
                 f"scans after the deletion: {scans}")


def check_metrics(report, agent, pods):
    a = agent.get("/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=a.body, capture_output=True, text=True)
    # Strict: promtool's lint findings (naming, help texts) fail as much as a body it cannot parse.
    problems = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    report.check("/metrics passes `promtool check metrics`",
                 a.status == 200 and p.returncode == 0,
                 f"status {a.status}; promtool exit {p.returncode}:\n" + "\n".join(problems[:20]))
    missing = [pod["metadata"]["name"] for pod in pods
               if not re.search(r'^podnetstat_sockets\{[^}]*namespace="%s"[^}]*pod="%s"' %
                                (re.escape(DEMO_NS), re.escape(pod["metadata"]["name"])),
                                a.body, re.M)]
    report.check("/metrics has podnetstat_sockets with the demo pods' namespace and pod labels",
                 not missing, f"missing: {missing}")


# ---------------------------------------------------------------- kubectl podnetstat


class Plugin:
    """`kubectl podnetstat ...` as a user runs it: kubectl finds kubectl-podnetstat on PATH and
    runs it; the plugin runs the same kubectl. Every run carries PODNETSTAT_PLUGIN_RUN in its
    environment, which the kubectl processes it starts inherit: leftovers() finds them."""

    def __init__(self, work):
        binary = os.environ.get("PODNETSTAT_PLUGIN") or str(REPO / "build" / "agent" / "kubectl-podnetstat")
        if not os.access(binary, os.X_OK):
            raise Fatal(f"no kubectl-podnetstat at {binary} (build it, or set PODNETSTAT_PLUGIN)")
        bin_dir = work / "plugin-bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl-podnetstat").symlink_to(os.path.abspath(binary))
        self.marker = f"PODNETSTAT_PLUGIN_RUN={PID}"
        self.env = dict(CLUSTER.env, KUBECTL=KUBECTL, PODNETSTAT_PLUGIN_RUN=str(PID),
                        PATH=f"{bin_dir}:{os.path.dirname(KUBECTL)}:{os.environ.get('PATH', '')}")
        self.runs = []

    def command(self, args):
        return [KUBECTL, "podnetstat", *args, "--agent-namespace", AGENT_NS]

    def run(self, *args, timeout=90):
        started = time.monotonic()
        p = subprocess.run(self.command(args), env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        self.runs.append(time.monotonic() - started)
        return p

    def leftovers(self):
        """Processes of plugin runs still there: what they started and did not end."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if self.marker.encode() in environ:
                found.append(f"{entry}: {cmdline.decode(errors='replace').strip()}")
        return found


def described(p):
    return f"exit {p.returncode}\nstdout:\n{p.stdout[-1500:]}\nstderr:\n{p.stderr[-1500:]}"


def make_plugin(report, work):
    """The plugin of this build, or None (and a skip; a failure in CI) without one."""
    try:
        return Plugin(work)
    except Fatal as e:
        if os.environ.get("CI") == "true":
            raise
        report.skip("kubectl podnetstat", str(e))
        return None


def check_plugin_not_ready(report, plugin, release, node):
    """An agent pod that is not Ready (the netns release's, which cannot be created)."""
    p = plugin.run("node", node, "--agent-selector", f"app.kubernetes.io/instance={release}")
    report.check("kubectl podnetstat: an agent that is not Ready is a clear error naming the pod "
                 "and why (CreateContainerError)",
                 p.returncode == 1 and f"the podnetstat agent on node {node}" in p.stderr and
                 "is not Ready" in p.stderr and "CreateContainerError" in p.stderr, described(p))


def same_after_retries(make, want, tries=4):
    """(plugin run, wanted text) until the run prints it: a scan between the two may differ."""
    for _ in range(tries):
        p, expected = make(), want()
        if p.returncode == 0 and p.stdout == expected:
            break
        time.sleep(1.2)
    return p, expected


def check_plugin_pod(report, plugin, agent, web_pod):
    """One pod's sockets: the agent's own table, netstat's table inside the pod, netstat -i."""
    web = web_pod["metadata"]["name"]
    base = f"/api/v1/namespaces/{DEMO_NS}/pods/{web}"
    p, own = same_after_retries(lambda: plugin.run(web, "-n", DEMO_NS, "-a", "-o", "wide"),
                                lambda: agent.get(f"{base}/sockets?format=table").body)
    listeners = [port for port in (8080, 9999, 7070, 8443)
                 if not re.search(rf":{port}\s.*LISTEN", p.stdout)]
    report.check(f"kubectl podnetstat {web} -n {DEMO_NS} -a -o wide prints the agent's own "
                 "?format=table answer for the pod, listeners 8080, 9999, 7070 and 8443 included",
                 p.returncode == 0 and p.stdout == own and not listeners,
                 f"missing listeners {listeners}\n{described(p)}\nthe agent's:\n{own[-1500:]}")

    if CLUSTER.local:
        pid = min({CLUSTER.container_pid(c) for c in container_ids(web_pod).values()} - {0})
        p, netstat = same_after_retries(
            lambda: plugin.run(web, "-n", DEMO_NS, "-tlnp"),
            lambda: run(["nsenter", f"--net=/proc/{pid}/ns/net", "netstat", "-tlnp"]))
        report.check(f"kubectl podnetstat {web} -n {DEMO_NS} -tlnp prints what netstat -tlnp "
                     "prints inside the pod's network namespace, byte for byte",
                     p.returncode == 0 and p.stdout == netstat and ":9999" in p.stdout,
                     f"{described(p)}\nnetstat -tlnp in the pod:\n{netstat}")
    else:
        report.skip("the plugin against netstat in the pod", "needs the node (local cluster)")

    p = plugin.run("-l", "app=duo", "-n", DEMO_NS, "-tuln")
    blocks = re.split(r"^Pod: (\S+) \(node (\S+)\)\n", p.stdout, flags=re.M)
    heads = list(zip(blocks[1::3], blocks[2::3]))
    tables_ok = all(all(f":{port} " in table for port in (8081, 8082, 8083)) for table in blocks[3::3])
    report.check(f"kubectl podnetstat -l app=duo -n {DEMO_NS} -tuln: one block per pod of the "
                 "selector, each with its node and its listeners 8081, 8082/udp, 8083",
                 p.returncode == 0 and sorted(heads) == [(f"{DEMO_NS}/duo-{i}", web_pod["spec"]["nodeName"])
                                                         for i in range(3)] and tables_ok,
                 described(p))

    p, own = same_after_retries(lambda: plugin.run(web, "-n", DEMO_NS, "-i"),
                                lambda: agent.get(f"{base}/interfaces?format=table").body)
    report.check(f"kubectl podnetstat {web} -n {DEMO_NS} -i prints the agent's netstat -i of the pod",
                 p.returncode == 0 and p.stdout == own and "eth0" in p.stdout, described(p))


def check_plugin_listeners(report, plugin, web_pod):
    """listeners --all-nodes --undeclared: the posture question for the whole cluster."""
    web = web_pod["metadata"]["name"]
    node = web_pod["spec"]["nodeName"]
    p = plugin.run("listeners", "--all-nodes", "--undeclared")
    lines = [line.split() for line in p.stdout.splitlines()]
    header_ok = bool(lines) and lines[0][:3] == ["NODE", "NAMESPACE", "POD"]
    web_rows = [f for f in lines[1:] if f[1:3] == [DEMO_NS, web]]
    report.check("kubectl podnetstat listeners --all-nodes --undeclared: one table with a NODE "
                 "column; the web pod's undeclared 0.0.0.0:9999 is there, its declared 8080 not",
                 p.returncode == 0 and header_ok and
                 any(f[0] == node and f[5] == "0.0.0.0:9999" for f in web_rows) and
                 not any(f[5].endswith(":8080") for f in web_rows), described(p))

    j = plugin.run("listeners", "--all-nodes", "--undeclared", "-o", "json")
    try:
        rows = json.loads(j.stdout)
    except ValueError:
        rows = None
    ok = (j.returncode == 0 and isinstance(rows, list) and rows and
          all(r.get("node") == node and r.get("declared") is False for r in rows) and
          any((r.get("pod") or {}).get("name") == web and r["local"]["port"] == 9999 for r in rows))
    report.check("... -o json: one array, `node` on every row, every row declared:false, the web "
                 "pod's 9999 among them", ok, described(j))
    try:
        import yaml
    except ImportError:
        report.skip("... -o yaml", "no PyYAML (scripts/install-deps.sh --cluster installs it)")
        return
    y = plugin.run("listeners", "--all-nodes", "--undeclared", "-o", "yaml")
    try:
        same = yaml.safe_load(y.stdout) == rows
    except yaml.YAMLError as e:
        same = f"not YAML: {e}"
    report.check("... -o yaml reads back (PyYAML) as the same rows", y.returncode == 0 and same is True,
                 f"{same}\n{described(y)}")


def check_plugin_errors(report, plugin, web_pod):
    """A missing pod, a node without an agent where it looks, a user without port-forward rights,
    and the documented minimal RBAC, which is enough."""
    web = web_pod["metadata"]["name"]
    node = web_pod["spec"]["nodeName"]
    p = plugin.run("nope", "-n", DEMO_NS, "-tlnp")
    report.check("kubectl podnetstat on a pod that does not exist: exit 1, kubectl's NotFound",
                 p.returncode == 1 and f'error: pod {DEMO_NS}/nope: pods "nope" not found' in p.stderr,
                 described(p))

    p = subprocess.run([KUBECTL, "podnetstat", web, "-n", DEMO_NS, "--agent-namespace", DEMO_NS],
                       env=plugin.env, capture_output=True, text=True, timeout=60)
    report.check("kubectl podnetstat where no agent runs on the pod's node (a namespace without "
                 "agents): exit 1, the node and where it looked",
                 p.returncode == 1 and f"no podnetstat agent runs on node {node}" in p.stderr and
                 f"namespace {DEMO_NS}" in p.stderr, described(p))

    # The documented RBAC (docs/kubectl-podnetstat-rbac.yaml), its ClusterRole named for this run.
    try:
        import yaml
    except ImportError:
        report.skip("the plugin's RBAC", "no PyYAML (scripts/install-deps.sh --cluster installs it)")
        return
    docs = list(yaml.safe_load_all((REPO / "docs" / "kubectl-podnetstat-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    pods_role = next(d for d in docs if d["kind"] == "ClusterRole")
    pods_role["metadata"]["name"] = f"podnetstat-plugin-pods-e2e-{PID}"
    CLEANUP.append(("the plugin's ClusterRole", lambda: kubectl(
        "delete", "clusterrole", f"podnetstat-plugin-pods-e2e-{PID}", "--ignore-not-found", check=False)))
    role["metadata"]["namespace"] = AGENT_NS
    apply([role, pods_role])
    for sa in ("plugin-user", "pod-reader"):
        kubectl("-n", DEMO_NS, "create", "serviceaccount", sa)
    # plugin-user: the documented rules; pod-reader: reads pods everywhere, may not port-forward.
    kubectl("-n", AGENT_NS, "create", "rolebinding", "plugin-user", f"--role={role['metadata']['name']}",
            f"--serviceaccount={DEMO_NS}:plugin-user")
    for sa, namespaces in (("plugin-user", (DEMO_NS,)), ("pod-reader", (DEMO_NS, AGENT_NS))):
        for ns in namespaces:
            kubectl("-n", ns, "create", "rolebinding", f"{sa}-pods",
                    f"--clusterrole={pods_role['metadata']['name']}", f"--serviceaccount={DEMO_NS}:{sa}")
    p = plugin.run(web, "-n", DEMO_NS, "-tlnp", f"--as=system:serviceaccount:{DEMO_NS}:pod-reader")
    report.check("kubectl podnetstat --as a service account that may read pods but not "
                 "port-forward: exit 1, naming the verb, resource and namespace RBAC lacks",
                 p.returncode == 1 and "may not create pods/portforward in namespace " + AGENT_NS
                 in p.stderr, described(p))
    p = plugin.run(web, "-n", DEMO_NS, "-tlnp", f"--as=system:serviceaccount:{DEMO_NS}:plugin-user")
    report.check("kubectl podnetstat --as a service account with only the documented RBAC "
                 "(docs/kubectl-podnetstat-rbac.yaml) works",
                 p.returncode == 0 and ":9999" in p.stdout, described(p))


def check_plugin_interrupts(report, plugin, node):
    """A port-forward to a server that never answers (the silent demo pod, standing in for a
    hung agent): --timeout ends it; SIGINT ends it and the plugin; nothing is left either way."""
    stand_in = ["node", node, "--agent-namespace", DEMO_NS, "--agent-selector", "app=silent"]
    started = time.monotonic()
    p = subprocess.run([KUBECTL, "podnetstat", *stand_in, "--timeout", "3s"], env=plugin.env,
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    report.check(f"kubectl podnetstat --timeout 3s against an agent that never answers: exit 1 "
                 f"after the timeout ({took:.1f}s), the node named",
                 p.returncode == 1 and f"error: node {node}:" in p.stderr and
                 "timed out" in p.stderr and took < 15, described(p))
    left = plugin.leftovers()
    report.check("... and no kubectl is left behind", not left, left)

    proc = subprocess.Popen([KUBECTL, "podnetstat", *stand_in, "--timeout", "60s"], env=plugin.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        forward = wait_until("the plugin's kubectl port-forward", 30, lambda: [
            line for line in plugin.leftovers() if "port-forward" in line])
        time.sleep(0.5)  # its request is on the way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = plugin.leftovers()
    report.check(f"SIGINT while the plugin's port-forward runs ({forward[0]}): exit 130, no "
                 "kubectl left behind",
                 proc.returncode == 128 + signal.SIGINT and not left,
                 f"exit {proc.returncode}: {err[-500:]}; left: {left}")


def check_plugin(report, plugin, agent, web_pod):
    check_plugin_pod(report, plugin, agent, web_pod)
    check_plugin_listeners(report, plugin, web_pod)
    check_plugin_errors(report, plugin, web_pod)
    wait_until("the silent stand-in Ready", 60, lambda: pods_ready("app=silent", 1))
    check_plugin_interrupts(report, plugin, web_pod["spec"]["nodeName"])
    left = plugin.leftovers()
    report.check(f"after {len(plugin.runs)} plugin runs ({sum(plugin.runs):.1f}s, the longest "
                 f"{max(plugin.runs):.1f}s) no kubectl port-forward or other process of theirs is left",
                 not left, left)


def check_plugin_remote(report, plugin, work, ca, bound, unbound, node):
    """Remote mode: the plugin reaches the agent through port-forward all the same, over HTTPS
    (the certificate verified as the Service's name, which it derives) with the user's token."""
    tokens = {}
    for name, token in (("bound", bound), ("unbound", unbound)):
        tokens[name] = work / f"{name}.token"
        tokens[name].write_text(token + "\n")
    ok = plugin.run("node", node, "-tl", "--agent-token-file", str(tokens["bound"]), "--agent-ca", str(ca))
    report.check("remote mode: kubectl podnetstat node NODE -tl --agent-token-file --agent-ca works "
                 "through port-forward, HTTPS verified as the Service's name (the agent's own "
                 "0.0.0.0:9180 listed)",
                 ok.returncode == 0 and re.search(r"0\.0\.0\.0:9180\s.*LISTEN", ok.stdout) is not None,
                 described(ok))
    none = plugin.run("node", node, "-tl", "--agent-ca", str(ca))
    report.check("remote mode: without a token the plugin says 401 and which flag gives one",
                 none.returncode == 1 and "401" in none.stderr and "--agent-token-file" in none.stderr,
                 described(none))
    denied = plugin.run("node", node, "-tl", "--agent-token-file", str(tokens["unbound"]),
                        "--agent-ca", str(ca))
    report.check("remote mode: a token whose user lacks the reader role: 403 and the RBAC it needs",
                 denied.returncode == 1 and "403" in denied.stderr and "nodes/api" in denied.stderr,
                 described(denied))
    noca = plugin.run("node", node, "-tl", "--agent-token-file", str(tokens["bound"]))
    report.check("remote mode: without --agent-ca the plugin says the agent serves HTTPS and what "
                 "to give", noca.returncode == 1 and "--agent-ca" in noca.stderr, described(noca))


def check_plugin_no_agent(report, plugin, web_pod):
    """The DaemonSet kept off the node by its nodeSelector: the agent goes, and the plugin says
    that no agent runs on the pod's node (last, before the uninstall: the agent does not return)."""
    node = web_pod["spec"]["nodeName"]
    kubectl("-n", AGENT_NS, "patch", "daemonset", RELEASE, "--type", "merge", "-p",
            json.dumps({"spec": {"template": {"spec": {"nodeSelector": {f"podnetstat-e2e-{PID}": "absent"}}}}}))
    wait_until("the agent pod to go", 60, lambda: not kubectl_json(
        "-n", AGENT_NS, "get", "pods", "-l", SELECTOR)["items"])
    p = plugin.run(web_pod["metadata"]["name"], "-n", DEMO_NS, "-tlnp")
    report.check("kubectl podnetstat with the DaemonSet's nodeSelector excluding the pod's node: "
                 "exit 1, no agent runs on that node",
                 p.returncode == 1 and f"no podnetstat agent runs on node {node}" in p.stderr and
                 "nodeSelector" in p.stderr, described(p))


# ---------------------------------------------------------------- remote mode


def make_tls(work, names):
    """A CA and a server certificate for `names` (openssl)."""
    d = work / "tls"
    d.mkdir()
    ca_key, ca_crt, key, csr, crt = (d / n for n in ("ca.key", "ca.crt", "tls.key", "tls.csr", "tls.crt"))
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
         "-out", str(ca_crt), "-days", "1", "-subj", "/CN=podnetstat-e2e-ca",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", f"/CN={names[0]}"])
    ext = d / "ext"
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) +
                   "\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(crt)])
    return ca_crt, crt, key


def containerd_restart(report, remote_get, agent_uid):
    """Kills the cluster's containerd (its PID file) and has cluster-up.sh start it again: the
    CRI source must recover by itself, and the probes must not restart the agent meanwhile."""
    pid = int((Path(CLUSTER.facts["K8S_CLUSTER_DIR"]) / "run" / "pids" / "containerd.pid").read_text())
    log(f"stopping the cluster's containerd (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    def exited():
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # a zombie: gone
        except FileNotFoundError:
            return True
    wait_until("containerd to exit", 30, exited)
    try:
        down = wait_until("the CRI source to report the runtime down", 30, lambda: (
            lambda n: n if not n["sources"]["cri"]["ok"] else None)(remote_get("/api/v1/node").json()))
        report.check("with containerd down, /api/v1/node says cri ok:false and why",
                     bool(down["sources"]["cri"].get("error")), down["sources"]["cri"])
        pod_ip = remote_get.pod_ip
        health = {p: http_get(pod_ip, HEALTH_PORT, p).status for p in ("/healthz", "/readyz")}
        report.check("with containerd down, /healthz and /readyz stay 200 (a source that is down "
                     "degrades the answers, it does not restart the agent)",
                     health == {"/healthz": 200, "/readyz": 200}, health)
    finally:
        log("starting containerd again (cluster-up.sh)")
        run([str(CLUSTER.dir / "cluster-up.sh")], env=CLUSTER.env, timeout=300)
    started = time.monotonic()
    try:
        node = wait_until("the CRI source to recover", 60, lambda: (
            lambda n: n if n["sources"]["cri"]["ok"] else None)(remote_get("/api/v1/node").json()))
        report.check(f"after containerd restarts, the CRI source recovers by itself "
                     f"({time.monotonic() - started:.1f}s)", True)
    except Fatal as e:
        report.check("after containerd restarts, the CRI source recovers by itself", False, e)
        return
    pod = kubectl_json("-n", AGENT_NS, "get", "pod", "-l", SELECTOR)["items"][0]
    restarts = sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses", []))
    report.check("the agent pod was neither replaced nor restarted meanwhile",
                 pod["metadata"]["uid"] == agent_uid and restarts == 0,
                 f"uid {pod['metadata']['uid']} (was {agent_uid}), restarts {restarts}")
    web = [p for p in remote_get(f"/api/v1/namespaces/{DEMO_NS}/pods").json()["items"]
           if p["name"].startswith("web-")]
    report.check("after the restart the web pod is listed with its netns and named containers",
                 len(web) == 1 and web[0]["netns"] and
                 [c.get("name") for c in web[0]["containers"]] == ["web"], web)


class RemoteClient:
    """HTTPS to the agent at its pod IP (local cluster) or through a port-forward (others),
    verifying the Service name the certificate carries."""

    def __init__(self, pod, ca, server_name):
        self.pod_ip = pod["status"]["podIP"]
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.server_name = server_name
        self.token = None
        if CLUSTER.local:
            self.host, self.port = self.pod_ip, API_PORT
        else:
            fwd = PortForward(pod["metadata"]["name"], API_PORT)
            self.host, self.port = "127.0.0.1", fwd.port

    def get(self, path, token=None):
        return http_get(self.host, self.port, path, tls=self.tls, server_name=self.server_name,
                        token=token)

    def __call__(self, path):
        return self.get(path, self.token)


def check_remote(report, work, values_file, plugin, web_pod):
    """Remote mode: HTTPS and bearer tokens checked by the API server."""
    fullname = RELEASE
    service = f"{fullname}.{AGENT_NS}.svc"
    ca, crt, key = make_tls(work, [service])
    kubectl("-n", AGENT_NS, "create", "secret", "tls", f"{fullname}-e2e-tls",
            f"--cert={crt}", f"--key={key}")
    upgrade(values_file, "remote.enabled=true", f"remote.tls.secretName={fullname}-e2e-tls")
    pod = wait_until("the remote-mode agent pod", 60, lambda: (
        lambda p: p if "--auth=tokenreview" in p["spec"]["containers"][0]["args"] else None)(agent_pod()))
    client = RemoteClient(pod, ca, service)

    for sa in ("bound", "unbound"):
        kubectl("-n", DEMO_NS, "create", "serviceaccount", sa)
    kubectl("create", "clusterrolebinding", f"{fullname}-e2e-bound", f"--clusterrole={fullname}-reader",
            f"--serviceaccount={DEMO_NS}:bound")
    CLEANUP.append(("clusterrolebinding", lambda: kubectl(
        "delete", "clusterrolebinding", f"{fullname}-e2e-bound", "--ignore-not-found", check=False)))
    bound = kubectl("-n", DEMO_NS, "create", "token", "bound", "--duration=10m").strip()
    unbound = kubectl("-n", DEMO_NS, "create", "token", "unbound", "--duration=10m").strip()

    a = wait_until("200 for the bound token", 30, lambda: (
        lambda r: r if r.status == 200 else None)(client.get("/api/v1/node", bound)))
    report.check(f"remote mode: a token bound to {fullname}-reader gets 200 over HTTPS at the pod "
                 f"IP ({client.pod_ip}), certificate verified as {service}",
                 a.json().get("node") == pod["spec"]["nodeName"], a.body[:200])
    m = client.get("/metrics", bound)
    report.check("remote mode: the bound token reads /metrics", m.status == 200 and
                 "podnetstat_build_info" in m.body, f"{m.status} {m.body[:200]}")
    u = client.get("/api/v1/node", unbound)
    report.check("remote mode: an unbound service account's token gets 403 (SubjectAccessReview)",
                 u.status == 403, f"{u.status} {u.body[:200]}")
    n = client.get("/api/v1/node")
    report.check("remote mode: no token gets 401 with WWW-Authenticate: Bearer",
                 n.status == 401 and n.headers.get("WWW-Authenticate", "").startswith("Bearer"),
                 f"{n.status} {n.headers}")
    bad = client.get("/api/v1/node", bound[:-4] + "AAAA")
    report.check("remote mode: a token the API server rejects gets 401 (TokenReview)",
                 bad.status == 401, f"{bad.status} {bad.body[:200]}")
    if plugin:
        check_plugin_remote(report, plugin, work, ca, bound, unbound, web_pod["spec"]["nodeName"])
    client.token = bound
    if CLUSTER.local:
        containerd_restart(report, client, pod["metadata"]["uid"])
    else:
        report.skip("containerd restart", "only on the local cluster")


# ---------------------------------------------------------------- install and uninstall


def values_for_cluster(work, image):
    """The chart values this cluster needs (docs/deploy.md shows the same for the local one)."""
    repo, _, tag = image.rpartition(":")
    lines = [
        "image:",
        f"  repository: {repo}",
        f"  tag: {tag}",
        f"  pullPolicy: {'Never' if CLUSTER.local else 'IfNotPresent'}",
        f"refresh: {REFRESH}",
    ]
    if CLUSTER.local:
        f = CLUSTER.facts
        kubelet_port = f["K8S_KUBELET_URL"].rsplit(":", 1)[1]
        lines += [
            "cri:",
            f"  socketPath: {f['K8S_CONTAINERD_SOCK']}",
            "netns:",
            f"  hostPath: {f['K8S_NETNS_DIR']}",
            "podLogs:",
            f"  hostPath: {f['K8S_POD_LOGS_DIR']}",
            "kubelet:",
            f"  url: https://$(HOST_IP):{kubelet_port}",
            "rbac:",
            "  kubeletProxyFallback: true",
        ]
    path = work / "values.yaml"
    path.write_text("\n".join(lines) + "\n")
    extra = os.environ.get("PODNETSTAT_CLUSTER_VALUES")
    return [path] + ([Path(extra)] if extra else [])


def helm_values_args(values_files, *sets):
    args = []
    for f in values_files:
        args += ["-f", str(f)]
    for kv in sets:
        args += ["--set", kv]
    return args


def daemonset_ready():
    st = kubectl_json("-n", AGENT_NS, "get", "daemonset", RELEASE)["status"]
    ok = st.get("desiredNumberScheduled", 0) >= 1 and st.get("numberReady") == st.get(
        "desiredNumberScheduled") and st.get("updatedNumberScheduled") == st.get("desiredNumberScheduled")
    return ok, st


def install(values_files, *sets):
    """helm install --wait; returns its output (the NOTES)."""
    log(f"helm install --wait {' '.join(sets)}")
    CLEANUP.append(("helm release", lambda: helm("uninstall", RELEASE, "-n", AGENT_NS, "--wait",
                                                  "--ignore-not-found", timeout=180, check=False)))
    return helm("install", RELEASE, str(REPO / "charts" / "podnetstat"), "-n", AGENT_NS,
                "--create-namespace", *helm_values_args(values_files, *sets), "--wait",
                "--timeout", "180s", timeout=240)


def upgrade(values_files, *sets):
    log(f"helm upgrade --wait {' '.join(sets)}")
    return helm("upgrade", RELEASE, str(REPO / "charts" / "podnetstat"), "-n", AGENT_NS,
                *helm_values_args(values_files, *sets), "--wait", "--timeout", "180s", timeout=240)


def server_minor():
    v = json.loads(kubectl("version", "-o", "json"))["serverVersion"]
    return int(v["major"]), int(re.match(r"\d+", v["minor"]).group(0))


def literal_mount_propagation(path):
    """The propagation of the mount containerd 1.6 finds for `path`: the longest mount point that
    is a prefix of the path as written (it does not resolve symlinks such as /var/run -> /run)."""
    best, best_fields = "", []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, best_fields = point, fields[6:fields.index("-")]
    if any(f.startswith("shared:") for f in best_fields):
        return "shared"
    if any(f.startswith("master:") for f in best_fields):
        return "slave"
    return "private"


def check_netns_propagation(report, values, plugin):
    """The netns mount's HostToContainer propagation where the directory sits on a private mount
    (the chart's default /var/run/netns on this machine: no systemd made "/" shared): the
    container is not created, with the runtime's refusal that docs/deploy.md quotes; on a shared
    mount it runs."""
    netns = "/var/run/netns"
    existed = os.path.exists(netns)
    propagation = literal_mount_propagation(netns)
    release = f"{RELEASE}-netns"
    CLEANUP.append(("the netns propagation release", lambda: helm(
        "uninstall", release, "-n", AGENT_NS, "--wait", "--ignore-not-found", timeout=180, check=False)))
    helm("install", release, str(REPO / "charts" / "podnetstat"), "-n", AGENT_NS, "--create-namespace",
         *helm_values_args(values, f"netns.hostPath={netns}"), timeout=120)
    selector = f"app.kubernetes.io/instance={release}"

    def outcome():
        for pod in kubectl_json("-n", AGENT_NS, "get", "pods", "-l", selector)["items"]:
            for c in pod["status"].get("containerStatuses", []):
                if c.get("ready"):
                    return "Ready", "", pod["spec"]["nodeName"]
                waiting = c.get("state", {}).get("waiting", {})
                if waiting.get("reason") == "CreateContainerError":
                    return "CreateContainerError", waiting.get("message", ""), pod["spec"]["nodeName"]
        return None
    state, message, node = wait_until("the agent with the default netns directory to start or fail",
                                      90, outcome)
    if plugin and state == "CreateContainerError":
        check_plugin_not_ready(report, plugin, release, node)
    helm("uninstall", release, "-n", AGENT_NS, "--wait", timeout=180)
    if not existed and os.path.isdir(netns):
        os.rmdir(netns)  # the chart's DirectoryOrCreate made it
    quoted = "is not a shared or slave mount"
    documented = quoted in " ".join((REPO / "docs" / "deploy.md").read_text().split())
    if propagation.startswith(("shared", "slave")):
        report.check(f"netns.hostPath={netns} on a {propagation} mount: the agent runs", state == "Ready",
                     f"{state}: {message}")
    else:
        report.check(f"netns.hostPath={netns} on a {propagation} mount: the container is not created, "
                     "with the refusal docs/deploy.md quotes",
                     state == "CreateContainerError" and quoted in message and documented,
                     f"{state}: {message}; quoted in docs/deploy.md: {documented}")


def check_kubelet_fallback(report, notes):
    """Before 1.33 without rbac.kubeletProxyFallback the kubelet answers 403: the install's NOTES
    and the kubelet source's error must both say which value to set."""
    pod = agent_pod()
    agent = Agent(pod["metadata"]["name"])
    try:
        kubelet = wait_until("the kubelet source's first answer", 30, lambda: (
            lambda k: k if k.get("error") or k.get("ok") else None)(agent.json("/api/v1/node")["sources"]["kubelet"]))
    finally:
        agent.close()
    report.check("before 1.33 without rbac.kubeletProxyFallback: helm install's NOTES say to set it",
                 "rbac.kubeletProxyFallback=true" in notes, notes[-800:])
    report.check("... and /api/v1/node's kubelet source says 403 and which chart value grants it",
                 not kubelet.get("ok") and "403" in kubelet.get("error", "") and
                 "rbac.kubeletProxyFallback=true" in kubelet.get("error", ""), kubelet)


def leftovers():
    """podnetstat objects of the release still in the cluster."""
    found = []
    for kind, ns in (("daemonsets,pods,services,serviceaccounts,secrets,configmaps,roles,rolebindings",
                      AGENT_NS),):
        out = kubectl("get", kind, "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}",
                      "-o", "name", check=False, quiet=True)
        found += out.split()
    out = kubectl("get", "clusterroles,clusterrolebindings", "-l",
                  f"app.kubernetes.io/instance={RELEASE}", "-o", "name", quiet=True)
    found += out.split()
    out = kubectl("get", "secrets", "-n", AGENT_NS, "-l", f"owner=helm,name={RELEASE}", "-o", "name",
                  check=False, quiet=True)
    found += out.split()
    return found


def check_uninstall(report):
    log("helm uninstall --wait")
    helm("uninstall", RELEASE, "-n", AGENT_NS, "--wait", "--timeout", "120s", timeout=180)
    try:
        wait_until("the release's objects to go", 60, lambda: not leftovers())
        report.check("helm uninstall leaves no podnetstat object (DaemonSet, pods, RBAC, Service, "
                     "service account, release Secrets)", True)
    except Fatal:
        report.check("helm uninstall leaves no podnetstat object", False, leftovers())


# ---------------------------------------------------------------- main


def suite(report, work):
    CLUSTER.up()
    image, demo_image = prepare_images(work)
    CLEANUP.append(("namespaces", lambda: kubectl(
        "delete", "namespace", AGENT_NS, DEMO_NS, "--ignore-not-found", "--wait=true",
        "--timeout=120s", timeout=180, check=False)))
    values = values_for_cluster(work, image)
    plugin = make_plugin(report, work)
    if CLUSTER.local:
        check_netns_propagation(report, values, plugin)
    if server_minor() < (1, 33):
        notes = install(values, "rbac.kubeletProxyFallback=false")
        check_kubelet_fallback(report, notes)
        upgrade(values)
    else:
        report.skip("the kubelet's 403 before 1.33", "the cluster runs 1.33 or later")
        install(values)
    ok, status = daemonset_ready()
    report.check("helm install --wait: the DaemonSet is Ready under the chart's securityContext, "
                 "probes and RBAC", ok, status)
    if not ok:
        raise Fatal("the agent is not Ready")
    pod = wait_until("one Running agent pod", 60, agent_pod)

    kubectl("create", "namespace", DEMO_NS)
    host_port = free_host_port() if CLUSTER.local else 30000 + PID % 2000
    apply(demo_manifests(demo_image, host_port))
    agent = Agent(pod["metadata"]["name"])
    r = agent.get("/readyz")
    report.check("/readyz through kubectl port-forward", r.status == 200, f"{r.status} {r.body}")

    duos = check_new_pods_answers(report, agent, demo_image)
    web = wait_until("the web Deployment's pod Ready", 120, lambda: pods_ready("app=web", 1))
    hostnet = wait_until("the hostNetwork pod Ready", 120, lambda: pods_ready("app=hostnet", 1))
    doomed = wait_until("the pod to delete Ready", 120, lambda: pods_ready("app=doomed", 1))
    pods = web + hostnet + doomed + duos
    time.sleep(2.5)  # two scans since the last pod got Ready

    # The kubelet caches a denied SubjectAccessReview (--authorization-webhook-cache-unauthorized-ttl,
    # 30 s by default): after the upgrade that grants nodes/proxy, the agent's kubelet source
    # recovers once that cache has expired, by itself.
    def healthy_sources():
        node = agent.json("/api/v1/node")
        ok = all(node["sources"].get(k, {}).get("ok") for k in ("cri", "kubelet", "cgroup"))
        return node if ok else None
    try:
        node = wait_until("CRI, kubelet and cgroup sources healthy", 60, healthy_sources)
        sources_ok = True
    except Fatal:
        node = agent.json("/api/v1/node")
        sources_ok = False
    report.check("/api/v1/node: CRI, kubelet and cgroup sources healthy (within the kubelet's "
                 "30 s cache of a denial)", sources_ok, json.dumps(node["sources"]))
    time.sleep(1.5)  # a scan with the kubelet's pod specs
    check_pods(report, agent, pods)
    check_sockets(report, agent, [p for p in pods if p["metadata"]["name"] != "doomed"])
    check_listeners(report, agent, web[0])
    if plugin:
        check_plugin(report, plugin, agent, web[0])
    check_metrics(report, agent, pods)
    check_deleted_pod(report, agent)
    agent.close()

    check_remote(report, work, values, plugin, web[0])
    if plugin:
        check_plugin_no_agent(report, plugin, web[0])
    check_uninstall(report)


def cleanup():
    for f in FORWARDS:
        f.stop()
    for what, fn in reversed(CLEANUP):
        try:
            fn()
        except Exception as e:  # go on with the rest whatever one step says
            log(f"cleanup of {what}: {e}")
    if CLUSTER.local and CLUSTER.was_up and LOADED_IMAGES:
        CLUSTER.remove_images(LOADED_IMAGES)
    CLUSTER.down()


def main():
    global CLUSTER, KUBECTL, HELM
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    report = Report()
    CLUSTER = Cluster()
    if CLUSTER.skip_reason:
        if os.environ.get("CI") == "true":
            print(f"cluster suite: cannot run in CI: {CLUSTER.skip_reason}", file=sys.stderr)
            return 1
        print(f"cluster suite skipped: {CLUSTER.skip_reason}")
        return SKIP
    if "--preflight" in sys.argv[1:]:
        return 0
    work = Path(tempfile.mkdtemp(prefix=f"podnetstat-cluster-{PID}-"))
    failed_hard = None
    try:
        KUBECTL = tool("kubectl", "KUBECTL")
        HELM = tool("helm", "HELM")
        suite(report, work)
    except (Fatal, Interrupted) as e:
        failed_hard = e
        report.check("the suite ran to its end", False, e)
    finally:
        if os.environ.get("PODNETSTAT_CLUSTER_KEEP") == "1":
            log(f"PODNETSTAT_CLUSTER_KEEP=1: leaving the release, namespaces and cluster; work dir {work}")
        else:
            cleanup()
            shutil.rmtree(work, ignore_errors=True)
    log(f"done in {time.monotonic() - T0:.0f}s")
    print(f"cluster: {report.passed} passed, {report.failed} failed" +
          (f", {report.skipped} skipped" if report.skipped else ""))
    return 1 if report.failed or failed_hard else 0


FORWARDS = []
CLEANUP = []
LOADED_IMAGES = []
CLUSTER = None
KUBECTL = HELM = None

if __name__ == "__main__":
    sys.exit(main())
