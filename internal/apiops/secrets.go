package apiops

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apimgw/apimgw/internal/config"
)

// Environment variables and secret file names (docs/apiops.md).
const (
	EnvSecretsDir       = "APIMGW_SECRETS_DIR"
	EnvNamedValuePrefix = "APIMGW_NAMED_VALUE_"
	EnvSubscriptionPref = "APIMGW_SUBSCRIPTION_"
)

// NamedValueEnv is the environment variable that gives a named value.
func NamedValueEnv(displayName string) string { return EnvNamedValuePrefix + envName(displayName) }

// SubscriptionKeyEnv is the environment variable that gives a
// subscription's key (which "PRIMARY" or "SECONDARY").
func SubscriptionKeyEnv(id, which string) string {
	return EnvSubscriptionPref + envName(id) + "_" + which + "_KEY"
}

// SubscriptionKeyFile is the file of the secrets folder that gives a
// subscription's key (which "primaryKey" or "secondaryKey").
func SubscriptionKeyFile(id, which string) string { return "subscription." + id + "." + which }

// secrets fills the secret named values and subscription keys the extract
// cannot hold from the overlay (already merged), the environment or the
// secrets folder; with o.Placeholders, from placeholders. Every one still
// missing is reported in one error.
func (c *converter) secrets(cfg *config.Config, o Options, res *Result) error {
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	dir := o.SecretsDir
	if dir == "" {
		dir, _ = lookup(EnvSecretsDir)
	}
	fromFile := func(name string) (string, bool) {
		if dir == "" || name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return "", false
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", false
		}
		return strings.TrimRight(string(b), "\r\n"), true
	}
	find := func(env, file string) (string, bool) {
		if v, ok := lookup(env); ok {
			return v, true
		}
		return fromFile(file)
	}
	var missing []string
	names := make([]string, 0, len(c.secretNV))
	for n := range c.secretNV {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := cfg.NamedValues[name]; ok {
			continue // the overlay gives it
		}
		if v, ok := find(NamedValueEnv(name), name); ok {
			cfg.NamedValues[name] = v
			continue
		}
		r := c.secretNV[name]
		if !c.refs[name] {
			c.x.ignore(r.dir, "secret named value", name, "no policy, fragment or backend references it, so no value is needed")
			continue
		}
		if o.Placeholders {
			v := placeholderValue(name)
			cfg.NamedValues[name] = v
			res.Placeholders = append(res.Placeholders, Placeholder{Kind: "named value", Name: name, Value: v})
			continue
		}
		missing = append(missing, fmt.Sprintf("  named value %q (%s): overlay namedValues: {%q: ...}, env %s, or file %s",
			name, r.file, name, NamedValueEnv(name), filepath.Join(orDefault(dir), name)))
	}
	kept := cfg.Subscriptions[:0]
	for _, s := range cfg.Subscriptions {
		if s.SecondaryKey == "" {
			if v, ok := find(SubscriptionKeyEnv(s.ID, "SECONDARY"), SubscriptionKeyFile(s.ID, "secondaryKey")); ok {
				s.SecondaryKey = v
			}
		}
		if s.PrimaryKey == "" {
			if v, ok := find(SubscriptionKeyEnv(s.ID, "PRIMARY"), SubscriptionKeyFile(s.ID, "primaryKey")); ok {
				s.PrimaryKey = v
			}
		}
		if s.PrimaryKey == "" {
			file := c.subFiles[s.ID]
			switch {
			case s.State != "" && !strings.EqualFold(s.State, "active"):
				c.x.ignore(file, "subscription", s.ID, "state "+s.State+" and no key given: nobody can call with it")
				continue
			case o.Placeholders:
				s.PrimaryKey = PlaceholderMark + "-key-" + s.ID
				res.Placeholders = append(res.Placeholders, Placeholder{Kind: "subscription key", Name: s.ID, Value: s.PrimaryKey})
			default:
				missing = append(missing, fmt.Sprintf("  subscription %q primary key (%s): overlay subscriptions: [{id: %s, primaryKey: ...}], env %s, or file %s",
					s.ID, file, s.ID, SubscriptionKeyEnv(s.ID, "PRIMARY"), filepath.Join(orDefault(dir), SubscriptionKeyFile(s.ID, "primaryKey"))))
			}
		}
		kept = append(kept, s)
	}
	cfg.Subscriptions = kept
	if len(missing) > 0 {
		return &Error{File: c.x.root, Msg: fmt.Sprintf("%d secret(s) missing: an extract holds no secret named value nor subscription key. Give each in the overlay (-c), in an environment variable, or in a file of the secrets folder (--secrets-dir or $%s, a mounted Kubernetes Secret); --secrets=placeholder fills them for a dry run:\n%s",
			len(missing), EnvSecretsDir, strings.Join(missing, "\n"))}
	}
	return nil
}

func orDefault(dir string) string {
	if dir == "" {
		return "$" + EnvSecretsDir
	}
	return dir
}

// placeholderValue is a placeholder for a named value: a URL for names
// that look like one, else a token.
func placeholderValue(name string) string {
	n := strings.ToLower(name)
	if strings.Contains(n, "url") || strings.Contains(n, "uri") || strings.Contains(n, "endpoint") || strings.Contains(n, "host") {
		return "https://" + PlaceholderMark + ".invalid"
	}
	return PlaceholderMark + "-" + envName(name)
}
