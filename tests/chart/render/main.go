// Command chart-render renders a Helm chart the way `helm template` does, on machines where no
// Helm binary can be installed. It is built from Debian's Go packages only (GOPATH mode, see
// scripts/chart-test.sh) and follows Helm 3's engine where a chart can tell the difference:
//
//   - values: values.yaml and -f files read with sigs.k8s.io/yaml (numbers become float64, as
//     in Helm), -f files deep-merged in order, then coalesced over the chart's defaults (a null
//     deletes a default); the result validated against values.schema.json with gojsonschema
//     (Helm's validator), with Helm's error text;
//   - Chart.yaml's kubeVersion constraint checked against the Kubernetes version;
//   - templates: text/template with sprig's function map minus env/expandenv, plus toYaml,
//     fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, include, tpl, required, fail,
//     lookup (empty, as without a cluster), getHostByName (no DNS, as without --enable-dns);
//     missingkey=zero and "<no value>" erased; partials (_*)
//     parsed but not rendered; .Values and .Release (maps: a misspelt key renders empty), .Chart
//     (Helm's field names: a misspelt one is an error), .Capabilities (KubeVersion,
//     APIVersions.Has, HelmVersion), .Files, .Template;
//   - output: each file split into documents, empty ones dropped, each parsed as YAML (an
//     invalid one fails, as Helm's "YAML parse error"), sorted in Helm's install order, printed
//     as "---\n# Source: <chart>/templates/<file>\n<doc>\n"; NOTES.txt apart.
//
// Not supported (the chart does not use them): subcharts, toToml, --set.
//
// Usage:
//
//	chart-render [-f values.yaml]... [--release NAME] [--namespace NS] [--kube-version v1.33.0]
//	             [--api-versions GROUP/VERSION]... [--output yaml|json|values] [--notes] CHART_DIR
//
// --output json prints {"manifests":[{"source","kind","name","object"}],"notes","values"}, each
// object converted from its YAML as the Kubernetes clients do (sigs.k8s.io/yaml, strict about
// duplicate keys). --output values prints the coalesced values as JSON, neither validated nor
// rendered (for checking the schema with another validator). Exit status 1 with the error on
// stderr when rendering fails.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// Metadata is Chart.yaml as templates see it through .Chart: Helm's field names.
type Metadata struct {
	Name         string                   `json:"name,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []map[string]interface{} `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv *KubeVersion) String() string     { return kv.Version }
func (kv *KubeVersion) GitVersion() string { return kv.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has tells whether an API group/version (or group/version/Kind) is served.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// HelmVersion is .Capabilities.HelmVersion.
type HelmVersion struct {
	Version      string
	GitCommit    string
	GitTreeState string
	GoVersion    string
}

// Capabilities is .Capabilities.
type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
	HelmVersion HelmVersion
}

// The built-in API group/versions of a current cluster (what Helm assumes without one).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "storage.k8s.io/v1",
	"scheduling.k8s.io/v1", "node.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "certificates.k8s.io/v1", "authentication.k8s.io/v1",
	"authorization.k8s.io/v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1",
}

// Files is .Files: the chart's files outside templates/ and Helm's own files.
type Files map[string][]byte

// Get returns a file's content, "" when there is none.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content as bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// Glob returns the files whose names match a path.Match pattern.
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

type chartData struct {
	dir       string
	meta      Metadata
	values    map[string]interface{}
	schema    []byte
	templates map[string]string // "templates/x.yaml" -> text
	files     Files
}

// readValues parses YAML values as Helm does: through JSON, so numbers are float64.
func readValues(data []byte) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, err
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

