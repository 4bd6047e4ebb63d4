// Rendering the chart with real Helm (`helm template`, binary in $HELM, set by
// scripts/chart-test.sh) and the checks that every rendering must pass.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import YAML from "yaml";

import { validateObject } from "./k8s-validate.mjs";

export const here = dirname(fileURLToPath(import.meta.url));
export const chartDir = join(here, "..", "..", "charts", "podnetstat");

/** Flags of `podnetstat serve` (DESIGN.md "CLI"); the chart passes no other. */
export const serveFlags = new Set([
  "listen", "health-listen", "refresh", "proc-root", "netns-dir", "cgroup-root", "cri-endpoint",
  "kubelet-url", "kubelet-ca", "kubelet-insecure-skip-verify", "kubelet-token-file", "node-name",
  "max-connections", "log-format", "log-level", "backend",
  "tls-cert", "tls-key", "auth", "auth-cache-ttl", "kube-api-url", "kube-api-ca",
  "kube-api-token-file", "insecure-allow-unauthenticated",
]);

/** The rules the agent's ClusterRole has in remote mode on top of nodes/pods get. */
export const reviewRules = [
  { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
  { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
];

/** Whether a --listen value ("127.0.0.1:9180", "[::1]:9180") is a loopback address. */
export function isLoopbackListen(listen) {
  const host = listen.startsWith("[") ? listen.slice(1, listen.indexOf("]")) : listen.slice(0, listen.lastIndexOf(":"));
  return host.startsWith("127.") || host === "::1";
}

/** The agent's own ClusterRole: the one its ClusterRoleBinding binds. */
export function agentRole(result) {
  const binding = only(result, "ClusterRoleBinding");
  const role = objectsOf(result, "ClusterRole").find((r) => r.metadata.name === binding.roleRef.name);
  assert.ok(role, "the binding's ClusterRole is rendered");
  return role;
}

export function helm() {
  const bin = process.env.HELM;
  if (!bin) throw new Error("HELM is not set: run the tests through scripts/chart-test.sh");
  return bin;
}

/** Runs helm; returns stdout, or throws an Error with helm's stderr. */
export function runHelm(args) {
  try {
    return execFileSync(helm(), args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: helmEnv });
  } catch (e) {
    if (e.stderr !== undefined) throw new Error(`helm ${args[0]} failed: ${e.stdout ?? ""}${e.stderr || e.message}`);
    throw e;
  }
}

// Helm keeps its caches and configuration here, never in the user's home.
const helmHome = mkdtempSync(join(tmpdir(), "podnetstat-helm-home-"));
const helmEnv = {
  PATH: process.env.PATH,
  HOME: helmHome,
  HELM_CACHE_HOME: join(helmHome, "cache"),
  HELM_CONFIG_HOME: join(helmHome, "config"),
  HELM_DATA_HOME: join(helmHome, "data"),
};
process.on("exit", () => rmSync(helmHome, { recursive: true, force: true }));

// What `helm template` does not print, NOTES.txt and the coalesced values, come from a copy of the
// chart with one more template: NOTES.txt's own text becomes a named template (rendered by Helm
// with the same .Values, .Release, .Chart and .Capabilities), and a document prints it and
// .Values as JSON. For the values alone a copy without the chart's templates is used, so that
// values the templates refuse can still be read (and checked against the schema by ajv).
const probeTemplate = "templates/zz-podnetstat-test-probe.yaml";
const probeSource = (chartName) => `${chartName}/${probeTemplate}`;
const preparedCopies = new Map();
process.on("exit", () => preparedCopies.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function preparedChart(dir, { valuesOnly = false } = {}) {
  const key = `${dir}\0${valuesOnly}`;
  if (!preparedCopies.has(key)) {
    const copy = mkdtempSync(join(tmpdir(), "podnetstat-chart-probe-"));
    if (valuesOnly) {
      for (const file of ["Chart.yaml", "values.yaml", "values.schema.json"]) cpSync(join(dir, file), join(copy, file));
      mkdirSync(join(copy, "templates"));
      writeFileSync(join(copy, probeTemplate), "podnetstatTestValues: {{ toJson .Values }}\n");
    } else {
      cpSync(dir, copy, { recursive: true });
      const notes = readFileSync(join(dir, "templates", "NOTES.txt"), "utf8");
      rmSync(join(copy, "templates", "NOTES.txt"));
      writeFileSync(join(copy, "templates", "_zz-podnetstat-test-notes.tpl"),
        `{{- define "podnetstat-test.notes" }}${notes}{{ end }}`);
      writeFileSync(join(copy, probeTemplate),
        "podnetstatTestNotes: {{ include \"podnetstat-test.notes\" . | toJson }}\npodnetstatTestValues: {{ toJson .Values }}\n");
    }
    preparedCopies.set(key, copy);
  }
  return preparedCopies.get(key);
}

/** The arguments of `helm template` after the release name and chart. */
export function templateArgs({ values = [], set = [], kubeVersion, namespace = "monitoring" } = {}) {
  const args = ["--namespace", namespace];
  if (kubeVersion) args.push("--kube-version", kubeVersion);
  for (const f of values) args.push("--values", f);
  for (const s of set) args.push("--set", s);
  return args;
}

/** `helm template`'s text for the chart as it is (no probe). */
export function renderText(options = {}) {
  return runHelm(["template", options.release ?? "podnetstat", options.chartDir ?? chartDir, ...templateArgs(options)]);
}

/** The documents of `helm template`'s output: [{source, text}], in output order. */
export function splitDocuments(text) {
  const docs = [];
  for (const chunk of text.split(/^---\n/m)) {
    const source = /^# Source: (\S+)\n/.exec(chunk);
    if (!chunk.trim()) continue;
    assert.ok(source, `every document of helm template's output names its source:\n${chunk.slice(0, 200)}`);
    docs.push({ source: source[1], text: chunk.slice(source[0].length) });
  }
  return docs;
}

/** A document's YAML as the Kubernetes clients read it (YAML 1.1, duplicate keys refused). */
function parseDocument(doc) {
  return YAML.parse(doc.text, { version: "1.1", uniqueKeys: true, strict: true });
}

/**
 * Renders the chart with `helm template` and returns {manifests: [{source, kind, name, object}],
 * notes, values}; throws with Helm's error when rendering fails.
 */
export function render(options = {}) {
  const dir = options.chartDir ?? chartDir;
  const chartName = YAML.parse(readFileSync(join(dir, "Chart.yaml"), "utf8")).name;
  const text = runHelm(["template", options.release ?? "podnetstat", preparedChart(dir), ...templateArgs(options)]);
  const result = { manifests: [], notes: undefined, values: undefined };
  for (const doc of splitDocuments(text)) {
    const object = parseDocument(doc);
    if (doc.source === probeSource(chartName)) {
      result.notes = object.podnetstatTestNotes;
      result.values = object.podnetstatTestValues;
      continue;
    }
    if (object === null) continue;
    result.manifests.push({ source: doc.source, kind: object.kind, name: object.metadata?.name, object });
  }
  assert.equal(typeof result.notes, "string", "the probe template rendered NOTES.txt");
  return result;
}

/** Runs `action`, expecting it to throw; returns the error's text. */
function failureOf(action, what) {
  try {
    action();
  } catch (e) {
    return e.message;
  }
  throw new assert.AssertionError({ message: `${what} was expected to fail but succeeded` });
}

/** Renders and expects a failure; returns Helm's error text. */
export function renderError(options = {}) {
  return failureOf(() => render(options), "rendering");
}

/** `helm lint --strict` (warnings fail too); returns its report, or throws with it. */
export function lint(options = {}) {
  const args = templateArgs(options).filter((a, i, all) => a !== "--namespace" && all[i - 1] !== "--namespace");
  return runHelm(["lint", "--strict", options.chartDir ?? chartDir, ...args]);
}

/** Lints and expects a failure; returns Helm's report. */
export function lintError(options = {}) {
  return failureOf(() => lint(options), "helm lint --strict");
}

/** The coalesced values (chart defaults + files + --set), as Helm merges them; not validated. */
export function coalescedValues(options = {}) {
  const dir = preparedChart(options.chartDir ?? chartDir, { valuesOnly: true });
  const text = runHelm(["template", "podnetstat", dir, "--skip-schema-validation", ...templateArgs(options)]);
  const [doc] = splitDocuments(text);
  return parseDocument(doc).podnetstatTestValues;
}

export function objectsOf(result, kind) {
  return result.manifests.filter((m) => m.kind === kind).map((m) => m.object);
}

export function only(result, kind) {
  const list = objectsOf(result, kind);
  assert.equal(list.length, 1, `exactly one ${kind} expected, found ${list.length}`);
  return list[0];
}

export function agentContainer(ds) {
  const containers = ds.spec.template.spec.containers;
  const c = containers.find((x) => x.name === "podnetstat");
  assert.ok(c, "the DaemonSet has a container named podnetstat");
  return c;
}

/** `serve --a=b --c` → Map{a: "b", c: true}; repeated flags keep the last value. */
export function parseArgs(args) {
  assert.equal(args[0], "serve", "the container runs `podnetstat serve`");
  const flags = new Map();
  for (const arg of args.slice(1)) {
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    assert.ok(m, `argument ${JSON.stringify(arg)} is a --flag or --flag=value`);
    flags.set(m[1], m[2] ?? true);
  }
  return flags;
}

function volumeFor(ds, mount) {
  return ds.spec.template.spec.volumes.find((v) => v.name === mount.name);
}

export function mountAt(ds, path) {
  const c = agentContainer(ds);
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === path);
  return mount ? { mount, volume: volumeFor(ds, mount) } : null;
}

/**
 * What must hold for every set of values: valid objects, the security settings, RBAC no wider
 * than designed, probes on the health port, the netns mount, the downward API env.
 */
export async function checkInvariants(result) {
  assert.ok(result.manifests.length > 0, "the chart renders objects");
  const problems = [];
  for (const m of result.manifests) {
    for (const e of await validateObject(m.object)) problems.push(`${m.source}: ${e}`);
  }
  assert.deepEqual(problems, [], "every rendered object is a valid Kubernetes object");

  const ds = only(result, "DaemonSet");
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true, "hostPID: true");
  assert.notEqual(pod.hostNetwork, true, "never hostNetwork");
  assert.equal(ds.spec.updateStrategy?.type, "RollingUpdate", "RollingUpdate");
  assert.ok(ds.spec.updateStrategy.rollingUpdate?.maxUnavailable !== undefined, "maxUnavailable is set");
  assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", "pod seccomp RuntimeDefault");
  assert.equal(pod.automountServiceAccountToken, true, "the token is mounted (kubelet auth)");

  const c = agentContainer(ds);
  const sc = c.securityContext ?? {};
  assert.deepEqual(sc.capabilities?.drop, ["ALL"], "drop ALL capabilities");
  const added = sc.capabilities?.add ?? [];
  const flags = parseArgs(c.args);
  const expectedCaps = ["SYS_PTRACE", "DAC_READ_SEARCH", ...(flags.get("backend") === "netlink" ? ["SYS_ADMIN"] : [])];
  assert.deepEqual([...added].sort(), [...expectedCaps].sort(), "capabilities added: exactly these");
  assert.equal(sc.readOnlyRootFilesystem, true, "readOnlyRootFilesystem");
  assert.equal(sc.allowPrivilegeEscalation, false, "allowPrivilegeEscalation false");
  assert.notEqual(sc.privileged, true, "not privileged");
  assert.equal(sc.seccompProfile?.type, "RuntimeDefault", "container seccomp RuntimeDefault");

  for (const required of ["listen", "health-listen", "refresh", "proc-root", "netns-dir", "cri-endpoint", "kubelet-url", "log-format", "log-level", "backend"]) {
    assert.ok(flags.has(required), `--${required} is passed`);
  }
  assert.ok(!(flags.has("kubelet-ca") && flags.has("kubelet-insecure-skip-verify")), "a kubelet CA or insecure, not both");
  if (flags.get("kubelet-url") === "none") {
    for (const f of ["kubelet-ca", "kubelet-insecure-skip-verify", "kubelet-token-file"]) assert.ok(!flags.has(f), `no --${f} without a kubelet`);
  }
  const [, healthPort] = /:(\d+)$/.exec(flags.get("health-listen")) ?? [];
  const [, apiPort] = /:(\d+)$/.exec(flags.get("listen")) ?? [];
  const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  assert.equal(String(ports.health), healthPort, "the health port is the --health-listen port");
  assert.equal(String(ports.api), apiPort, "the api port is the --listen port");
  assert.deepEqual(c.livenessProbe?.httpGet, { path: "/healthz", port: "health" }, "liveness: /healthz on the health port");
  assert.deepEqual(c.readinessProbe?.httpGet, { path: "/readyz", port: "health" }, "readiness: /readyz on the health port");

  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
  assert.deepEqual(env.NODE_NAME?.valueFrom, { fieldRef: { fieldPath: "spec.nodeName" } }, "NODE_NAME from the downward API");
  assert.deepEqual(env.HOST_IP?.valueFrom, { fieldRef: { fieldPath: "status.hostIP" } }, "HOST_IP from the downward API");

  const netns = mountAt(ds, flags.get("netns-dir"));
  assert.ok(netns, "the netns dir is mounted where --netns-dir points");
  assert.equal(netns.mount.mountPropagation, "HostToContainer", "netns mount propagation HostToContainer");
  assert.equal(netns.mount.readOnly, true, "netns mount read-only");
  assert.equal(netns.volume?.hostPath?.path, flags.get("netns-dir"), "netns from the same host path");

  for (const m of c.volumeMounts ?? []) {
    if (volumeFor(ds, m)?.hostPath) assert.equal(m.readOnly, true, `host path ${m.mountPath} is mounted read-only`);
  }
  const cri = flags.get("cri-endpoint");
  if (cri.startsWith("unix://")) {
    const socketPath = cri.slice("unix://".length);
    const dir = socketPath.slice(0, socketPath.lastIndexOf("/")) || "/";
    const fileOnly = ["/", "/run", "/var/run"].includes(dir);  // not every daemon's sockets
    const sock = mountAt(ds, fileOnly ? socketPath : dir);
    assert.ok(sock, "the directory of the CRI socket named by --cri-endpoint is mounted");
    assert.equal(sock.volume?.hostPath?.type, fileOnly ? "Socket" : "Directory", "the CRI socket's volume is its directory");
  }

  // Off loopback: TLS and authentication, or the explicit insecure flag. Remote mode and the
  // review rights, the Service and the scrape annotations go together.
  const remote = flags.get("auth") === "tokenreview";
  if (!isLoopbackListen(flags.get("listen"))) {
    assert.ok((flags.has("tls-cert") && flags.has("tls-key") && flags.has("auth")) || flags.get("insecure-allow-unauthenticated") === true,
      "a non-loopback --listen has TLS and auth, or says --insecure-allow-unauthenticated");
  }
  if (remote) {
    assert.ok(!flags.has("insecure-allow-unauthenticated"), "remote mode is not insecure");
    const tls = mountAt(ds, flags.get("tls-cert").replace(/\/tls\.crt$/, ""));
    assert.ok(tls?.volume?.secret?.secretName, "the TLS files come from a Secret");
    assert.equal(tls.mount.readOnly, true, "the TLS Secret is mounted read-only");
    assert.equal(flags.get("tls-key"), flags.get("tls-cert").replace(/tls\.crt$/, "tls.key"), "key beside the cert");
  }
  const bindings = objectsOf(result, "ClusterRoleBinding");
  for (const role of objectsOf(result, "ClusterRole")) {
    const own = bindings.some((b) => b.roleRef.name === role.metadata.name);
    for (const rule of role.rules) {
      if (!own) {
        // The roles for clients of remote mode: the virtual resource, get only.
        assert.ok(remote, `client role ${role.metadata.name} only in remote mode`);
        assert.deepEqual(rule.apiGroups, ["podnetstat.io"], "client roles: podnetstat.io only");
        assert.deepEqual(rule.verbs, ["get"], "client roles: get only");
        for (const r of rule.resources) assert.ok(["nodes/api", "nodes/metrics"].includes(r), `no client rights on ${r}`);
        continue;
      }
      if (rule.apiGroups[0] !== "") {
        assert.ok(remote, `the review rights (${rule.apiGroups}) only in remote mode`);
        assert.ok(reviewRules.some((r) => JSON.stringify(r) === JSON.stringify(rule)), `review rule exactly: ${JSON.stringify(rule)}`);
        continue;
      }
      assert.deepEqual(rule.apiGroups, [""], "core API group only");
      assert.deepEqual(rule.verbs, ["get"], "get only");
      for (const r of rule.resources) assert.ok(["nodes/pods", "nodes/proxy"].includes(r), `no rights on ${r}`);
    }
  }
  const services = objectsOf(result, "Service");
  assert.equal(services.length, remote ? 1 : 0, remote ? "one Service in remote mode" : "no Service without remote mode");
  const scrapeAnnotated = [...services, ds.spec.template, ds].some((o) =>
    Object.keys(o.metadata?.annotations ?? {}).some((k) => k.startsWith("prometheus.io/")));
  if (!remote) assert.ok(!scrapeAnnotated, "no Prometheus scrape annotations without remote mode");
  const selector = /kubectl -n \S+ get pods -l (\S+) /.exec(result.notes)?.[1];
  assert.ok(selector, "NOTES names the agent pods by label");
  for (const pair of selector.split(",")) {
    const [key, value] = pair.split("=");
    assert.equal(ds.spec.template.metadata.labels[key], value, `NOTES selector ${pair} matches the agent pods`);
  }
  for (const kind of ["Role", "RoleBinding", "Secret", "ConfigMap"]) {
    assert.equal(objectsOf(result, kind).length, 0, `no ${kind}`);
  }
  for (const binding of objectsOf(result, "ClusterRoleBinding")) {
    const role = agentRole(result);
    assert.equal(binding.roleRef.kind, "ClusterRole");
    assert.equal(binding.roleRef.name, role.metadata.name, "the binding binds the chart's ClusterRole");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: pod.serviceAccountName, namespace: ds.metadata.namespace }],
      "the binding's subject is the DaemonSet's service account");
  }
}

