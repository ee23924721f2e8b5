package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const corpusDir = "../../../shared/apim-policy-corpus"

// corpusFiles returns every policy file of the shared corpus, deduplicated
// by content.
func corpusFiles(t testing.TB) map[string][]byte {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("policy corpus not found at %s: %v", corpusDir, err)
	}
	files := map[string][]byte{}
	seen := map[string]bool{}
	filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key := strings.Join(strings.Fields(string(src)), " ")
		if seen[key] {
			return nil
		}
		seen[key] = true
		files[path] = src
		return nil
	})
	return files
}

// deploymentPlaceholder matches the template placeholders of deployment
// tools found in the corpus (#host#, {retry-count}, __REDIRECT_URI__,
// ${var}, RETRY_COUNT): not APIM syntax, substituted before deployment.
var deploymentPlaceholder = regexp.MustCompile(`#[\w{}-]+#|"\{[\w-]+\}"|__[A-Z_]+__|\$\{|\b[A-Z]+_[A-Z_]+\b|\{[a-z]+[-_][\w-]*\}`)

// allUnsupported reports whether every error names something apimgw rejects
// on purpose.
func allUnsupported(errs []error) bool {
	for _, e := range errs {
		if m := e.Error(); !strings.Contains(m, "is not supported") && !strings.Contains(m, "unsupported C# construct") {
			return false
		}
	}
	return true
}

var (
	hashPlaceholder  = regexp.MustCompile(`#\{?([A-Za-z][\w-]*)\}?#`)
	wholePlaceholder = regexp.MustCompile(`([">])\{([\w-]+)\}(["<])`)
	dunderName       = regexp.MustCompile(`__([A-Z][A-Z_]*[A-Z])__`)
	dollarBrace      = regexp.MustCompile(`\$\{([A-Za-z][\w-]*)\}`)
	upperSnake       = regexp.MustCompile(`([">])[A-Z]{2,}(?:_[A-Z]+)+(["<])`)
)

// deploy replaces the placeholders of the deployment tools found in the
// corpus (#name#, #{name}#, "{name-with-dash}", __NAME__, ${name},
// "UPPER_SNAKE") by a value of the kind the name suggests, as the deployment
// pipeline would before installing the policy.
func deploy(src []byte) []byte {
	value := func(name string, afterScheme bool) string {
		n := strings.ToLower(name)
		switch {
		case strings.Contains(n, "url") || strings.Contains(n, "host") || strings.Contains(n, "endpoint") || strings.Contains(n, "uri"):
			if afterScheme {
				return "deployed.invalid"
			}
			return "https://deployed.invalid"
		case strings.Contains(n, "key") || strings.Contains(n, "secret"):
			return "ZGVwbG95ZWQtcGxhY2Vob2xkZXIta2V5LTAwMDAwMDA="
		}
		return "1"
	}
	s := string(src)
	s = hashPlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.Index(s, m)
		return value(hashPlaceholder.FindStringSubmatch(m)[1], i >= 3 && strings.HasSuffix(s[:i], "://"))
	})
	s = wholePlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		g := wholePlaceholder.FindStringSubmatch(m)
		return g[1] + value(g[2], false) + g[3]
	})
	s = dunderName.ReplaceAllStringFunc(s, func(m string) string { return value(dunderName.FindStringSubmatch(m)[1], false) })
	s = dollarBrace.ReplaceAllStringFunc(s, func(m string) string { return value(dollarBrace.FindStringSubmatch(m)[1], false) })
	s = upperSnake.ReplaceAllString(s, "${1}1${2}")
	return []byte(s)
}

// errorLine returns the source line a positioned error points at.
func errorLine(src []byte, err error) string {
	var line int
	msg := err.Error()
	for _, part := range strings.Split(msg, ":") {
		if n, convErr := strconv.Atoi(part); convErr == nil {
			line = n
			break
		}
	}
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}

// corpusFloor is the least share of the corpus that must compile as
// written, deployedFloor after deployment substitution.
const (
	corpusFloor   = 0.83
	deployedFloor = 0.90
)

