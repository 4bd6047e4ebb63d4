// Pins the Helm behaviours that tests/chart/render reproduces, on a small fixture chart
// (fixtures/helm-behaviour): values read as float64, toYaml's format, missing values rendered
// empty, include/tpl/required/fail, partials, .Chart/.Release/.Capabilities/.Template, the
// document split and NOTES. If the renderer drifts from Helm here, the chart tests lose their
// meaning.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { here } from "./chart-checks.mjs";

const fixture = join(here, "fixtures", "helm-behaviour");
const temp = mkdtempSync(join(tmpdir(), "podnetstat-renderer-"));
after(() => rmSync(temp, { recursive: true, force: true }));

function run(args, values = {}) {
  const files = Object.entries(values).map(([name, text]) => {
    const file = join(temp, name);
    writeFileSync(file, text);
    return ["-f", file];
  });
  return spawnSync(process.env.CHART_RENDER, [...files.flat(), "--release", "rel", "--namespace", "ns", ...args, fixture], { encoding: "utf8" });
}

test("helm template's output for the fixture", () => {
  const r = run(["--notes"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `---
# Source: fixture/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: fixture-rel
  namespace: ns
data:
  big: "1e+06"
  port: "9180"
  portd: "%!d(float64=9180)"
  ratio: "0.5"
  missing: ""
  release: ""
  tpl: "rel in ns"
  kube: "1.33"
  kubeVersion: "v1.33.0"
  apps: "true"
  chart: fixture-1.2.3-4.5
  template: fixture/templates/configmap.yaml
  values: |
    big: 1000000
    flag: "on"
    greeting: '{{ .Release.Name }} in {{ .Release.Namespace }}'
    list:
    - a
    - b
    nested:
      a: 1
      b: 2
    port: 9180
    ratio: 0.5
---
# Source: fixture/templates/configmap.yaml
# a comment-only document is kept; an empty one is dropped

NOTES:
Installed fixture as rel.

`);
});

test("required: Helm's error, with the template's position", () => {
  const r = run([], { "need.yaml": "needName: true\n" });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "Error: execution error at (fixture/templates/required.yaml:5:11): needName needs .Values.name\n");
});

test("fail: Helm's error, message kept whole", () => {
  const r = run([], { "fail.yaml": 'failWith: "boom\\nsecond line"\n' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "Error: execution error at (fixture/templates/required.yaml:8:4): boom\nsecond line\n");
});

test("values files: later ones win, maps merge, null deletes, a list over a map stays", () => {
  const r = run(["--output", "values"], {
    "a.yaml": "port: 1\nnested: {a: 5}\nlist: [x]\n",
    "b.yaml": "port: 2\nnested: {c: 7}\nratio: null\nbig: [1]\n",
  });
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.port, 2);
  assert.deepEqual(v.nested, { a: 5, b: 2, c: 7 });
  assert.deepEqual(v.list, ["x"]);
  assert.equal("ratio" in v, false);
  assert.deepEqual(v.big, [1]);
});

test("--kube-version feeds .Capabilities", () => {
  const r = run(["--kube-version", "1.29.7"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /kube: "1\.29"\n/);
  assert.match(r.stdout, /kubeVersion: "v1\.29\.7"\n/);
});

test("json output: the objects as the Kubernetes clients read them", () => {
  const out = JSON.parse(execFileSync(process.env.CHART_RENDER, ["--output", "json", "--release", "rel", fixture], { encoding: "utf8" }));
  assert.deepEqual(out.manifests.map((m) => [m.source, m.kind, m.name]), [["fixture/templates/configmap.yaml", "ConfigMap", "fixture-rel"]]);
  assert.equal(out.manifests[0].object.data.big, "1e+06");
  assert.equal(out.notes, "Installed fixture as rel.\n");
});
