package apiops

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/apimgw/apimgw/internal/config"
)

// mergeOverlay merges the overlay gateway.yaml at path over the extract's
// configuration: the overlay gives what an extract cannot hold (listen,
// admin, logs, store, outbound, certificates, secrets, subscription keys)
// and overrides resources by id, a field it sets replacing the extract's.
// Relative paths in the overlay are relative to the overlay's folder.
func mergeOverlay(ext *config.Config, path string) (*config.Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("read overlay: %v", err)}
	}
	ov, err := config.ParseUnvalidated(abs, data)
	if err != nil {
		return nil, err
	}
	out := ov
	out.File = ext.File + " (overlay " + abs + ")"
	if out.Policy == "" {
		out.Policy = ext.Policy
	}
	out.FragmentFiles = ext.FragmentFiles
	out.PolicySources = ext.PolicySources
	nv := map[string]string{}
	for k, v := range ext.NamedValues {
		nv[k] = v
	}
	for k, v := range ov.NamedValues {
		nv[k] = v
	}
	out.NamedValues = nv
	if out.Logs.Sampling == nil {
		out.Logs.Sampling = ext.Logs.Sampling
	}
	out.VersionSets = mergeMap(ext.VersionSets, ov.VersionSets)
	out.Backends = mergeMap(ext.Backends, ov.Backends)
	out.Products = mergeMap(ext.Products, ov.Products)
	out.Loggers = mergeMap(ext.Loggers, ov.Loggers)
	byID := map[string]*config.API{}
	var apis []*config.API
	for _, a := range ext.Apis {
		byID[strings.ToLower(a.ID)] = a
		apis = append(apis, a)
	}
	var errs ErrorList
	for _, o := range ov.Apis {
		a := byID[strings.ToLower(o.ID)]
		if a == nil {
			if o.Path == "" && len(o.Operations) == 0 && o.OpenAPI == "" {
				// Neither a new API nor an override of one: a typo.
				errs = append(errs, &Error{File: abs, Resource: fmt.Sprintf("api %q", o.ID),
					Msg: fmt.Sprintf("overrides no API of the extract (its APIs: %s) and is not a complete API", apiIDs(ext.Apis))})
				continue
			}
			apis = append(apis, o)
			continue
		}
		ops := o.Operations
		o.Operations = nil
		mergeFields(a, o)
		a.Operations = mergeOps(a.Operations, ops)
	}
	out.Apis = apis
	subByID := map[string]*config.Subscription{}
	var subs []*config.Subscription
	for _, s := range ext.Subscriptions {
		subByID[strings.ToLower(s.ID)] = s
		subs = append(subs, s)
	}
	for _, o := range ov.Subscriptions {
		if s := subByID[strings.ToLower(o.ID)]; s != nil {
			mergeFields(s, o)
			continue
		}
		subs = append(subs, o)
	}
	out.Subscriptions = subs
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func apiIDs(apis []*config.API) string {
	ids := make([]string, 0, len(apis))
	for _, a := range apis {
		ids = append(ids, a.ID)
	}
	if len(ids) > 12 {
		ids = append(ids[:12], "...")
	}
	return strings.Join(ids, ", ")
}

// mergeMap merges the overlay's resources over the extract's by id.
func mergeMap[T any](ext, ov map[string]*T) map[string]*T {
	if len(ext) == 0 && len(ov) == 0 {
		return nil
	}
	out := map[string]*T{}
	for k, v := range ext {
		out[k] = v
	}
	for k, v := range ov {
		if e := out[k]; e != nil && v != nil {
			mergeFields(e, v)
			continue
		}
		out[k] = v
	}
	return out
}

func mergeOps(ext, ov []*config.Operation) []*config.Operation {
	byID := map[string]*config.Operation{}
	for _, o := range ext {
		byID[strings.ToLower(o.ID)] = o
	}
	for _, o := range ov {
		if e := byID[strings.ToLower(o.ID)]; e != nil {
			mergeFields(e, o)
			continue
		}
		ext = append(ext, o)
	}
	return ext
}

// mergeFields copies every field src sets (not the zero value) into dst.
func mergeFields[T any](dst, src *T) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := 0; i < s.NumField(); i++ {
		if f := s.Field(i); !f.IsZero() && d.Field(i).CanSet() {
			d.Field(i).Set(f)
		}
	}
}