// knownInvalid lists the corpus files that fail for a reason other than an
// unsupported (Azure-only) policy or construct, after deployment
// substitution: files APIM itself would reject, deployment templates whose
// placeholders sit inside C# code, and one gap. A new failure outside this
// list and outside the unsupported ones fails the test.
var knownInvalid = map[string]string{
	"AI-Gateway/labs/finops-framework/policy.xml":                                                                      "a deployment template: <choose> holds the placeholder {product-token-limits}",
	"AI-Gateway/labs/ghcp-byok-foundry/entra-policy.xml":                                                               "a deployment placeholder {group-id} inside C# code",
	"Apim-Samples/samples/inference-failover/apim-policies/inference-api-policy-with-retry-tracked.xml":                "a deployment placeholder RETRY_COUNT inside C# code",
	"Apim-Samples/samples/inference-failover/apim-policies/inference-api-policy.xml":                                   "a deployment placeholder RETRY_COUNT inside C# code",
	"Apim-Samples/samples/load-balancing/apim-policies/aca-backend-pool-load-balancing-with-retry-tracked.xml":         "invalid C#: a string in a character literal",
	"ai-hub-gateway-solution-accelerator/infra/modules/apim/policies/frag-llm-usage.xml":                               "not well-formed XML (mismatched end tag)",
	"api-management-policy-snippets/examples/Call out to an HTTP endpoint and cache the response.policy.xml":           "not well-formed (unterminated expression)",
	"api-management-policy-snippets/examples/DELETE a from to blobStorage account.xml":                                 "invalid C#: MatchedParameters called as a method",
	"api-management-policy-snippets/examples/Extracting multiple values from xml documents.policy.xml":                 "invalid Liquid: escaped quotes inside a Liquid tag",
	"api-management-policy-snippets/examples/Filter response content based on product name.policy.xml":                 "not well-formed XML ('--' inside a comment)",
	"api-management-policy-snippets/examples/GET a file from blobStorage account.xml":                                  "invalid C#: MatchedParameters called as a method",
	"api-management-policy-snippets/examples/Generate Azure Relay Token.policy.xml":                                    "an empty base-url left for the user to fill in",
	"api-management-policy-snippets/examples/Loopback request for service at same API Management service.xml":          "mangled C# (\"scheme=\"\" param=\"\"\" inside a call)",
	"api-management-policy-snippets/examples/PUT a file to blobStorage account.xml":                                    "invalid C#: MatchedParameters called as a method",
	"api-management-policy-snippets/examples/Pre-authorize requests based on HTTP method with validate-jwt.policy.xml": "mangled C# (\"patch=\"\"\" inside a call)",
	"azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/azure-openai-token-limit.xml":                  "test data with a misspelled attribute (estimate-prompt-token)",
	"azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/cache-value.xml":                               "test data: <cache-value> is not an APIM policy",
	"azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/invoke-darp-binding.xml":                       "test data: invoke-darp-binding is a misspelling of invoke-dapr-binding",
	"azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/llm-token-limit.xml":                           "test data with a misspelled attribute (estimate-prompt-token)",
	"azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/publish-to-darp.xml":                           "test data: publish-to-darp is a misspelling of publish-to-dapr",
	"ronaldbosma__call-apim-backend-with-oauth/src/apis/unprotected-api/send-request-with-certificate.xml":             "reads X509Certificate2.RawData, which apimgw's certificates do not expose",
}

// TestCorpus compiles every unique corpus file standalone (named values and
// fragments accepted as placeholders) and reports how many compile cleanly
// and why the others fail. It fails only on a panic (which aborts the test).
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ok := 0
	reasons := map[string]int{}
	var failures []string
	var azureOnly, placeholders, other int
	for _, p := range paths {
		c := &Compiler{AnyNamedValue: true}
		c.CompileDocument(p, files[p])
		errs := c.Errors()
		if len(errs) == 0 {
			ok++
			continue
		}
		for _, e := range errs {
			msg := e.Error()
			if i := strings.Index(msg, ": "); i >= 0 {
				msg = msg[strings.LastIndex(msg[:i+2], ":")+1:]
			}
			key := strings.TrimSpace(msg)
			if len(key) > 90 {
				key = key[:90]
			}
			reasons[key]++
		}
		failures = append(failures, fmt.Sprintf("%s: %v", strings.TrimPrefix(p, corpusDir+"/"), errs[0]))
		switch first := errs[0].Error(); {
		case strings.Contains(first, "is not supported") || strings.Contains(first, "unsupported C# construct"):
			azureOnly++
		case deploymentPlaceholder.MatchString(first) || deploymentPlaceholder.MatchString(errorLine(files[p], errs[0])):
			placeholders++
		default:
			other++
		}
	}
	ratio := float64(ok) / float64(len(paths))
	t.Logf("corpus: %d of %d unique files compile (%.1f%%); failing: %d name an unsupported (Azure-only) policy or construct, %d hold deployment-template placeholders, %d other",
		ok, len(paths), 100*ratio, azureOnly, placeholders, other)

	// The same files as a deployment would install them: the deployment
	// tool's placeholders replaced by values of the right kind.
	deployedOK, unsupportedOnly := 0, 0
	var others []string
	for _, p := range paths {
		c := &Compiler{AnyNamedValue: true}
		c.CompileDocument(p, deploy(files[p]))
		errs := c.Errors()
		switch {
		case len(errs) == 0:
			deployedOK++
		case allUnsupported(errs):
			unsupportedOnly++
		default:
			others = append(others, fmt.Sprintf("%s: %v", strings.TrimPrefix(p, corpusDir+"/"), errs[0]))
		}
	}
	t.Logf("corpus after deployment substitution: %d of %d compile (%.1f%%); %d fail only on unsupported (Azure-only) policies or constructs; %d other",
		deployedOK, len(paths), 100*float64(deployedOK)/float64(len(paths)), unsupportedOnly, len(others))
	for _, o := range others {
		t.Log("  other: " + o)
	}
	deployedRatio := float64(deployedOK) / float64(len(paths))
	if deployedRatio < deployedFloor {
		t.Errorf("after deployment substitution only %.1f%% of the corpus compiles, below the %.0f%% floor", 100*deployedRatio, 100*deployedFloor)
	}
	for _, o := range others {
		file, _, _ := strings.Cut(o, ": ")
		if _, known := knownInvalid[file]; !known {
			t.Errorf("a corpus file fails for a reason that is neither an unsupported policy nor a known invalid file: %s", o)
		}
	}
	// A floor, so that a regression in the policy engine fails the build.
	if ratio < corpusFloor {
		t.Errorf("only %.1f%% of the corpus compiles, below the %.0f%% floor", 100*ratio, 100*corpusFloor)
	}
	type kv struct {
		k string
		n int
	}
	var top []kv
	for k, n := range reasons {
		top = append(top, kv{k, n})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || top[i].n == top[j].n && top[i].k < top[j].k })
	for i, r := range top {
		if i == 40 {
			break
		}
		t.Logf("%4d  %s", r.n, r.k)
	}
	if testing.Verbose() {
		for _, f := range failures {
			t.Log(f)
		}
	}
}
