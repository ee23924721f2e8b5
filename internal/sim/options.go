package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// settings is everything `apimgw simulate` can be told, by flags or by a
// scenario file: the Scenario plus how to report it.
type settings struct {
	Scenario Scenario
	Compare  bool
	Format   string
	LogPath  string // gateway log replayed by arrivals/latency-dist "log"
}

// Report formats.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatHTML = "html"
)

func defaultSettings() settings {
	return settings{Scenario: DefaultScenario(), Format: FormatText}
}

// option is one setting, spelled the same as a flag (--name) and as a
// scenario file key (name:).
type option struct {
	name   string
	usage  string
	isBool bool
	set    func(st *settings, v string) error
}

func floatOpt(name, usage string, field func(*settings) *float64) option {
	return option{name: name, usage: usage, set: func(st *settings, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !finite(f) {
			return fmt.Errorf("%q is not a number", v)
		}
		*field(st) = f
		return nil
	}}
}

func intOpt(name, usage string, field func(*settings) *int) option {
	return option{name: name, usage: usage, set: func(st *settings, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(st) = n
		return nil
	}}
}

func durationOpt(name, usage string, field func(*settings) *time.Duration) option {
	return option{name: name, usage: usage, set: func(st *settings, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 200ms, 30s, 4m)", v)
		}
		*field(st) = d
		return nil
	}}
}

func boolOpt(name, usage string, field func(*settings) *bool) option {
	return option{name: name, usage: usage, isBool: true, set: func(st *settings, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(st) = b
		return nil
	}}
}

func stringOpt(name, usage string, field func(*settings) *string) option {
	return option{name: name, usage: usage, set: func(st *settings, v string) error {
		*field(st) = strings.TrimSpace(v)
		return nil
	}}
}

// options lists every setting, in the order the usage shows them.
func options() []option {
	sc := func(st *settings) *Scenario { return &st.Scenario }
	return []option{
		floatOpt("rate", "request rate, requests/s (the peak for daily arrivals)", func(st *settings) *float64 { return &sc(st).Rate }),
		durationOpt("duration", "simulated time", func(st *settings) *time.Duration { return &sc(st).Duration }),
		stringOpt("arrivals", "arrival pattern: constant, poisson, bursts, daily or log", func(st *settings) *string { return &sc(st).Arrivals }),
		floatOpt("burst-rate", "request rate during bursts, requests/s", func(st *settings) *float64 { return &sc(st).BurstRate }),
		durationOpt("burst-every", "time from one burst's start to the next", func(st *settings) *time.Duration { return &sc(st).BurstEvery }),
		durationOpt("burst-length", "length of each burst", func(st *settings) *time.Duration { return &sc(st).BurstLength }),
		floatOpt("daily-min", "daily arrivals: rate at 04:00 as a fraction of the 16:00 peak", func(st *settings) *float64 { return &sc(st).DailyMin }),
		stringOpt("log", "gateway log (JSON lines) replayed by arrivals/latency-dist log", func(st *settings) *string { return &st.LogPath }),
		durationOpt("latency", "mean backend latency", func(st *settings) *time.Duration { return &sc(st).Latency }),
		stringOpt("latency-dist", "latency distribution: fixed, lognormal or log", func(st *settings) *string { return &sc(st).LatencyDist }),
		floatOpt("latency-sigma", "log-normal shape (standard deviation of ln latency)", func(st *settings) *float64 { return &sc(st).LatencySigma }),
		intOpt("units", "gateway units sharing the traffic", func(st *settings) *int { return &sc(st).Units }),
		intOpt("ports-per-unit", "SNAT ports per unit per destination IP:port", func(st *settings) *int { return &sc(st).PortsPerUnit }),
		durationOpt("reclaim", "how long a closed connection's port stays taken", func(st *settings) *time.Duration { return &sc(st).Reclaim }),
		boolOpt("pooling", "reuse keep-alive connections", func(st *settings) *bool { return &sc(st).Pooling }),
		intOpt("max-conns", "pooled connections per unit per destination (0 = unbounded)", func(st *settings) *int { return &sc(st).MaxConns }),
		durationOpt("idle-timeout", "close a pooled connection idle this long", func(st *settings) *time.Duration { return &sc(st).IdleTimeout }),
		intOpt("backend-ips", "destination IP:ports the backend spreads over", func(st *settings) *int { return &sc(st).BackendIPs }),
		intOpt("nat-gateway-ips", "public IPs of a NAT gateway (0 = none; 64,512 ports each)", func(st *settings) *int { return &sc(st).NATGatewayIPs }),
		durationOpt("nat-idle-timeout", "NAT gateway TCP idle timeout", func(st *settings) *time.Duration { return &sc(st).NATIdleTimeout }),
		floatOpt("cache-hit-ratio", "fraction of requests answered from the cache", func(st *settings) *float64 { return &sc(st).CacheHitRatio }),
		floatOpt("rate-limit", "requests/s allowed over a sliding second (0 = none)", func(st *settings) *float64 { return &sc(st).RateLimit }),
		durationOpt("timeout", "forward-request timeout (wait for a connection, and the call)", func(st *settings) *time.Duration { return &sc(st).Timeout }),
		intOpt("retries", "retries of a call that failed to connect or timed out", func(st *settings) *int { return &sc(st).Retries }),
		durationOpt("retry-interval", "wait before each retry", func(st *settings) *time.Duration { return &sc(st).RetryInterval }),
		intOpt("breaker-failures", "failed calls per unit that trip the circuit breaker (0 = none)", func(st *settings) *int { return &sc(st).BreakerFailures }),
		durationOpt("breaker-interval", "circuit breaker's failure-counting window", func(st *settings) *time.Duration { return &sc(st).BreakerInterval }),
		durationOpt("breaker-trip", "how long a tripped breaker rejects calls", func(st *settings) *time.Duration { return &sc(st).BreakerTrip }),
		durationOpt("step", "simulation time step (0 = automatic)", func(st *settings) *time.Duration { return &sc(st).Step }),
		option{name: "seed", usage: "random seed for arrivals", set: func(st *settings, v string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			st.Scenario.Seed = n
			return nil
		}},
		boolOpt("compare", "run the scenario under each mitigation and rank them", func(st *settings) *bool { return &st.Compare }),
		stringOpt("format", "report format: text, json or html", func(st *settings) *string { return &st.Format }),
	}
}

