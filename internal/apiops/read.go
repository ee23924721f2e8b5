// Package apiops reads an Azure APIOps extractor artifact folder (every
// layout generation: extractor v0.x, v2–v5, v6 and v7) into the
// config.Config a gateway.yaml would give, so the gateway compiles it as
// it compiles a gateway.yaml. An overlay gateway.yaml adds what an extract
// cannot hold (listeners, store, secrets, subscription keys) and overrides
// resources by id; configuration.<env>.yaml publisher override files are
// deep-merged into the extract first, as the APIOps publisher does.
package apiops

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ignored is a resource read and left out because it has no run-time
// meaning for a gateway (or is served by something else).
type Ignored struct {
	Path string // file or folder, relative to the extract
	Kind string
	Name string
	Why  string
}

func (i Ignored) String() string {
	return fmt.Sprintf("%s: %s %q: %s", i.Path, i.Kind, i.Name, i.Why)
}

// Error is a problem with the extract, naming the file, the resource and
// why it cannot run.
type Error struct {
	File     string // path of the file or folder
	Resource string // e.g. `api "echo"`
	Msg      string
}

func (e *Error) Error() string {
	if e.Resource == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Resource, e.Msg)
}

// ErrorList is every problem found in one load.
type ErrorList []error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// resource is one resource folder (or v0 file) of the extract: its name,
// its properties (after overrides) and where it was read.
type resource struct {
	name  string
	dir   string // folder of the resource
	file  string // its information file ("" when there is none)
	props map[string]any
}

// extract is the raw content of an extract, collection by collection.
type extract struct {
	root        string
	apis        []*apiRes
	products    []*resource
	productAPIs map[string][]string // product name (lower) → API names
	namedValues []*resource
	fragments   []*resource
	versionSets map[string]*resource // by name, lower case
	backends    []*resource
	loggers     []*resource
	diagnostics []*resource
	subs        []*resource
	// v0VersionSets are apis/<display>/apiVersionSet.json files (v0.x).
	v0VersionSets []*resource
	ignored       []Ignored
	errs          ErrorList
}

type apiRes struct {
	resource
	spec   string            // specification file, "" if none
	policy string            // API policy file
	ops    map[string]string // operation name → policy file
	opIDs  []string          // operation names in order
}

func (x *extract) errorf(file, res, format string, args ...any) {
	x.errs = append(x.errs, &Error{File: file, Resource: res, Msg: fmt.Sprintf(format, args...)})
}

func (x *extract) ignore(path, kind, name, why string) {
	rel, err := filepath.Rel(x.root, path)
	if err != nil {
		rel = path
	}
	x.ignored = append(x.ignored, Ignored{Path: filepath.ToSlash(rel), Kind: kind, Name: name, Why: why})
}