/** The exact objects and settings of a default install (release podnetstat in monitoring). */
export async function checkDefaults(result, { release = "podnetstat", namespace = "monitoring" } = {}) {
  await checkInvariants(result);
  const kinds = result.manifests.map((m) => m.kind);
  assert.deepEqual(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"], "the objects, in install order");

  const ds = only(result, "DaemonSet");
  const pod = ds.spec.template.spec;
  const c = agentContainer(ds);
  assert.equal(ds.metadata.namespace, namespace);
  assert.deepEqual(pod.tolerations, [{ operator: "Exists" }], "tolerates every taint");
  assert.deepEqual(pod.nodeSelector, { "kubernetes.io/os": "linux" });
  assert.equal(pod.affinity, undefined);
  assert.equal(pod.priorityClassName, undefined);
  assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
  assert.equal(c.image, "podnetstat:0.1.0", "image defaults to the chart's appVersion");
  assert.deepEqual(c.resources, { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } });

  const sa = only(result, "ServiceAccount");
  assert.equal(pod.serviceAccountName, sa.metadata.name);
  assert.equal(sa.metadata.namespace, namespace);

  assert.deepEqual(c.args, [
    "serve",
    "--listen=127.0.0.1:9180",
    "--health-listen=0.0.0.0:9181",
    "--refresh=5s",
    "--proc-root=/proc",
    "--netns-dir=/var/run/netns",
    "--cri-endpoint=unix:///run/containerd/containerd.sock",
    "--kubelet-url=auto",
    "--kubelet-ca=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    "--kubelet-token-file=/var/run/secrets/kubernetes.io/serviceaccount/token",
    "--log-format=json",
    "--log-level=info",
    "--backend=auto",
  ]);
  for (const flag of parseArgs(c.args).keys()) assert.ok(serveFlags.has(flag), `--${flag} is a serve flag`);
  assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"], add: ["SYS_PTRACE", "DAC_READ_SEARCH"] });
  assert.deepEqual(c.securityContext.appArmorProfile, { type: "Unconfined" }, "AppArmor unconfined (1.30+ field)");
  assert.equal(c.securityContext.runAsUser, 0, "root (capabilities of a non-root user would not be effective)");

  assert.deepEqual(c.volumeMounts, [
    { name: "netns", mountPath: "/var/run/netns", readOnly: true, mountPropagation: "HostToContainer" },
    { name: "cri-socket", mountPath: "/run/containerd", readOnly: true },
    { name: "pod-logs", mountPath: "/var/log/pods", readOnly: true },
  ]);
  assert.deepEqual(pod.volumes, [
    { name: "netns", hostPath: { path: "/var/run/netns", type: "DirectoryOrCreate" } },
    { name: "cri-socket", hostPath: { path: "/run/containerd", type: "Directory" } },
    { name: "pod-logs", hostPath: { path: "/var/log/pods", type: "Directory" } },
  ]);

  const role = only(result, "ClusterRole");
  assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["nodes/pods"], verbs: ["get"] }], "RBAC: nodes/pods get, nothing else");
  assert.equal(objectsOf(result, "Service").length, 0, "no Service by default");

  const fullname = ds.metadata.name;
  assert.equal(fullname, release.includes("podnetstat") ? release : `${release}-podnetstat`);
  const notes = result.notes;
  assert.match(notes, new RegExp(`AGENT=\\$\\(kubectl -n ${namespace} get pods -l app\\.kubernetes\\.io/name=podnetstat,app\\.kubernetes\\.io/instance=${release} --field-selector spec\\.nodeName=\\$NODE -o name\\)`));
  assert.ok(notes.includes(`  kubectl -n ${namespace} port-forward $AGENT 9180:9180 &\n`), "NOTES: the port-forward line");
  assert.ok(notes.includes("  curl -s http://127.0.0.1:9180/api/v1/namespaces/default/pods/web-0/sockets\n"), "NOTES: the curl line");
  assert.ok(!notes.includes("WARNING"), "no warning for the defaults");
}
