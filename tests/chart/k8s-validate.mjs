// Validation of rendered Kubernetes objects, as close to what the API server would accept as
// an offline check gets:
//  1. the object's JSON schema from the Kubernetes OpenAPI (npm package kubernetes-models):
//     types, required fields, formats, enums;
//  2. unknown fields, which kubectl and Helm reject (strict field validation) but the OpenAPI
//     schemas allow: every object handed to a schema validator is wrapped in a Proxy that
//     records which keys the validator looked up; a key it never looked up is not in the schema
//     (maps such as labels are enumerated as a whole and so accept any key);
//  3. a few rules of the API server's own validation that no schema holds (names, label syntax,
//     selector vs. template labels, port and volume references, capability names).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const models = join(dirname(fileURLToPath(import.meta.url)), "node_modules", "kubernetes-models");

const validators = new Map();

async function schemaValidator(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!validators.has(key)) {
    // kubernetes-models/<group>/<version>/<Kind>.js, e.g. apps/v1/DaemonSet.js, v1/Pod.js.
    const model = join(models, ...apiVersion.split("/"), `${kind}.js`);
    if (!/^[A-Za-z0-9.\/-]+$/.test(key) || !existsSync(model)) {
      validators.set(key, null);
      return null;
    }
    // The model module imports its compiled validator from _schemas/<Definition>.js; the raw
    // validator (not the model class) is needed so that the Proxy below reaches it.
    const match = readFileSync(model, "utf8").match(/_schemas\/([A-Za-z0-9]+)\.js/);
    if (!match) throw new Error(`no schema import in ${model}`);
    const { validate } = await import(`kubernetes-models/_schemas/${match[1]}`);
    validators.set(key, validate);
  }
  return validators.get(key);
}