// readInfo reads a JSON information file: {"properties": {...}} with, in
// v0 extracts, a top-level "name".
func (x *extract) readInfo(file string) (name string, props map[string]any, ok bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		x.errorf(file, "", "%v", err)
		return "", nil, false
	}
	var doc struct {
		Name       string         `json:"name"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		x.errorf(file, "", "not a JSON information file: %v", err)
		return "", nil, false
	}
	if doc.Properties == nil {
		doc.Properties = map[string]any{}
	}
	return doc.Name, doc.Properties, true
}

// subdirs lists the folders in dir, sorted; none when dir is absent.
func subdirs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// firstFile returns the first of names present in dir, or "".
func firstFile(dir string, names ...string) string {
	for _, n := range names {
		if p := filepath.Join(dir, n); exists(p) {
			return p
		}
	}
	return ""
}

// lastSegment resolves an ARM id (absolute, relative or a bare name) to
// the resource name it ends with.
func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// Collections the importer reads, and those it reads and ignores, with
// the reason shown by validate -v.
var ignoredCollections = map[string]string{
	"tags":                     "tags have no run-time meaning for a gateway",
	"groups":                   "groups control developer-portal visibility, not calls",
	"gateways":                 "gateway resources assign APIs to APIM gateways; apimgw serves every API",
	"workspaces":               "workspace resources are served by workspace gateways in APIM; not imported",
	"identity providers":       "developer-portal sign-in setting",
	"authorization servers":    "developer-portal OAuth setting",
	"openid connect providers": "developer-portal OpenID setting",
	"portal settings":          "developer-portal setting",
	"email templates":          "developer-portal setting",
	"notifications":            "developer-portal setting",
	"users":                    "developer-portal accounts",
	"certificates":             "certificate content is not in an extract; give certificates: in the overlay",
	"portal revisions":         "developer-portal content",
}

func (x *extract) read() {
	root := x.root
	known := map[string]bool{"apis": true, "products": true, "named values": true, "policy fragments": true,
		"version sets": true, "backends": true, "loggers": true, "diagnostics": true, "subscriptions": true}
	for _, d := range subdirs(root) {
		if known[d] {
			continue
		}
		why, ok := ignoredCollections[strings.ToLower(d)]
		if !ok {
			why = "not a collection apimgw imports"
		}
		x.ignore(filepath.Join(root, d), "collection", d, why)
	}
	x.readAPIs(filepath.Join(root, "apis"))
	x.readProducts(filepath.Join(root, "products"))
	for _, name := range subdirs(filepath.Join(root, "version sets")) {
		dir := filepath.Join(root, "version sets", name)
		file := firstFile(dir, "versionSetInformation.json", "apiVersionSetInformation.json")
		if file == "" {
			x.errorf(dir, fmt.Sprintf("version set %q", name), "no versionSetInformation.json")
			continue
		}
		if _, props, ok := x.readInfo(file); ok {
			x.versionSets[strings.ToLower(name)] = &resource{name: name, dir: dir, file: file, props: props}
		}
	}
	x.namedValues = x.readCollection("named values", "namedValueInformation.json", true)
	x.fragments = x.readCollection("policy fragments", "policyFragmentInformation.json", false)
	x.backends = x.readCollection("backends", "backendInformation.json", true)
	x.loggers = x.readCollection("loggers", "loggerInformation.json", true)
	x.diagnostics = x.readCollection("diagnostics", "diagnosticInformation.json", true)
	x.subs = x.readCollection("subscriptions", "subscriptionInformation.json", true)
}

// readCollection reads the resources of a collection folder: one folder
// per resource, named by the resource name, holding infoName.
func (x *extract) readCollection(coll, infoName string, needInfo bool) []*resource {
	var out []*resource
	for _, name := range subdirs(filepath.Join(x.root, coll)) {
		dir := filepath.Join(x.root, coll, name)
		r := &resource{name: name, dir: dir, props: map[string]any{}}
		if file := filepath.Join(dir, infoName); exists(file) {
			n, props, ok := x.readInfo(file)
			if !ok {
				continue
			}
			if n != "" {
				r.name = n
			}
			r.file, r.props = file, props
		} else if needInfo {
			x.errorf(dir, fmt.Sprintf("%s %q", strings.TrimSuffix(coll, "s"), name), "no %s", infoName)
			continue
		}
		out = append(out, r)
	}
	return out
}

// readAPIs finds every API folder under apis/: a folder holding
// apiInformation.json, at apis/<name>/ (v2 and later) or
// apis/<display>/<version>/<revision>/ (v0.x), where the name is the
// information file's "name". A v0 version set is apis/<display>/apiVersionSet.json.
func (x *extract) readAPIs(dir string) {
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		if info := filepath.Join(d, "apiInformation.json"); exists(info) {
			name, props, ok := x.readInfo(info)
			if !ok {
				return
			}
			if name == "" {
				name = filepath.Base(d)
			}
			x.readAPI(d, info, name, props)
			return
		}
		if vs := filepath.Join(d, "apiVersionSet.json"); depth == 1 && exists(vs) {
			name, props, ok := x.readInfo(vs)
			if ok {
				x.v0VersionSets = append(x.v0VersionSets, &resource{name: name, dir: d, file: vs, props: props})
			}
		}
		if depth >= 3 {
			return
		}
		for _, s := range subdirs(d) {
			walk(filepath.Join(d, s), depth+1)
		}
	}
	for _, s := range subdirs(dir) {
		walk(filepath.Join(dir, s), 1)
	}
}

func (x *extract) readAPI(dir, info, name string, props map[string]any) {
	a := &apiRes{resource: resource{name: name, dir: dir, file: info, props: props}, ops: map[string]string{}}
	a.spec = firstFile(dir, "specification.yaml", "specification.yml", "specification.json",
		"specification.wsdl", "specification.wadl", "specification.graphql", "specification.xml")
	a.policy = firstFile(dir, "policy.xml")
	for _, op := range subdirs(filepath.Join(dir, "operations")) {
		if p := firstFile(filepath.Join(dir, "operations", op), "policy.xml"); p != "" {
			a.ops[op] = p
			a.opIDs = append(a.opIDs, op)
		}
	}
	for _, d := range subdirs(dir) {
		switch d {
		case "operations":
		case "diagnostics":
			for _, n := range subdirs(filepath.Join(dir, d)) {
				x.ignore(filepath.Join(dir, d, n), "api diagnostic", name+"/"+n,
					"apimgw samples its request log for the whole service (service diagnostics); per-API diagnostics are not applied")
			}
		case "tags":
			x.ignore(filepath.Join(dir, d), "api tags", name, "tags have no run-time meaning for a gateway")
		case "releases":
			x.ignore(filepath.Join(dir, d), "api releases", name, "release notes have no run-time meaning")
		case "schemas":
			x.ignore(filepath.Join(dir, d), "api schemas", name, "schemas are served from the specification file")
		case "resolvers":
			x.errorf(filepath.Join(dir, d), fmt.Sprintf("api %q", name), "GraphQL resolvers (a synthetic GraphQL API) are not supported: apimgw passes GraphQL through to serviceUrl")
		case "wikis", "wiki":
			x.ignore(filepath.Join(dir, d), "api wiki", name, "developer-portal content")
		}
	}
	if exists(filepath.Join(dir, "tags.json")) {
		x.ignore(filepath.Join(dir, "tags.json"), "api tags", name, "tags have no run-time meaning for a gateway")
	}
	x.apis = append(x.apis, a)
}

// readProducts reads products and their API links in every layout:
// products/<p>/apis.json ([{"name": ...}], v0–v5) and
// products/<p>/apis/<a>/productApiInformation.json (v6, v7); both may be
// present in an extract not cleaned between runs.
func (x *extract) readProducts(dir string) {
	for _, name := range subdirs(dir) {
		pdir := filepath.Join(dir, name)
		info := filepath.Join(pdir, "productInformation.json")
		if !exists(info) {
			x.errorf(pdir, fmt.Sprintf("product %q", name), "no productInformation.json")
			continue
		}
		n, props, ok := x.readInfo(info)
		if !ok {
			continue
		}
		if n != "" {
			name = n
		}
		x.products = append(x.products, &resource{name: name, dir: pdir, file: info, props: props})
		key := strings.ToLower(name)
		seen := map[string]bool{}
		add := func(api string) {
			if api != "" && !seen[strings.ToLower(api)] {
				seen[strings.ToLower(api)] = true
				x.productAPIs[key] = append(x.productAPIs[key], api)
			}
		}
		if f := filepath.Join(pdir, "apis.json"); exists(f) {
			data, err := os.ReadFile(f)
			var list []struct {
				Name string `json:"name"`
			}
			if err == nil {
				err = json.Unmarshal(data, &list)
			}
			if err != nil {
				x.errorf(f, fmt.Sprintf("product %q", name), "API list: %v", err)
			}
			for _, l := range list {
				add(lastSegment(l.Name))
			}
		}
		for _, a := range subdirs(filepath.Join(pdir, "apis")) {
			add(a)
		}
		if exists(filepath.Join(pdir, "groups.json")) || exists(filepath.Join(pdir, "groups")) {
			x.ignore(filepath.Join(pdir, "groups"), "product groups", name, "groups control developer-portal visibility, not calls")
		}
		if exists(filepath.Join(pdir, "tags")) || exists(filepath.Join(pdir, "tags.json")) {
			x.ignore(filepath.Join(pdir, "tags"), "product tags", name, "tags have no run-time meaning for a gateway")
		}
	}
}