// position is where a scenario file set an option.
type position struct{ line, col int }

// scenarioFile is a parsed scenario file: the values it sets, by option
// name, and where.
type scenarioFile struct {
	path   string
	values map[string]string
	pos    map[string]position
	order  []string
}

// parseScenarioFile reads a YAML scenario: one mapping whose keys are
// option names and whose values are scalars. Unknown and repeated keys are
// errors naming their line.
func parseScenarioFile(path string, data []byte, known map[string]option) (*scenarioFile, error) {
	sf := &scenarioFile{path: path, values: map[string]string{}, pos: map[string]position{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return sf, nil // empty file: all defaults
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d:%d: only one YAML document is allowed", path, extra.Line, extra.Column)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return sf, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return sf, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: a scenario is a mapping of option: value", path, root.Line, root.Column)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d:%d: keys must be option names", path, k.Line, k.Column)
		}
		name := k.Value
		if _, ok := known[name]; !ok {
			return nil, fmt.Errorf("%s:%d:%d: unknown key %q", path, k.Line, k.Column, name)
		}
		if p, dup := sf.pos[name]; dup {
			return nil, fmt.Errorf("%s:%d:%d: %s is already set on line %d", path, k.Line, k.Column, name, p.line)
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, fmt.Errorf("%s:%d:%d: %s needs a single value", path, v.Line, v.Column, name)
		}
		sf.values[name] = v.Value
		sf.pos[name] = position{v.Line, v.Column}
		sf.order = append(sf.order, name)
	}
	return sf, nil
}

// apply sets the file's values on st; relative log paths are resolved
// against the file's directory.
func (sf *scenarioFile) apply(st *settings, known map[string]option) error {
	for _, name := range sf.order {
		v := sf.values[name]
		if name == "log" && v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(filepath.Dir(sf.path), v)
		}
		if err := known[name].set(st, v); err != nil {
			p := sf.pos[name]
			return fmt.Errorf("%s:%d:%d: %s: %w", sf.path, p.line, p.col, name, err)
		}
	}
	return nil
}