function track(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  const record = { path, value, looked: new Set(), enumerated: false };
  records.push(record);
  const copy = Array.isArray(value)
    ? value.map((v, i) => track(v, `${path}[${i}]`, records))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${path}.${k}`, records)]));
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") record.looked.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") record.looked.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ianaSvcName = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*$/;
const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const capabilityName = /^[A-Z][A-Z_]*$/;
const hostPathTypes = new Set(["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"]);
const clusterScoped = new Set(["ClusterRole", "ClusterRoleBinding", "Namespace", "PriorityClass", "CustomResourceDefinition"]);

function checkLabelKey(key, where, errors) {
  const parts = key.split("/");
  const [prefix, name] = parts.length === 2 ? parts : [null, parts[0]];
  if (parts.length > 2 || name.length > 63 || !qualifiedName.test(name) ||
      (prefix !== null && (prefix.length > 253 || !dns1123Subdomain.test(prefix)))) {
    errors.push(`${where}: invalid label/annotation key ${JSON.stringify(key)}`);
  }
}

function checkLabels(labels, where, errors) {
  for (const [k, v] of Object.entries(labels ?? {})) {
    checkLabelKey(k, where, errors);
    if (typeof v !== "string" || v.length > 63 || !labelValue.test(v)) {
      errors.push(`${where}: invalid label value ${JSON.stringify(v)} for ${k}`);
    }
  }
}

function checkPodSpec(spec, where, errors) {
  const volumes = new Map();
  for (const v of spec.volumes ?? []) {
    if (!dns1123Label.test(v.name ?? "")) errors.push(`${where}.volumes: invalid name ${v.name}`);
    if (volumes.has(v.name)) errors.push(`${where}.volumes: duplicate name ${v.name}`);
    volumes.set(v.name, v);
    if (v.hostPath) {
      if (!String(v.hostPath.path).startsWith("/")) errors.push(`${where}.volumes.${v.name}: hostPath.path must be absolute`);
      if (!hostPathTypes.has(v.hostPath.type ?? "")) errors.push(`${where}.volumes.${v.name}: bad hostPath.type ${v.hostPath.type}`);
    }
  }
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const containerNames = new Set();
  for (const c of containers) {
    const at = `${where}.containers[${c.name}]`;
    if (!dns1123Label.test(c.name ?? "")) errors.push(`${at}: invalid container name`);
    if (containerNames.has(c.name)) errors.push(`${at}: duplicate container name`);
    containerNames.add(c.name);
    if (!c.image) errors.push(`${at}: image is required`);
    const portNames = new Set();
    const portNumbers = new Set();
    for (const p of c.ports ?? []) {
      if (p.name !== undefined) {
        if (p.name.length > 15 || !ianaSvcName.test(p.name)) errors.push(`${at}: invalid port name ${p.name}`);
        if (portNames.has(p.name)) errors.push(`${at}: duplicate port name ${p.name}`);
        portNames.add(p.name);
      }
      if (!(p.containerPort >= 1 && p.containerPort <= 65535)) errors.push(`${at}: containerPort out of range`);
      const key = `${p.containerPort}/${p.protocol ?? "TCP"}`;
      if (portNumbers.has(key)) errors.push(`${at}: duplicate port ${key}`);
      portNumbers.add(key);
    }
    for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
      if (typeof port === "string" && !portNames.has(port)) errors.push(`${at}.${probe}: port ${port} is not a named port`);
    }
    const envNames = new Set();
    for (const e of c.env ?? []) {
      if (!envVarName.test(e.name ?? "")) errors.push(`${at}.env: invalid name ${e.name}`);
      if (envNames.has(e.name)) errors.push(`${at}.env: duplicate ${e.name}`);
      envNames.add(e.name);
      if (e.value !== undefined && e.valueFrom !== undefined) errors.push(`${at}.env.${e.name}: value and valueFrom`);
    }
    const mountPaths = new Set();
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) errors.push(`${at}.volumeMounts: no volume named ${m.name}`);
      if (mountPaths.has(m.mountPath)) errors.push(`${at}.volumeMounts: duplicate mountPath ${m.mountPath}`);
      mountPaths.add(m.mountPath);
      if (m.mountPropagation && !["None", "HostToContainer", "Bidirectional"].includes(m.mountPropagation)) {
        errors.push(`${at}.volumeMounts.${m.name}: bad mountPropagation ${m.mountPropagation}`);
      }
      if (m.mountPropagation === "Bidirectional" && !c.securityContext?.privileged) {
        errors.push(`${at}.volumeMounts.${m.name}: Bidirectional propagation needs a privileged container`);
      }
    }
    const caps = c.securityContext?.capabilities ?? {};
    for (const cap of [...(caps.add ?? []), ...(caps.drop ?? [])]) {
      if (!capabilityName.test(cap) || cap.startsWith("CAP_")) errors.push(`${at}: bad capability name ${cap}`);
    }
    // The API server's own rule (it compares the literal "CAP_SYS_ADMIN").
    if (c.securityContext?.allowPrivilegeEscalation === false &&
        (c.securityContext.privileged || caps.add?.includes("CAP_SYS_ADMIN"))) {
      errors.push(`${at}: allowPrivilegeEscalation false with privileged or CAP_SYS_ADMIN`);
    }
    const aa = c.securityContext?.appArmorProfile;
    if (aa && (aa.type === "Localhost") !== Boolean(aa.localhostProfile)) {
      errors.push(`${at}: appArmorProfile.localhostProfile goes with type Localhost only`);
    }
  }
}

function checkSemantics(obj, errors) {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  const name = obj.metadata?.name ?? "";
  if (!name || name.length > 253 || !dns1123Subdomain.test(name)) errors.push(`${where}: invalid metadata.name`);
  if (!clusterScoped.has(obj.kind)) {
    // Not an API rule but the chart's: `helm template | kubectl apply` must land in the release's namespace.
    if (!obj.metadata?.namespace) errors.push(`${where}: namespaced object without metadata.namespace`);
  } else if (obj.metadata?.namespace) {
    errors.push(`${where}: cluster-scoped object with metadata.namespace`);
  }
  checkLabels(obj.metadata?.labels, `${where}.metadata.labels`, errors);
  for (const k of Object.keys(obj.metadata?.annotations ?? {})) checkLabelKey(k, `${where}.metadata.annotations`, errors);

  const template = obj.spec?.template;
  if (template) {
    checkLabels(template.metadata?.labels, `${where}.spec.template.metadata.labels`, errors);
    for (const k of Object.keys(template.metadata?.annotations ?? {})) checkLabelKey(k, `${where}.spec.template.metadata.annotations`, errors);
    const selector = obj.spec.selector?.matchLabels ?? {};
    if (Object.keys(selector).length === 0 && !obj.spec.selector?.matchExpressions) errors.push(`${where}: empty selector`);
    for (const [k, v] of Object.entries(selector)) {
      if (template.metadata?.labels?.[k] !== v) errors.push(`${where}: selector ${k}=${v} does not match the template's labels`);
    }
    checkPodSpec(template.spec ?? {}, `${where}.spec.template.spec`, errors);
  }
  if (obj.kind === "DaemonSet") {
    const s = obj.spec.updateStrategy ?? {};
    if (s.rollingUpdate && s.type !== "RollingUpdate") errors.push(`${where}: rollingUpdate without type RollingUpdate`);
    const mu = s.rollingUpdate?.maxUnavailable;
    if (mu === 0 || mu === "0%") errors.push(`${where}: maxUnavailable 0 needs maxSurge`);
  }
  if (obj.kind === "ClusterRole" || obj.kind === "Role") {
    for (const r of obj.rules ?? []) {
      if (!r.verbs?.length) errors.push(`${where}: a rule without verbs`);
      if (!r.nonResourceURLs && (!r.apiGroups || !r.resources?.length)) errors.push(`${where}: a rule without apiGroups/resources`);
    }
  }
}

/**
 * Returns every problem found in one object (empty when it would be accepted).
 */
export async function validateObject(obj) {
  const errors = [];
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not an object"];
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") return ["apiVersion and kind are required"];
  const validate = await schemaValidator(obj.apiVersion, obj.kind);
  if (!validate) return [`${obj.apiVersion} ${obj.kind} is not a Kubernetes API type`];
  const records = [];
  const tracked = track(obj, "", records);
  if (!validate(tracked)) {
    for (const e of validate.errors ?? []) errors.push(`${obj.kind}${e.instancePath}: ${e.message}`);
  }
  const unknownParents = new Set();
  for (const r of records) {
    if (Array.isArray(r.value) || r.enumerated || r.looked.size === 0) continue;
    // A subtree under an unknown field is never looked into: report the field, not its content.
    if ([...unknownParents].some((p) => r.path.startsWith(p))) continue;
    for (const key of Object.keys(r.value)) {
      if (!r.looked.has(key)) {
        errors.push(`${obj.kind}${r.path}: unknown field "${key}"`);
        unknownParents.add(`${r.path}.${key}`);
      }
    }
  }
  checkSemantics(obj, errors);
  return errors;
}