func loadChart(dir string) (*chartData, error) {
	c := &chartData{dir: dir, templates: map[string]string{}, files: Files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %w", err)
	}
	switch {
	case c.meta.APIVersion != "v2":
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2, is %q", c.meta.APIVersion)
	case c.meta.Name == "":
		return nil, errors.New("validation: chart.metadata.name is required")
	case c.meta.Type != "" && c.meta.Type != "application":
		return nil, fmt.Errorf("Chart.yaml: only application charts are supported, not %q", c.meta.Type)
	case len(c.meta.Dependencies) > 0:
		return nil, errors.New("Chart.yaml: subcharts are not supported by this renderer")
	}
	if _, err := semver.StrictNewVersion(c.meta.Version); err != nil {
		return nil, fmt.Errorf("validation: chart.metadata.version %q is invalid", c.meta.Version)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if c.values, err = readValues(raw); err != nil {
			return nil, fmt.Errorf("cannot load values.yaml: %w", err)
		}
	} else {
		c.values = map[string]interface{}{}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		c.schema = raw
	}
	ignore := helmIgnore(dir)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore(rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case rel == "Chart.yaml", rel == "Chart.lock", rel == "values.yaml", rel == "values.schema.json":
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// helmIgnore reads .helmignore's simple patterns (a name or glob, "dir/" for folders).
func helmIgnore(dir string) func(rel string, isDir bool) bool {
	raw, _ := os.ReadFile(filepath.Join(dir, ".helmignore"))
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	return func(rel string, isDir bool) bool {
		if rel == ".helmignore" {
			return true
		}
		for _, p := range patterns {
			dirOnly := strings.HasSuffix(p, "/")
			p = strings.TrimSuffix(p, "/")
			if dirOnly && !isDir {
				continue
			}
			if ok, _ := path.Match(p, path.Base(rel)); ok {
				return true
			}
			if ok, _ := path.Match(p, rel); ok {
				return true
			}
		}
		return false
	}
}

// mergeMaps merges -f files: b's keys win, maps merge deeply (helm's values.Options).
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce fills the user's values with the chart's defaults; a user null deletes a default;
// where one side is a map and the other is not, the user's value stays (with Helm's warning).
func coalesce(user, defaults map[string]interface{}, prefix string) {
	for key, def := range defaults {
		val, present := user[key]
		if !present {
			user[key] = def
			continue
		}
		if val == nil {
			delete(user, key)
			continue
		}
		um, userIsMap := val.(map[string]interface{})
		dm, defIsMap := def.(map[string]interface{})
		switch {
		case userIsMap && defIsMap:
			coalesce(um, dm, prefix+key+".")
		case defIsMap:
			fmt.Fprintf(os.Stderr, "coalesce.go:286: warning: cannot overwrite table with non table for %s%s (%v)\n", prefix, key, def)
		case userIsMap && def != nil:
			fmt.Fprintf(os.Stderr, "coalesce.go:298: warning: destination for %s%s is a table. Ignoring non-table value (%v)\n", prefix, key, def)
		}
	}
}

func validateSchema(chartName string, values map[string]interface{}, schema []byte) error {
	valuesJSON, err := json.Marshal(values)
	if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(valuesJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	for _, e := range result.Errors() {
		fmt.Fprintf(&sb, "- %s\n", e)
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", chartName, sb.String())
}

// ---- the template engine ------------------------------------------------------------------

type renderable struct {
	tpl      string
	vals     map[string]interface{}
	basePath string
}

const (
	warnStart       = "HELM_ERR_START"
	warnEnd         = "HELM_ERR_END"
	maxIncludeDepth = 1000
)

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func funcMap(t *template.Template, references map[string]renderable) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	depth := map[string]int{}
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"toToml": func(interface{}) (string, error) {
			return "", errors.New("toToml is not supported by chart-render")
		},
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			if depth[name] > maxIncludeDepth {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			depth[name]++
			defer func() { depth[name]-- }()
			var sb strings.Builder
			err := t.ExecuteTemplate(&sb, name, data)
			return sb.String(), err
		},
		"tpl": func(text string, vals map[string]interface{}) (string, error) {
			tmpl, _ := vals["Template"].(map[string]interface{})
			name, ok1 := tmpl["Name"].(string)
			base, ok2 := tmpl["BasePath"].(string)
			if !ok1 || !ok2 {
				return "", fmt.Errorf("cannot retrieve Template.Name/BasePath from values inside tpl function: %s", text)
			}
			out, err := render(map[string]renderable{name: {tpl: text, vals: vals, basePath: base}}, references)
			if err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return out[name], nil
		},
		// Helm wraps fail's message like required's, so that it is reported without the trace.
		"fail": func(msg string) (string, error) {
			return "", errors.New(warnStart + msg + warnEnd)
		},
		// No DNS lookups while rendering (Helm's default without --enable-dns).
		"getHostByName": func(string) string { return "" },
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			return val, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// sortedTemplateNames orders names as Helm parses them: deeper paths first, then reverse
// lexical order (it matters only when two files define the same named template).
func sortedTemplateNames(tpls map[string]renderable) []string {
	names := make([]string, 0, len(tpls))
	for n := range tpls {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ci, cj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if ci != cj {
			return ci > cj
		}
		return names[i] > names[j]
	})
	return names
}

func parseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func execError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}

// render parses every template of tpls and references into one set, then executes those of
// tpls that are not partials.
func render(tpls, references map[string]renderable) (out map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl").Option("missingkey=zero")
	t.Funcs(funcMap(t, references))
	for _, name := range sortedTemplateNames(tpls) {
		if _, err := t.New(name).Parse(tpls[name].tpl); err != nil {
			return nil, parseError(name, err)
		}
	}
	for _, name := range sortedTemplateNames(references) {
		if t.Lookup(name) == nil {
			if _, err := t.New(name).Parse(references[name].tpl); err != nil {
				return nil, parseError(name, err)
			}
		}
	}
	out = map[string]string{}
	for _, name := range sortedTemplateNames(tpls) {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := tpls[name].vals
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": tpls[name].basePath}
		var sb strings.Builder
		if err := t.ExecuteTemplate(&sb, name, vals); err != nil {
			return nil, execError(name, err)
		}
		out[name] = strings.ReplaceAll(sb.String(), "<no value>", "")
	}
	return out, nil
}

// ---- manifests ----------------------------------------------------------------------------

// Helm's install order by kind; other kinds come last.
var installOrder = []string{
	"PriorityLevelConfiguration", "FlowSchema", "Namespace", "NetworkPolicy", "ResourceQuota",
	"LimitRange", "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type manifest struct {
	Source string          `json:"source"`
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Object json.RawMessage `json:"object"`
	text   string
	order  int
}

type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func splitManifests(rendered map[string]string) ([]manifest, error) {
	var sources []string
	for name := range rendered {
		sources = append(sources, name)
	}
	sort.Strings(sources)
	var out []manifest
	for _, source := range sources {
		for _, doc := range docSeparator.Split(rendered[source], -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" {
				continue
			}
			var h head
			if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %w", source, err)
			}
			obj, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %w", source, err)
			}
			order := len(installOrder)
			for i, k := range installOrder {
				if k == h.Kind {
					order = i
					break
				}
			}
			out = append(out, manifest{Source: source, Kind: h.Kind, Name: h.Metadata.Name,
				Object: obj, text: doc, order: order})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out, nil
}

// ---- command line -------------------------------------------------------------------------

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run() error {
	var valueFiles, apiVersions stringList
	fs := flag.NewFlagSet("chart-render", flag.ContinueOnError)
	fs.Var(&valueFiles, "f", "values file (repeatable; later ones win)")
	fs.Var(&valueFiles, "values", "values file (repeatable; later ones win)")
	release := fs.String("release", "release-name", "release name")
	namespace := fs.String("namespace", "default", "release namespace")
	kubeVersion := fs.String("kube-version", "v1.33.0", "Kubernetes version for .Capabilities")
	fs.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	output := fs.String("output", "yaml", "yaml (like helm template), json, or values")
	notes := fs.Bool("notes", false, "print NOTES.txt after the manifests (yaml output)")
	upgrade := fs.Bool("is-upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	var positional []string
	args := os.Args[1:]
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		return errors.New("usage: chart-render [flags] CHART_DIR")
	}
	if *output != "yaml" && *output != "json" && *output != "values" {
		return fmt.Errorf("--output must be yaml, json or values, not %q", *output)
	}

	c, err := loadChart(positional[0])
	if err != nil {
		return err
	}

	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		return fmt.Errorf("invalid --kube-version %q: %w", *kubeVersion, err)
	}
	caps := &Capabilities{
		APIVersions: append(VersionSet(append([]string{}, defaultAPIVersions...)), apiVersions...),
		KubeVersion: KubeVersion{Version: "v" + kv.String(), Major: fmt.Sprint(kv.Major()), Minor: fmt.Sprint(kv.Minor())},
		HelmVersion: HelmVersion{Version: "v3.17.0", GitTreeState: "clean", GoVersion: "go1.19"},
	}
	if c.meta.KubeVersion != "" {
		constraint, err := semver.NewConstraint(c.meta.KubeVersion)
		if err != nil {
			return fmt.Errorf("Chart.yaml: invalid kubeVersion %q: %w", c.meta.KubeVersion, err)
		}
		if !constraint.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.meta.KubeVersion, caps.KubeVersion.Version)
		}
	}

	user := map[string]interface{}{}
	for _, f := range valueFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		vals, err := readValues(raw)
		if err != nil {
			return fmt.Errorf("failed to parse %s: %w", f, err)
		}
		user = mergeMaps(user, vals)
	}
	coalesce(user, c.values, "")
	if *output == "values" {
		return json.NewEncoder(os.Stdout).Encode(user)
	}
	if c.schema != nil {
		if err := validateSchema(c.meta.Name, user, c.schema); err != nil {
			return err
		}
	}

	top := map[string]interface{}{
		"Values": user,
		// A map in Helm too: a misspelt .Release field renders empty, it is no error.
		"Release": map[string]interface{}{"Name": *release, "Namespace": *namespace,
			"IsInstall": !*upgrade, "IsUpgrade": *upgrade, "Revision": 1, "Service": "Helm"},
		"Chart":        &c.meta,
		"Capabilities": caps,
		"Files":        c.files,
	}
	tpls := map[string]renderable{}
	for name, text := range c.templates {
		tpls[path.Join(c.meta.Name, name)] = renderable{tpl: text, vals: top, basePath: path.Join(c.meta.Name, "templates")}
	}
	rendered, err := render(tpls, tpls)
	if err != nil {
		return err
	}
	notesName := path.Join(c.meta.Name, "templates", "NOTES.txt")
	notesText := rendered[notesName]
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(rendered, name)
		}
	}
	manifests, err := splitManifests(rendered)
	if err != nil {
		return err
	}

	if *output == "json" {
		kept := []manifest{}
		for _, m := range manifests {
			if string(m.Object) != "null" {
				kept = append(kept, m)
			}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]interface{}{"manifests": kept, "notes": notesText, "values": user})
	}
	var sb strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&sb, "---\n# Source: %s\n%s\n", m.Source, m.text)
	}
	if *notes && notesText != "" {
		fmt.Fprintf(&sb, "\nNOTES:\n%s\n", notesText)
	}
	_, err = os.Stdout.WriteString(sb.String())
	return err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
