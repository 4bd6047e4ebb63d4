// Tests of charts/podnetstat with real Helm: `helm lint --strict`, and `helm template` with the
// default values and with every option switched, each rendering validated as Kubernetes objects
// and checked for the settings DESIGN.md asks for; values files checked against
// values.schema.json by Helm and by ajv; and the checks themselves checked, by breaking a copy of
// the chart and expecting them to fail. Run through scripts/chart-test.sh (it finds helm and
// installs the npm packages).
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import Ajv from "ajv";

import {
  agentContainer, agentRole, chartDir, checkDefaults, checkInvariants, coalescedValues, here, mountAt,
  lint, lintError, objectsOf, only, parseArgs, render, renderError, renderText, reviewRules, serveFlags,
} from "./chart-checks.mjs";

const valuesDir = join(here, "values");
const good = (name) => join(valuesDir, "good", name);

describe("helm lint --strict", () => {
  test("the chart with its defaults, on Kubernetes 1.33 and 1.29", () => {
    for (const kubeVersion of ["v1.33.0", "v1.29.4"]) {
      assert.match(lint({ kubeVersion }), /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test("a broken template fails it", () => {
    const dir = mkdtempSync(join(tmpdir(), "podnetstat-chart-lint-"));
    try {
      cpSync(chartDir, dir, { recursive: true });
      const file = join(dir, "templates", "serviceaccount.yaml");
      writeFileSync(file, readFileSync(file, "utf8").replace("metadata:", "metadata: {{"));
      assert.match(lintError({ chartDir: dir }), /\[ERROR\] templates\/: parse error at \(podnetstat\/templates\/serviceaccount\.yaml:\d+\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Each mode values.yaml offers, switched the way users switch it (--set), rendered by Helm and
// linted; the invariants hold and the mode shows.
describe("each mode of values.yaml, with --set", () => {
  const flagsOf = (r) => parseArgs(agentContainer(only(r, "DaemonSet")).args);
  const caps = (r) => agentContainer(only(r, "DaemonSet")).securityContext.capabilities.add;
  const modes = [
    ["remote mode", ["remote.enabled=true", "remote.tls.secretName=podnetstat-tls"], (r) => {
      assert.equal(flagsOf(r).get("auth"), "tokenreview");
      assert.equal(flagsOf(r).get("listen"), "0.0.0.0:9180");
      assert.equal(only(r, "Service").spec.clusterIP, "None");
    }],
    ["the kubelet's nodes/proxy fallback", ["rbac.kubeletProxyFallback=true"], (r) => {
      assert.ok(agentRole(r).rules.some((rule) => rule.resources.includes("nodes/proxy")));
    }],
    ["the netlink backend", ["backend=netlink"], (r) => {
      assert.equal(flagsOf(r).get("backend"), "netlink");
      assert.ok(caps(r).includes("SYS_ADMIN"));
    }],
    ["the procfs backend", ["backend=procfs"], (r) => {
      assert.equal(flagsOf(r).get("backend"), "procfs");
      assert.ok(!caps(r).includes("SYS_ADMIN"));
    }],
    ["no kubelet", ["kubelet.url=none"], (r) => assert.equal(flagsOf(r).get("kubelet-url"), "none")],
    ["the kubelet unverified", ["kubelet.insecureSkipVerify=true"], (r) => {
      assert.equal(flagsOf(r).get("kubelet-insecure-skip-verify"), true);
      assert.ok(!flagsOf(r).has("kubelet-ca"));
    }],
    ["CRI endpoint probing", ["cri.endpoint=auto"], (r) => assert.equal(flagsOf(r).get("cri-endpoint"), "auto")],
    ["no CRI", ["cri.socketPath=", "cri.endpoint=none"], (r) => {
      assert.equal(flagsOf(r).get("cri-endpoint"), "none");
      assert.ok(!only(r, "DaemonSet").spec.template.spec.volumes.some((v) => v.name === "cri-socket"));
    }],
    ["no /var/log/pods", ["podLogs.enabled=false"], (r) => assert.equal(mountAt(only(r, "DaemonSet"), "/var/log/pods"), null)],
    ["text logs at debug", ["log.format=text", "log.level=debug"], (r) => {
      assert.equal(flagsOf(r).get("log-format"), "text");
      assert.equal(flagsOf(r).get("log-level"), "debug");
    }],
    ["an existing service account, no RBAC", ["serviceAccount.create=false", "serviceAccount.name=agent", "rbac.create=false"], (r) => {
      assert.deepEqual(r.manifests.map((m) => m.kind), ["DaemonSet"]);
      assert.equal(only(r, "DaemonSet").spec.template.spec.serviceAccountName, "agent");
    }],
    ["an open address, explicitly insecure", ["api.address=0.0.0.0", "api.insecureAllowUnauthenticated=true"], (r) => {
      assert.equal(flagsOf(r).get("insecure-allow-unauthenticated"), true);
      assert.match(r.notes, /WARNING: api\.address is 0\.0\.0\.0/);
    }],
  ];
  for (const [what, set, check] of modes) {
    test(what, async () => {
      const r = render({ set, kubeVersion: "v1.33.0" });
      await checkInvariants(r);
      check(r);
      assert.match(lint({ set, kubeVersion: "v1.33.0" }), /0 chart\(s\) failed/);
    });
  }
});

describe("default values", () => {
  test("Kubernetes 1.33: the designed objects, settings, RBAC, mounts, env and NOTES", async () => {
    await checkDefaults(render({ kubeVersion: "v1.33.0" }));
  });

  test("a release name containing the chart name is the full name", async () => {
    const result = render({ release: "podnetstat-prod", namespace: "kube-system" });
    await checkDefaults(result, { release: "podnetstat-prod", namespace: "kube-system" });
    assert.equal(only(result, "DaemonSet").metadata.name, "podnetstat-prod");
  });

  test("Kubernetes 1.29: AppArmor as the beta annotation, and NOTES tells about nodes/proxy", async () => {
    const result = render({ kubeVersion: "v1.29.4" });
    await checkInvariants(result);
    const ds = only(result, "DaemonSet");
    assert.equal(agentContainer(ds).securityContext.appArmorProfile, undefined, "no appArmorProfile field before 1.30");
    assert.deepEqual(ds.spec.template.metadata.annotations,
      { "container.apparmor.security.beta.kubernetes.io/podnetstat": "unconfined" });
    assert.match(result.notes, /authorizes kubelet's \/pods as nodes\/proxy/);
    assert.match(result.notes, /rbac\.kubeletProxyFallback=true/);
  });

  test("Kubernetes 1.20 is refused by the chart's kubeVersion", () => {
    assert.match(renderError({ kubeVersion: "v1.20.15" }), /chart requires kubeVersion: >=1\.21\.0-0/);
  });

  test("Chart.yaml's appVersion is the project's version (CMakeLists.txt)", () => {
    const cmake = readFileSync(join(here, "..", "..", "CMakeLists.txt"), "utf8");
    const version = /project\(podnetstat VERSION ([0-9.]+)/.exec(cmake)?.[1];
    const chart = readFileSync(join(chartDir, "Chart.yaml"), "utf8");
    assert.equal(/^appVersion: "(.*)"$/m.exec(chart)?.[1], version);
  });

  test("helm template's output format", () => {
    const text = renderText();
    assert.ok(text.startsWith("---\n# Source: podnetstat/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\n"));
    assert.equal(text.match(/^---$/gm).length, 4, "four documents");
    assert.ok(!text.includes("<no value>"));
  });
});

describe("every option switched", () => {
  const result = () => render({ values: [join(valuesDir, "all-options.yaml")], kubeVersion: "v1.33.0" });

  test("renders valid objects that keep the invariants", async () => {
    await checkInvariants(result());
  });

  test("names, image, scheduling and update strategy", () => {
    const r = result();
    const ds = only(r, "DaemonSet");
    const pod = ds.spec.template.spec;
    const c = agentContainer(ds);
    assert.equal(ds.metadata.name, "nodesockets");
    assert.equal(only(r, "ClusterRole").metadata.name, "nodesockets");
    assert.equal(c.image, "registry.example.com/podnetstat@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert.equal(c.imagePullPolicy, "Always");
    assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
    assert.equal(pod.priorityClassName, "system-node-critical");
    assert.deepEqual(pod.tolerations, [{ key: "dedicated", operator: "Equal", value: "infra", effect: "NoSchedule" }]);
    assert.deepEqual(pod.nodeSelector, { "kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": "" });
    assert.deepEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values, ["amd64", "arm64"]);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, "10%");
    assert.equal(pod.terminationGracePeriodSeconds, 30);
    assert.deepEqual(c.resources, { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } });
    assert.deepEqual(ds.spec.template.metadata.annotations, { "example.com/scrape": "false" });
    assert.equal(ds.spec.template.metadata.labels.team, "platform");
    assert.equal(ds.spec.selector.matchLabels.team, undefined, "pod labels stay out of the selector");
    assert.deepEqual(c.livenessProbe, { httpGet: { path: "/healthz", port: "health" }, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 });
    assert.deepEqual(c.readinessProbe, { httpGet: { path: "/readyz", port: "health" }, initialDelaySeconds: 1, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
      "a values file's keys merge into the defaults");
  });

  test("flags: addresses, IPv6 brackets, kubelet insecure without CA, CRI auto, tpl'd extra args", () => {
    const c = agentContainer(only(result(), "DaemonSet"));
    const flags = parseArgs(c.args);
    assert.deepEqual(Object.fromEntries(flags), {
      "listen": "0.0.0.0:9280",
      "health-listen": "[::]:9291",
      "refresh": "1m30s",
      "proc-root": "/proc",
      "netns-dir": "/run/netns",
      "cri-endpoint": "auto",
      "kubelet-url": "https://kubelet.internal:10250",
      "kubelet-insecure-skip-verify": true,
      "kubelet-token-file": "/var/run/secrets/tokens/kubelet",
      "log-format": "text",
      "log-level": "debug",
      "backend": "netlink",
      "insecure-allow-unauthenticated": true,
      "max-connections": "64",
      "cgroup-root": "/sys/fs/cgroup",
    });
    for (const flag of flags.keys()) assert.ok(serveFlags.has(flag), `--${flag} is a serve flag`);
    assert.deepEqual(c.env.map((e) => e.name), ["NODE_NAME", "HOST_IP", "PODNETSTAT_THREADS"]);
  });

  test("netlink adds SYS_ADMIN; AppArmor RuntimeDefault", () => {
    const c = agentContainer(only(result(), "DaemonSet"));
    assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"], add: ["SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"] });
    assert.deepEqual(c.securityContext.appArmorProfile, { type: "RuntimeDefault" });
  });

  test("mounts: netns at its path, CRI-O socket, no /var/log/pods, the extra token volume", () => {
    const ds = only(result(), "DaemonSet");
    assert.equal(mountAt(ds, "/run/netns").volume.hostPath.path, "/run/netns");
    assert.deepEqual(mountAt(ds, "/var/run/crio").volume.hostPath, { path: "/var/run/crio", type: "Directory" });
    assert.equal(mountAt(ds, "/var/log/pods"), null);
    assert.equal(mountAt(ds, "/var/run/secrets/tokens").volume.projected.sources[0].serviceAccountToken.path, "kubelet");
  });

  test("RBAC: the nodes/proxy fallback is added, with the warning comment", () => {
    const r = result();
    assert.deepEqual(only(r, "ClusterRole").rules, [
      { apiGroups: [""], resources: ["nodes/pods"], verbs: ["get"] },
      { apiGroups: [""], resources: ["nodes/proxy"], verbs: ["get"] },
    ]);
    const sa = only(r, "ServiceAccount");
    assert.equal(sa.metadata.name, "nodesockets-agent");
    assert.deepEqual(sa.metadata.annotations, { "example.com/owner": "platform" });
    const text = renderText({ values: [join(valuesDir, "all-options.yaml")] });
    assert.match(text, /# Before 1\.33 the kubelet authorizes \/pods as nodes\/proxy get\. Beware: nodes\/proxy get opens\n\s+# the whole kubelet API/);
  });

  test("NOTES: the forward on the API port, a warning for a non-loopback address", () => {
    const notes = result().notes;
    assert.ok(notes.includes("  kubectl -n monitoring port-forward $AGENT 9280:9280 &\n"));
    assert.ok(notes.includes("  curl -s http://127.0.0.1:9280/api/v1/namespaces/default/pods/web-0/sockets\n"));
    assert.match(notes, /WARNING: api\.address is 0\.0\.0\.0, not a loopback address, and\napi\.insecureAllowUnauthenticated is on/);
    assert.match(notes, /kubelet\.insecureSkipVerify is on/);
  });
});

describe("other option sets", () => {
  test("no CRI, no kubelet, no /var/log/pods", async () => {
    const r = render({ values: [good("no-sources.yaml")] });
    await checkInvariants(r);
    const ds = only(r, "DaemonSet");
    const flags = parseArgs(agentContainer(ds).args);
    assert.equal(flags.get("cri-endpoint"), "none");
    assert.equal(flags.get("kubelet-url"), "none");
    for (const f of ["kubelet-ca", "kubelet-token-file", "kubelet-insecure-skip-verify"]) assert.ok(!flags.has(f), `no --${f}`);
    assert.deepEqual(agentContainer(ds).volumeMounts.map((m) => m.name), ["netns"]);
    assert.deepEqual(ds.spec.template.spec.volumes.map((v) => v.name), ["netns"]);
  });

  test("an existing service account, no RBAC objects", async () => {
    const r = render({ values: [good("existing-service-account.yaml")] });
    await checkInvariants(r);
    assert.deepEqual(r.manifests.map((m) => m.kind), ["DaemonSet"]);
    assert.equal(only(r, "DaemonSet").spec.template.spec.serviceAccountName, "podnetstat-managed");
  });

  test("a kubelet CA from a ConfigMap", async () => {
    const r = render({ values: [good("kubelet-ca.yaml")] });
    await checkInvariants(r);
    const ds = only(r, "DaemonSet");
    assert.equal(parseArgs(agentContainer(ds).args).get("kubelet-ca"), "/etc/podnetstat/kubelet-ca/ca.crt");
    assert.equal(mountAt(ds, "/etc/podnetstat/kubelet-ca").volume.configMap.name, "kubelet-serving-ca");
  });

  test("IPv6 addresses get brackets; ::1 is loopback", async () => {
    const r = render({ values: [good("ipv6-loopback.yaml")] });
    await checkInvariants(r);
    const flags = parseArgs(agentContainer(only(r, "DaemonSet")).args);
    assert.equal(flags.get("listen"), "[::1]:9180");
    assert.equal(flags.get("health-listen"), "[::]:9181");
    assert.ok(!r.notes.includes("WARNING"));
  });

  test("AppArmor Localhost: the field on 1.30+, the annotation before", async () => {
    const now = render({ values: [good("apparmor-localhost.yaml")], kubeVersion: "v1.31.0" });
    await checkInvariants(now);
    assert.deepEqual(agentContainer(only(now, "DaemonSet")).securityContext.appArmorProfile, { type: "Localhost", localhostProfile: "podnetstat" });
    const before = render({ values: [good("apparmor-localhost.yaml")], kubeVersion: "v1.28.0" });
    await checkInvariants(before);
    assert.equal(only(before, "DaemonSet").spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/podnetstat"], "localhost/podnetstat");
  });

  test("AppArmor left to the runtime: neither field nor annotation", async () => {
    for (const kubeVersion of ["v1.33.0", "v1.28.0"]) {
      const r = render({ values: [good("apparmor-runtime-default.yaml")], kubeVersion });
      await checkInvariants(r);
      const ds = only(r, "DaemonSet");
      assert.equal(agentContainer(ds).securityContext.appArmorProfile, undefined);
      assert.equal(ds.spec.template.metadata.annotations, undefined);
    }
  });

  test("k3s socket, procfs backend (no SYS_ADMIN), scheduling defaults removed", async () => {
    const r = render({ values: [good("k3s-procfs.yaml")] });
    await checkInvariants(r);
    const ds = only(r, "DaemonSet");
    const c = agentContainer(ds);
    assert.equal(parseArgs(c.args).get("cri-endpoint"), "unix:///run/k3s/containerd/containerd.sock");
    assert.ok(!c.securityContext.capabilities.add.includes("SYS_ADMIN"));
    assert.equal(c.resources, undefined);
    assert.equal(ds.spec.template.spec.tolerations, undefined);
    assert.equal(ds.spec.template.spec.nodeSelector, undefined);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 3);
  });

  test("null in a values file removes a default", async () => {
    const r = render({ values: [good("unset-default.yaml")] });
    await checkInvariants(r);
    assert.deepEqual(agentContainer(only(r, "DaemonSet")).resources, { requests: { cpu: "50m", memory: "64Mi" } });
  });

  test("later values files win, maps merge", () => {
    const v = coalescedValues({ values: [good("kubelet-ca.yaml"), good("no-sources.yaml")] });
    assert.equal(v.kubelet.url, "none");
    assert.equal(v.kubelet.caFile, "/etc/podnetstat/kubelet-ca/ca.crt");
    assert.equal(v.kubelet.tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  });

  test("api.port equal to health.port fails with the chart's message", () => {
    const file = writeTemp("same-port.yaml", "api:\n  port: 9181\n");
    assert.match(renderError({ values: [file] }), /execution error at \(podnetstat\/templates\/daemonset\.yaml:2:\d+\): api\.port and health\.port must differ/);
  });
});

describe("remote mode", () => {
  const result = () => render({ values: [good("remote.yaml")], kubeVersion: "v1.33.0" });

  test("renders valid objects that keep the invariants, in install order", async () => {
    const r = result();
    await checkInvariants(r);
    assert.deepEqual(r.manifests.map((m) => `${m.kind}/${m.object.metadata.name}`), [
      "ServiceAccount/podnetstat",
      "ClusterRole/podnetstat-metrics-reader",
      "ClusterRole/podnetstat-reader",
      "ClusterRole/podnetstat",
      "ClusterRoleBinding/podnetstat",
      "Service/podnetstat",
      "DaemonSet/podnetstat",
    ]);
  });

  test("flags: every address, HTTPS from the Secret, tokenreview, never insecure", () => {
    const ds = only(result(), "DaemonSet");
    const c = agentContainer(ds);
    const flags = parseArgs(c.args);
    assert.equal(flags.get("listen"), "0.0.0.0:9180");
    assert.equal(flags.get("tls-cert"), "/etc/podnetstat/tls/tls.crt");
    assert.equal(flags.get("tls-key"), "/etc/podnetstat/tls/tls.key");
    assert.equal(flags.get("auth"), "tokenreview");
    assert.equal(flags.get("auth-cache-ttl"), "30s");
    assert.ok(!flags.has("insecure-allow-unauthenticated"));
    for (const flag of flags.keys()) assert.ok(serveFlags.has(flag), `--${flag} is a serve flag`);
    assert.deepEqual(mountAt(ds, "/etc/podnetstat/tls"), {
      mount: { name: "tls", mountPath: "/etc/podnetstat/tls", readOnly: true },
      volume: { name: "tls", secret: { secretName: "podnetstat-tls" } },
    });
    assert.equal(ds.spec.template.spec.automountServiceAccountToken, true, "the agent's own token for the reviews");
    assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port: "health" }, "probes stay on the plain health port");
  });

  test("RBAC: the review rights for the agent, the virtual resource for clients", () => {
    const r = result();
    assert.deepEqual(agentRole(r).rules, [{ apiGroups: [""], resources: ["nodes/pods"], verbs: ["get"] }, ...reviewRules]);
    const roles = Object.fromEntries(objectsOf(r, "ClusterRole").map((role) => [role.metadata.name, role.rules]));
    assert.deepEqual(roles["podnetstat-metrics-reader"], [{ apiGroups: ["podnetstat.io"], resources: ["nodes/metrics"], verbs: ["get"] }]);
    assert.deepEqual(roles["podnetstat-reader"], [{ apiGroups: ["podnetstat.io"], resources: ["nodes/api", "nodes/metrics"], verbs: ["get"] }]);
    assert.equal(objectsOf(r, "ClusterRoleBinding").length, 1, "client roles are bound by the user, not the chart");
  });

  test("a headless Service on the API port with the scrape annotations", () => {
    const r = result();
    const svc = only(r, "Service");
    const ds = only(r, "DaemonSet");
    assert.equal(svc.metadata.namespace, "monitoring");
    assert.equal(svc.spec.clusterIP, "None");
    assert.deepEqual(svc.spec.ports, [{ name: "api", port: 9180, targetPort: "api", protocol: "TCP" }]);
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(ds.spec.template.metadata.labels[k], v, `selector ${k}`);
    assert.deepEqual(svc.metadata.annotations, {
      "prometheus.io/scrape": "true", "prometheus.io/scheme": "https", "prometheus.io/port": "9180", "prometheus.io/path": "/metrics",
    });
    assert.equal(ds.spec.template.metadata.annotations, undefined, "the pods carry no scrape annotations (no double scrapes)");
  });

  test("NOTES: bearer token, CA, the client roles; no port-forward, no warning", () => {
    const notes = result().notes;
    assert.ok(notes.includes("over HTTPS with bearer tokens."));
    assert.ok(notes.includes("--clusterrole=podnetstat-reader --serviceaccount=default:reader"));
    assert.ok(notes.includes('curl -s --cacert ca.crt -H "Authorization: Bearer $TOKEN" \\\n'));
    assert.ok(notes.includes("--connect-to podnetstat.monitoring.svc:9180:$POD_IP:9180 https://podnetstat.monitoring.svc:9180/api/v1/node\n"));
    assert.ok(notes.includes("Secret podnetstat-tls"));
    assert.ok(!notes.includes("port-forward $AGENT"));
    assert.ok(!notes.includes("WARNING"));
  });

  test("without scrape annotations and client roles, on [::], with Service annotations", async () => {
    const r = render({ values: [good("remote-quiet.yaml")] });
    await checkInvariants(r);
    const flags = parseArgs(agentContainer(only(r, "DaemonSet")).args);
    assert.equal(flags.get("listen"), "[::]:9180");
    assert.equal(flags.get("auth-cache-ttl"), "2m");
    assert.deepEqual(only(r, "Service").metadata.annotations, { "example.com/owner": "platform" });
    assert.equal(only(r, "ClusterRole").metadata.name, "podnetstat", "only the agent's role");
    assert.deepEqual(agentRole(r).rules.slice(1), reviewRules);
    assert.ok(!JSON.stringify(r.manifests).includes("prometheus.io/"));
  });

  test("without rbac.create: no roles at all", async () => {
    const file = writeTemp("remote-norbac.yaml", "remote:\n  enabled: true\n  tls:\n    secretName: s\nrbac:\n  create: false\nserviceAccount:\n  create: false\n  name: agent\n");
    const r = render({ values: [file] });
    await checkInvariants(r);
    assert.deepEqual(r.manifests.map((m) => m.kind), ["Service", "DaemonSet"]);
  });

  test("off by default: no Service, no review rights, no client roles, no scrape annotations", () => {
    const r = render({});
    assert.equal(objectsOf(r, "Service").length, 0);
    assert.deepEqual(agentRole(r).rules, [{ apiGroups: [""], resources: ["nodes/pods"], verbs: ["get"] }]);
    assert.ok(!renderText().includes("prometheus.io/"));
    assert.ok(!renderText().includes("tokenreviews"));
    const flags = parseArgs(agentContainer(only(r, "DaemonSet")).args);
    for (const f of ["tls-cert", "tls-key", "auth", "insecure-allow-unauthenticated"]) assert.ok(!flags.has(f), `no --${f}`);
  });

  test("a non-loopback api.address without remote mode or the insecure switch is refused", () => {
    const file = writeTemp("open.yaml", "api:\n  address: 0.0.0.0\n");
    assert.match(renderError({ values: [file] }),
      /api\.address 0\.0\.0\.0 is not a loopback address: the agent serves other addresses only with TLS and authentication \(remote\.enabled=true\)/);
  });

  test("the insecure switch on a loopback address passes no flag", () => {
    const file = writeTemp("loopback-insecure.yaml", "api:\n  insecureAllowUnauthenticated: true\n");
    assert.ok(!parseArgs(agentContainer(only(render({ values: [file] }), "DaemonSet")).args).has("insecure-allow-unauthenticated"));
  });
});

describe("values.schema.json", () => {
  const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const files = (dir) => readdirSync(join(valuesDir, dir)).filter((f) => f.endsWith(".yaml")).sort();

  test("there are good and bad values files", () => {
    assert.ok(files("good").length >= 5);
    assert.ok(files("bad").length >= 10);
  });

  test("the chart's own values.yaml is valid (ajv)", () => {
    assert.ok(validate(coalescedValues()), JSON.stringify(validate.errors));
  });

  for (const name of ["../all-options.yaml", ...files("good")]) {
    test(`good: ${name} is valid (ajv, helm template, helm lint --strict)`, () => {
      const file = join(valuesDir, "good", name);
      assert.ok(validate(coalescedValues({ values: [file] })), JSON.stringify(validate.errors));
      render({ values: [file] });
      lint({ values: [file] });
    });
  }

  for (const name of files("bad")) {
    test(`bad: ${name} is refused (ajv, helm template, helm lint --strict)`, () => {
      const file = join(valuesDir, "bad", name);
      const expected = /^# expect: (.*)$/m.exec(readFileSync(file, "utf8"))?.[1];
      assert.ok(expected, `${name} says what it expects in a "# expect:" line`);
      assert.equal(validate(coalescedValues({ values: [file] })), false, "ajv refuses it");
      const error = renderError({ values: [file] });
      assert.match(error, /values don't meet the specifications of the schema\(s\)/);
      assert.ok(error.includes(expected), `helm template's error names the problem (${expected}):\n${error}`);
      const report = lintError({ values: [file] });
      assert.match(report, /\[ERROR\] values\.yaml: /);
      assert.ok(report.includes(expected), `helm lint names the problem (${expected}):\n${report}`);
    });
  }
});

// A broken template or a dropped setting must fail: each case breaks a copy of the chart in one
// place and expects rendering or the checks to fail for that reason.
describe("the checks catch a broken chart", () => {
  const copies = [];
  after(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const mutations = [
    ["a template that does not parse", "templates/daemonset.yaml", "{{- with .Values.priorityClassName }}", "{{- with .Values.priorityClassName }", /parse error at \(podnetstat\/templates\/daemonset\.yaml/],
    ["an unclosed block", "templates/clusterrole.yaml", "  {{- end }}\n---", "---", /parse error|unexpected EOF/],
    ["a misspelt value", "templates/daemonset.yaml", ".Values.refresh", ".Values.refersh", /--refresh=/],
    ["a misspelt .Release field", "templates/serviceaccount.yaml", ".Release.Namespace", ".Release.Namespcae", /without metadata\.namespace/],
    ["a misspelt .Chart field", "templates/_helpers.tpl", ".Chart.AppVersion | quote", ".Chart.Appversion | quote", /invalid label value null for app\.kubernetes\.io\/version/],
    ["SYS_PTRACE dropped", "templates/daemonset.yaml", "                - SYS_PTRACE\n", "", /capabilities added/],
    ["capabilities not dropped", "templates/daemonset.yaml", "                - ALL\n", "                - NET_RAW\n", /drop ALL/],
    ["readOnlyRootFilesystem dropped", "templates/daemonset.yaml", "            readOnlyRootFilesystem: true\n", "", /readOnlyRootFilesystem/],
    ["privilege escalation allowed", "templates/daemonset.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", /allowPrivilegeEscalation/],
    ["seccomp dropped from the container", "templates/daemonset.yaml", "            seccompProfile:\n              type: RuntimeDefault\n", "", /container seccomp/],
    ["hostPID dropped", "templates/daemonset.yaml", "      hostPID: true\n", "", /hostPID/],
    ["hostNetwork switched on", "templates/daemonset.yaml", "hostNetwork: false", "hostNetwork: true", /never hostNetwork/],
    ["mount propagation dropped", "templates/daemonset.yaml", "              mountPropagation: HostToContainer\n", "", /propagation/],
    ["netns mounted writable", "templates/daemonset.yaml", "              readOnly: true\n              # Namespaces", "              readOnly: false\n              # Namespaces", /read-only/],
    ["the CRI socket volume dropped", "templates/daemonset.yaml", "        - name: cri-socket\n          hostPath:", "        - name: cri-sock\n          hostPath:", /no volume named cri-socket/],
    ["a misspelt field", "templates/daemonset.yaml", "          securityContext:\n            # Root", "          securityContxt:\n            # Root", /unknown field "securityContxt"/],
    ["a field at the wrong level", "templates/daemonset.yaml", "      hostPID: true\n", "      hostPID: true\n      containerPort: 1\n", /unknown field "containerPort"/],
    ["a wrong indentation", "templates/serviceaccount.yaml", "nindent 4", "nindent 2", /YAML parse error|unknown field|valid Kubernetes/],
    ["a duplicate key", "templates/daemonset.yaml", "      hostPID: true\n", "      hostPID: true\n      hostPID: true\n", /Map keys must be unique/],
    ["an integer printed with %d (values are float64)", "templates/daemonset.yaml", "containerPort: {{ .Values.api.port }}", "containerPort: {{ printf \"%d\" .Values.api.port }}", /YAML parse error|containerPort must be integer/],
    ["NODE_NAME from the wrong field", "templates/daemonset.yaml", "fieldPath: spec.nodeName", "fieldPath: metadata.name", /NODE_NAME/],
    ["HOST_IP dropped", "templates/daemonset.yaml", "            - name: HOST_IP\n              valueFrom:\n                fieldRef:\n                  fieldPath: status.hostIP\n", "", /HOST_IP/],
    ["liveness probe on the API port", "templates/daemonset.yaml", "path: /healthz\n              port: health", "path: /healthz\n              port: api", /liveness/],
    ["readiness probe on /healthz", "templates/daemonset.yaml", "path: /readyz", "path: /healthz", /readiness/],
    ["RBAC widened to list", "templates/clusterrole.yaml", "resources: [\"nodes/pods\"]\n    verbs: [\"get\"]", "resources: [\"nodes/pods\"]\n    verbs: [\"get\", \"list\"]", /get only/],
    ["RBAC on pods instead of nodes/pods", "templates/clusterrole.yaml", "resources: [\"nodes/pods\"]", "resources: [\"pods\"]", /no rights on pods/],
    ["the binding bound to another account", "templates/clusterrole.yaml", "    name: {{ include \"podnetstat.serviceAccountName\" . }}", "    name: default", /service account/],
    ["selector and pod labels apart", "templates/daemonset.yaml", "{{- include \"podnetstat.selectorLabels\" . | nindent 6 }}", "{{- include \"podnetstat.selectorLabels\" . | replace \"podnetstat\" \"pns\" | nindent 6 }}", /does not match the template's labels/],
    ["NOTES selecting other pods", "templates/NOTES.txt", "app.kubernetes.io/instance=%s", "app.kubernetes.io/release=%s", /NOTES selector/],
    ["a flag name misspelt", "templates/daemonset.yaml", "--netns-dir=", "--netns-directory=", /--netns-dir/],
    ["the health port not passed to --health-listen", "templates/daemonset.yaml", "(list .Values.health.address .Values.health.port)", "(list .Values.health.address .Values.api.port)", /health port/],
    ["tolerations dropped from the defaults", "values.yaml", "tolerations:\n  - operator: Exists\n", "tolerations: []\n", /tolerates every taint/],
    ["the apiVersion misspelt", "templates/daemonset.yaml", "apiVersion: apps/v1", "apiVersion: app/v1", /not a Kubernetes API type/],
    ["NOTES without the port-forward line", "templates/NOTES.txt", "  kubectl -n {{ $ns }} port-forward", "  kubectl -n {{ $ns }} port_forward", /port-forward line/],
    ["the review rights outside remote mode", "templates/clusterrole.yaml", "{{- if .Values.remote.enabled }}\n  # Remote mode", "{{- if true }}\n  # Remote mode", /review rights .* only in remote mode/],
    ["a Service outside remote mode", "templates/service.yaml", "{{- if .Values.remote.enabled }}", "{{- if true }}", /no Service without remote mode/],
    ["scrape annotations on the pods by default", "values.yaml", "podAnnotations: {}", "podAnnotations:\n  prometheus.io/scrape: \"true\"", /no Prometheus scrape annotations without remote mode/],
    // With an open api.address (checked with the invariants rather than the defaults):
    ["the loopback check dropped", "templates/daemonset.yaml", "(not (include \"podnetstat.isLoopback\" $address)) (not .Values.api.insecureAllowUnauthenticated)", "false", /has TLS and auth, or says --insecure-allow-unauthenticated/, "api:\n  address: 0.0.0.0\n"],
    ["the insecure flag not passed", "templates/daemonset.yaml", "            - --insecure-allow-unauthenticated\n", "", /has TLS and auth, or says --insecure-allow-unauthenticated/, "api:\n  address: 0.0.0.0\n  insecureAllowUnauthenticated: true\n"],
    ["remote mode without --auth", "templates/daemonset.yaml", "            - \"--auth=tokenreview\"\n", "", /has TLS and auth/, "remote:\n  enabled: true\n  tls:\n    secretName: s\n"],
  ];

  for (const [what, file, from, to, expected, valuesText] of mutations) {
    test(what, async () => {
      const dir = mkdtempSync(join(tmpdir(), "podnetstat-chart-"));
      copies.push(dir);
      cpSync(chartDir, dir, { recursive: true });
      const path = join(dir, file);
      const text = readFileSync(path, "utf8");
      assert.ok(text.includes(from), `the chart still has ${JSON.stringify(from)} in ${file}`);
      writeFileSync(path, text.replace(from, to));
      const check = valuesText
        ? async () => checkInvariants(render({ chartDir: dir, values: [writeTemp(`mutation-${copies.length}.yaml`, valuesText)] }))
        : async () => checkDefaults(render({ chartDir: dir, kubeVersion: "v1.33.0" }));
      await assert.rejects(check, (err) => {
        assert.match(err.message, expected);
        return true;
      });
    });
  }
});

const tempDir = mkdtempSync(join(tmpdir(), "podnetstat-values-"));
after(() => rmSync(tempDir, { recursive: true, force: true }));
function writeTemp(name, text) {
  const file = join(tempDir, name);
  writeFileSync(file, text);
  return file;
}
