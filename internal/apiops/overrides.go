package apiops

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// override is one entry of a configuration.<env>.yaml publisher override
// file: the properties deep-merged over a resource's, and the entries of
// its child collections (an API's operations, policies, diagnostics).
type override struct {
	props    map[string]any
	children map[string]map[string]*override // collection → resource name (lower case) → entry
}

// overrides are the top-level collections of override files, merged.
type overrides struct {
	colls map[string]map[string]*override
	files []string
}

// collections of a publisher override file, as the publisher names them.
var overrideCollections = map[string]bool{
	"namedValues": true, "policyFragments": true, "versionSets": true, "apis": true, "backends": true,
	"loggers": true, "diagnostics": true, "products": true, "groups": true, "gateways": true,
	"subscriptions": true, "tags": true, "workspaces": true, "policies": true,
}

// extractorKeys are the keys of configuration.extractor.yaml, a different
// file (the names to extract), which is a mistake to pass as overrides.
var extractorKeys = map[string]bool{
	"apiNames": true, "backendNames": true, "namedValueNames": true, "productNames": true,
	"loggerNames": true, "diagnosticNames": true, "policyFragmentNames": true, "subscriptionNames": true,
	"tagNames": true, "groupNames": true, "gatewayNames": true, "versionSetNames": true,
}

// readOverrides reads and merges the override files, later files winning.
func readOverrides(files []string) (*overrides, error) {
	o := &overrides{colls: map[string]map[string]*override{}, files: files}
	var errs ErrorList
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			errs = append(errs, &Error{File: f, Msg: fmt.Sprintf("not a YAML override file: %v", err)})
			continue
		}
		for k, v := range doc {
			if extractorKeys[k] {
				errs = append(errs, &Error{File: f, Msg: fmt.Sprintf("%s is a key of configuration.extractor.yaml (the names to extract), not of a publisher override file (configuration.<env>.yaml)", k)})
				continue
			}
			if !overrideCollections[k] {
				errs = append(errs, &Error{File: f, Msg: fmt.Sprintf("unknown top-level key %q (want a collection: apis, backends, namedValues, ...)", k)})
				continue
			}
			if o.colls[k] == nil {
				o.colls[k] = map[string]*override{}
			}
			if err := mergeEntries(o.colls[k], v, k); err != nil {
				errs = append(errs, &Error{File: f, Msg: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return o, nil
}

// mergeEntries merges a list of {name, properties, <children>} into into.
func mergeEntries(into map[string]*override, v any, path string) error {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil
		}
		return fmt.Errorf("%s: want a list of {name, properties} entries", path)
	}
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("%s[%d]: want {name, properties}", path, i)
		}
		name, _ := m["name"].(string)
		if name == "" {
			return fmt.Errorf("%s[%d]: needs name", path, i)
		}
		key := strings.ToLower(name)
		e := into[key]
		if e == nil {
			e = &override{props: map[string]any{}, children: map[string]map[string]*override{}}
			into[key] = e
		}
		for k, val := range m {
			switch k {
			case "name":
			case "properties":
				props, ok := val.(map[string]any)
				if !ok && val != nil {
					return fmt.Errorf("%s[%s].properties: want a mapping", path, name)
				}
				deepMerge(e.props, props)
			default:
				if e.children[k] == nil {
					e.children[k] = map[string]*override{}
				}
				if err := mergeEntries(e.children[k], val, path+"["+name+"]."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// deepMerge merges src into dst: mappings merge key by key, anything else
// replaces.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// get returns the override of a resource in a collection, or nil.
func (o *overrides) get(coll, name string) *override {
	if o == nil {
		return nil
	}
	return o.colls[coll][strings.ToLower(name)]
}

// child returns the override of a child resource, or nil.
func (e *override) child(coll, name string) *override {
	if e == nil {
		return nil
	}
	return e.children[coll][strings.ToLower(name)]
}

// apply deep-merges the override's properties over props.
func (e *override) apply(props map[string]any) {
	if e != nil {
		deepMerge(props, e.props)
	}
}

// policyValue is the policy content an override entry gives
// (properties.value), if any.
func (e *override) policyValue() (string, bool) {
	if e == nil {
		return "", false
	}
	v, ok := e.props["value"].(string)
	return v, ok
}
