package policy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

// Step is one compiled policy. Run returns nil to continue, errResponded to
// stop with the response in State, or an error that sends the request to
// on-error.
type Step interface {
	Run(st *State) error
}

// node is a compiled step with what error reports need to know about it.
type node struct {
	step Step
	name string // element name, e.g. "set-header"
	path string // position in the section, e.g. "choose[1]/when[1]/set-header[2]"
	id   string // the policy's id attribute, if any
	// scope is the scope (global, product, api, operation) whose document
	// holds a top-level step of a composed pipeline: context.LastError.Scope.
	scope string
}

// steps is an ordered chain of compiled policies.
type steps []node

// run executes the chain, attributing a failure to the step that raised it.
func (ss steps) run(st *State) error {
	for i := range ss {
		if err := ss[i].step.Run(st); err != nil {
			return ss[i].attribute(st, err)
		}
	}
	return nil
}

func (n *node) attribute(st *State, err error) error {
	if err == errResponded {
		return err
	}
	var pe *Error
	var rbe *expr.RequestBodyError
	if errors.As(err, &rbe) {
		// Whichever policy or expression read it, a request body that
		// could not be read is the client's fault.
		msg := "reading the request body failed"
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		pe = requestBodyError(msg, err)
	} else if !errors.As(err, &pe) {
		pe = &Error{Reason: ReasonExpressionFailure, Message: err.Error(), Err: err}
		var re *expr.RuntimeError
		if !errors.As(err, &re) {
			pe.Reason = "PolicyError"
		}
	}
	if pe.Source == "" {
		pe.Source = n.name
	}
	if pe.Section == "" {
		pe.Section = st.Section
	}
	if pe.Path == "" {
		pe.Path = n.path
	}
	if pe.PolicyID == "" {
		pe.PolicyID = n.id
	}
	if pe.Scope == "" {
		pe.Scope = n.scope
	}
	return pe
}

// baseStep marks where the next outer scope's section is spliced in.
type baseStep struct{}

func (baseStep) Run(*State) error { return nil }

// Section indexes.
const (
	secInbound = iota
	secBackend
	secOutbound
	secOnError
	numSections
)

var sectionNames = [numSections]string{SectionInbound, SectionBackend, SectionOutbound, SectionOnError}

// Scope is one compiled policy document (global, product, API or
// operation). A section that is absent behaves as <base/>.
type Scope struct {
	Name     string // "global", "product", "api", "operation"
	File     string
	sections [numSections]steps
	present  [numSections]bool
	// used holds the names of the policies the document uses, those of the
	// fragments it includes too.
	used map[string]bool
}

// Uses reports whether the document (or a fragment it includes) holds the
// policy element name anywhere, in any section.
func (s *Scope) Uses(name string) bool { return s != nil && s.used[name] }

// Pipeline is the composed policy of one operation for one product: the
// steps of each section with every <base/> resolved.
type Pipeline struct {
	sections [numSections]steps
}

// platform is the implicit scope above global: the backend section forwards.
func platformScope() *Scope {
	s := &Scope{Name: "platform"}
	s.sections[secBackend] = steps{{step: &forwardRequest{timeout: defaultForwardTimeout}, name: "forward-request", path: "forward-request[1]"}}
	for i := range s.present {
		s.present[i] = true
	}
	return s
}

// Compose builds the pipeline of scopes ordered outermost (global) first;
// nil scopes are skipped.
func Compose(scopes ...*Scope) *Pipeline {
	p := &Pipeline{}
	p.sections = platformScope().sections
	for i := range p.sections {
		for j := range p.sections[i] {
			p.sections[i][j].scope = lastErrorScope("platform")
		}
	}
	for _, s := range scopes {
		if s == nil {
			continue
		}
		for i := 0; i < numSections; i++ {
			if !s.present[i] {
				continue
			}
			var out steps
			for _, n := range s.sections[i] {
				if _, ok := n.step.(baseStep); ok {
					out = append(out, p.sections[i]...)
					continue
				}
				n.scope = lastErrorScope(s.Name)
				out = append(out, n)
			}
			p.sections[i] = out
		}
	}
	return p
}

// lastErrorScope is the context.LastError.Scope of a step of a scope's
// document: the default forward-request of the implicit platform scope is
// APIM's global policy.
func lastErrorScope(name string) string {
	if name == "platform" {
		return "global"
	}
	return name
}

// Len returns the number of top-level steps per section (for tests and docs).
func (p *Pipeline) Len(section string) int {
	for i, n := range sectionNames {
		if n == section {
			return len(p.sections[i])
		}
	}
	return 0
}

// Compiler turns policy files into Scopes. One Compiler compiles one
// configuration; it collects every error instead of stopping at the first.
type Compiler struct {
	// NamedValues are substituted for {{name}} before parsing.
	NamedValues map[string]string
	// FragmentsDir holds policy fragments, <id>.xml each.
	FragmentsDir string
	// FragmentFiles maps fragment ids to files, looked up before
	// FragmentsDir.
	FragmentFiles map[string]string
	// Sources holds the content of policy and fragment files by path,
	// used instead of reading the file (a policy given by an override).
	Sources map[string][]byte
	// AnyNamedValue accepts every {{name}} that NamedValues lacks, putting a
	// placeholder value in its place (for linting policies standalone).
	AnyNamedValue bool
	// BackendExists reports whether backend-id names a configured backend;
	// nil accepts any id.
	BackendExists func(id string) bool
	// Certificates are the configured client certificates that
	// authentication-certificate may name; nil accepts any.
	Certificates *Certificates

	errs      []error
	fragments map[string]*fragment

	// Linting (AnyNamedValue): what could not be checked, and the
	// placeholder variant and substitutions of this compilation.
	neededFragments []string
	neededNamed     []string
	variant         int
	subst           map[string]substitution
}

type fragment struct {
	steps   steps
	loading bool
	err     bool
	used    map[string]bool
}

// Errors returns every error collected so far.
func (c *Compiler) Errors() []error { return c.errs }

func (c *Compiler) errorAt(file string, pos policyxml.Pos, format string, args ...any) {
	c.errs = append(c.errs, &CompileError{File: file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)})
}

// CompileError is a policy problem found at load time.
type CompileError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *CompileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// CompileFile reads and compiles one policy document of the given scope.
func (c *Compiler) CompileFile(scope, path string) *Scope {
	src, err := c.readFile(path)
	if err != nil {
		c.errs = append(c.errs, &CompileError{File: path, Msg: fmt.Sprintf("read policy: %v", err)})
		return nil
	}
	return c.Compile(scope, path, src)
}

// Compile compiles the policy document src (read from file) for scope.
func (c *Compiler) Compile(scope, file string, src []byte) *Scope {
	doc := c.parse(file, src)
	if doc == nil {
		return nil
	}
	return c.compileDoc(scope, file, doc)
}

func (c *Compiler) compileDoc(scope, file string, doc *policyxml.Document) *Scope {
	before := len(c.errs)
	s := &Scope{Name: scope, File: file, used: map[string]bool{}}
	if len(doc.Roots) != 1 || doc.Roots[0].Name != "policies" {
		pos := policyxml.Pos{Line: 1, Col: 1}
		if len(doc.Roots) > 0 {
			pos = doc.Roots[0].Pos
		}
		c.errorAt(file, pos, "a policy document must have one <policies> root element")
		return nil
	}
	root := doc.Roots[0]
	for _, el := range root.Elements() {
		idx := -1
		for i, n := range sectionNames {
			if el.Name == n {
				idx = i
			}
		}
		if idx < 0 {
			c.errorAt(file, el.Pos, "unknown section <%s> (want inbound, backend, outbound or on-error)", el.Name)
			continue
		}
		if s.present[idx] {
			c.errorAt(file, el.Pos, "duplicate section <%s>", el.Name)
			continue
		}
		s.present[idx] = true
		b := &builder{c: c, file: file, section: el.Name, scope: scope, target: sectionTarget(el.Name), used: s.used}
		s.sections[idx] = b.steps(el, "", true)
	}
	if len(c.errs) > before {
		return nil
	}
	return s
}

// placeholder stands for a named value whose value is unknown while
// linting: a URL for names that look like one, a base64 key for keys and
// secrets, else a number (valid in numeric attributes and in expressions).
func placeholder(name string, src []byte) string {
	if inCode(src, "{{"+name+"}}") {
		return "1"
	}
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "url") || strings.Contains(n, "uri") || strings.Contains(n, "endpoint") || strings.Contains(n, "host"):
		return "https://namedvalue.invalid"
	case strings.Contains(n, "key") || strings.Contains(n, "secret"):
		return "bmFtZWQtdmFsdWUtcGxhY2Vob2xkZXIta2V5LTAwMDA="
	}
	return "1"
}

// inCode reports whether ref is used as C# code (after =, (, comma, + or
// return) rather than inside a string or an attribute.
func inCode(src []byte, ref string) bool {
	text := string(src)
	for i := strings.Index(text, ref); i >= 0; {
		before := strings.TrimRight(text[:i], " \t\r\n")
		if strings.HasSuffix(before, "return") || before != "" && strings.ContainsRune("=(,+", rune(before[len(before)-1])) {
			return true
		}
		next := strings.Index(text[i+len(ref):], ref)
		if next < 0 {
			break
		}
		i += len(ref) + next
	}
	return false
}

// CompileDocument compiles a policy document, a policy fragment or a
// snippet of policy elements, whichever src holds (for linting files on
// their own). Fragments and snippets are compiled as if in the inbound
// section.
func (c *Compiler) CompileDocument(file string, src []byte) {
	if c.AnyNamedValue {
		c.compileVariants(file, src)
		return
	}
	c.compileDocument(file, src)
}

func (c *Compiler) compileDocument(file string, src []byte) {
	doc := c.parse(file, src)
	if doc == nil {
		return
	}
	if len(doc.Roots) == 1 && doc.Roots[0].Name == "policies" {
		c.compileDoc("api", file, doc)
		return
	}
	b := &builder{c: c, file: file, section: SectionInbound, scope: "fragment", target: targetRequest, used: map[string]bool{}}
	if len(doc.Roots) == 1 && doc.Roots[0].Name == "fragment" {
		b.steps(doc.Roots[0], "", false)
		return
	}
	for _, root := range doc.Roots {
		if root.Name == "policies" || root.Name == "fragment" {
			c.errorAt(file, root.Pos, "<%s> must be the only root element", root.Name)
			return
		}
	}
	b.steps(&policyxml.Element{Name: "snippet", Children: rootNodes(doc.Roots)}, "", false)
}

func rootNodes(roots []*policyxml.Element) []policyxml.Node {
	out := make([]policyxml.Node, len(roots))
	for i, r := range roots {
		out[i] = r
	}
	return out
}

func (c *Compiler) parse(file string, src []byte) *policyxml.Document {
	if bytes.Contains(src, []byte("{{")) {
		values := c.NamedValues
		if c.AnyNamedValue {
			values = maps.Clone(values)
			if values == nil {
				values = map[string]string{}
			}
			unknown := false
			for _, name := range policyxml.NamedValues(src) {
				if _, ok := values[name]; !ok {
					values[name] = placeholderVariant(name, src, c.variant)
					c.needNamed(name)
					unknown = true
				}
			}
			if unknown {
				if c.subst == nil {
					c.subst = map[string]substitution{}
				}
				c.subst[file] = substitution{src: src, values: values}
			}
		}
		out, err := policyxml.Substitute(src, values)
		if err != nil {
			var list policyxml.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					e.Filename = file
					c.errs = append(c.errs, e)
				}
			} else {
				c.errs = append(c.errs, fmt.Errorf("%s: %w", file, err))
			}
			return nil
		}
		src = out
	}
	doc, err := policyxml.Parse(file, src)
	if err != nil {
		c.errs = append(c.errs, err)
		return nil
	}
	return doc
}

// readFile returns the content of a policy file: Sources's, else the
// file's.
func (c *Compiler) readFile(path string) ([]byte, error) {
	if src, ok := c.Sources[path]; ok {
		return src, nil
	}
	return os.ReadFile(path)
}

// fragment compiles (once) and returns the fragment with the given id.
func (c *Compiler) fragment(b *builder, id string, pos policyxml.Pos) steps {
	if c.fragments == nil {
		c.fragments = map[string]*fragment{}
	}
	key := id + "\x00" + b.section
	if f, ok := c.fragments[key]; ok {
		if f.loading {
			b.errorf(pos, "include-fragment %q includes itself", id)
			return nil
		}
		b.markUsed(f.used)
		return f.steps
	}
	path, mapped := c.FragmentFiles[id]
	if !mapped && c.FragmentsDir == "" {
		if c.AnyNamedValue {
			// Linting a policy on its own without a fragments folder: the
			// fragment cannot be checked; NeededFragments lists it.
			c.needFragment(id)
			return nil
		}
		b.errorf(pos, "include-fragment %q: no fragments folder configured (set fragments: in gateway.yaml)", id)
		return nil
	}
	if !mapped && (strings.ContainsAny(id, `/\`) || id == "" || id == "." || id == "..") {
		b.errorf(pos, "include-fragment: invalid fragment-id %q", id)
		return nil
	}
	if !mapped {
		path = filepath.Join(c.FragmentsDir, id+".xml")
	}
	src, err := c.readFile(path)
	if err != nil {
		b.errorf(pos, "include-fragment %q: %v", id, err)
		return nil
	}
	f := &fragment{loading: true, used: map[string]bool{}}
	c.fragments[key] = f
	before := len(c.errs)
	doc := c.parse(path, src)
	if doc != nil {
		if len(doc.Roots) != 1 || doc.Roots[0].Name != "fragment" {
			c.errorAt(path, policyxml.Pos{Line: 1, Col: 1}, "a policy fragment must have one <fragment> root element")
		} else {
			fb := &builder{c: c, file: path, section: b.section, scope: "fragment", target: b.target, used: f.used}
			f.steps = fb.steps(doc.Roots[0], "", false)
		}
	}
	b.markUsed(f.used)
	f.loading = false
	f.err = len(c.errs) > before
	return f.steps
}

// builder compiles the elements of one section of one file.
type builder struct {
	c       *Compiler
	file    string
	section string
	scope   string
	// target is the message set-header, set-body and friends change.
	target int
	// only restricts the policies allowed (inside return-response, ...).
	only   []string
	onlyIn string
	// used collects the names of the policies compiled (Scope.Uses).
	used map[string]bool
}

func (b *builder) markUsed(names map[string]bool) {
	if b.used == nil {
		return
	}
	for n := range names {
		b.used[n] = true
	}
}

// Message targets of header and body policies.
const (
	targetRequest = iota
	targetResponse
)

func sectionTarget(section string) int {
	if section == SectionOutbound || section == SectionOnError {
		return targetResponse
	}
	return targetRequest
}

func (b *builder) errorf(pos policyxml.Pos, format string, args ...any) {
	b.c.errorAt(b.file, pos, format, args...)
}

// policyDef describes one policy element.
type policyDef struct {
	// sections where the policy may appear; empty means all.
	sections []string
	compile  func(b *builder, el *policyxml.Element, path string) Step
}

// registry maps element names to their compilers. Each policy family's file
// adds its policies in an init function.
var registry = map[string]policyDef{}

func register(name string, sections []string, compile func(b *builder, el *policyxml.Element, path string) Step) {
	registry[name] = policyDef{sections: sections, compile: compile}
}

// unsupported lists APIM policies apimgw deliberately does not run, with the
// reason given to the user.
var unsupported = map[string]string{}

// steps compiles the child elements of parent as a chain.
func (b *builder) steps(parent *policyxml.Element, prefix string, top bool) steps {
	var out steps
	counts := map[string]int{}
	for _, el := range parent.Elements() {
		counts[el.Name]++
		path := fmt.Sprintf("%s%s[%d]", prefix, el.Name, counts[el.Name])
		if el.Name == "base" {
			if !top {
				b.errorf(el.Pos, "<base /> is only allowed directly inside a section")
				continue
			}
			b.noAttrs(el)
			out = append(out, node{step: baseStep{}, name: "base", path: path})
			continue
		}
		if el.Name == "include-fragment" {
			attrs := b.attrs(el, "fragment-id")
			id, ok := attrs["fragment-id"]
			if !ok {
				b.errorf(el.Pos, "<include-fragment> needs fragment-id")
				continue
			}
			out = append(out, b.c.fragment(b, id.Value, el.Pos)...)
			continue
		}
		if b.only != nil && !contains(b.only, el.Name) {
			b.errorf(el.Pos, "<%s> is not allowed in <%s> (allowed: %s)", el.Name, b.onlyIn, strings.Join(b.only, ", "))
			continue
		}
		def, ok := registry[el.Name]
		if !ok {
			if why, known := unsupported[el.Name]; known {
				b.errorf(el.Pos, "policy <%s> is not supported: %s", el.Name, why)
			} else {
				b.errorf(el.Pos, "unknown policy <%s>%s", el.Name, didYouMean(el.Name, policyNames()))
			}
			continue
		}
		if b.used != nil {
			b.used[el.Name] = true
		}
		if len(def.sections) > 0 && !contains(def.sections, b.section) && b.scope != "fragment" {
			b.errorf(el.Pos, "policy <%s> is not allowed in <%s> (allowed in: %s)", el.Name, b.section, strings.Join(def.sections, ", "))
			continue
		}
		if st := def.compile(b, el, path); st != nil {
			id := ""
			if a, ok := el.Attr("id"); ok {
				id = a.Value
			}
			out = append(out, node{step: st, name: el.Name, path: path, id: id})
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attrs returns el's attributes by name, reporting any not in allowed. The
// id attribute is allowed everywhere (APIM uses it for policy ids).
func (b *builder) attrs(el *policyxml.Element, allowed ...string) map[string]policyxml.Attr {
	m := make(map[string]policyxml.Attr, len(el.Attrs))
	for _, a := range el.Attrs {
		if a.Name == "id" || strings.HasPrefix(a.Name, "xmlns") {
			continue
		}
		if !contains(allowed, a.Name) {
			if len(allowed) == 0 {
				b.errorf(a.Pos, "<%s> takes no attributes, got %q", el.Name, a.Name)
			} else {
				b.errorf(a.Pos, "unknown attribute %q on <%s>%s (allowed: %s)", a.Name, el.Name, didYouMean(a.Name, allowed), strings.Join(allowed, ", "))
			}
			continue
		}
		m[a.Name] = a
	}
	return m
}

func (b *builder) noAttrs(el *policyxml.Element) { b.attrs(el) }

// children returns el's child elements, reporting any not in allowed.
func (b *builder) children(el *policyxml.Element, allowed ...string) []*policyxml.Element {
	var out []*policyxml.Element
	for _, c := range el.Elements() {
		if !contains(allowed, c.Name) {
			if len(allowed) == 0 {
				b.errorf(c.Pos, "<%s> takes no child elements, got <%s>", el.Name, c.Name)
			} else {
				b.errorf(c.Pos, "unknown element <%s> in <%s>%s (allowed: %s)", c.Name, el.Name, didYouMean(c.Name, allowed), strings.Join(allowed, ", "))
			}
			continue
		}
		out = append(out, c)
	}
	return out
}

// require reports a missing required attribute.
func (b *builder) require(el *policyxml.Element, attrs map[string]policyxml.Attr, names ...string) bool {
	ok := true
	for _, n := range names {
		if _, has := attrs[n]; !has {
			b.errorf(el.Pos, "<%s> needs attribute %q", el.Name, n)
			ok = false
		}
	}
	return ok
}

// value compiles a literal-or-expression attribute value.
func (b *builder) value(a policyxml.Attr) *expr.Value {
	return b.compileValue(a.Value, a.ValuePos)
}

// textValue compiles an element's text as a literal-or-expression value.
func (b *builder) textValue(el *policyxml.Element) *expr.Value {
	pos := el.Pos
	for _, n := range el.Children {
		if t, ok := n.(*policyxml.Text); ok && strings.TrimSpace(t.Data) != "" {
			pos = t.Pos
			// Report positions from the first non-space character.
			lead := t.Data[:len(t.Data)-len(strings.TrimLeft(t.Data, " \t\r\n"))]
			for _, r := range lead {
				if r == '\n' {
					pos.Line++
					pos.Col = 1
				} else {
					pos.Col++
				}
			}
			break
		}
	}
	return b.compileValue(strings.TrimSpace(el.Text()), pos)
}

func (b *builder) compileValue(s string, pos policyxml.Pos) *expr.Value {
	v, err := expr.CompileValue(s)
	if err != nil {
		var ee *expr.Error
		if errors.As(err, &ee) {
			line, col := pos.Line+ee.Line-1, ee.Col
			if ee.Line == 1 {
				col = pos.Col + ee.Col - 1
			}
			b.c.errorAt(b.file, policyxml.Pos{Line: line, Col: col}, "%s", ee.Msg)
		} else {
			b.errorf(pos, "%v", err)
		}
		return nil
	}
	return v
}

// constBool parses a boolean attribute that must be a literal.
func (b *builder) constBool(a policyxml.Attr, def bool) bool {
	if a.Name == "" {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(a.Value)) {
	case "true":
		return true
	case "false":
		return false
	}
	b.errorf(a.ValuePos, "attribute %q must be true or false, got %q", a.Name, a.Value)
	return def
}

// constInt parses an integer attribute that must be a literal.
func (b *builder) constInt(a policyxml.Attr, def, min, max int) int {
	if a.Name == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(a.Value))
	if err != nil {
		b.errorf(a.ValuePos, "attribute %q must be an integer, got %q", a.Name, a.Value)
		return def
	}
	if n < min || n > max {
		b.errorf(a.ValuePos, "attribute %q must be between %d and %d, got %d", a.Name, min, max, n)
		return def
	}
	return n
}

// seconds parses an attribute in whole seconds.
func (b *builder) seconds(a policyxml.Attr, def time.Duration, max int) time.Duration {
	if a.Name == "" {
		return def
	}
	return time.Duration(b.constInt(a, int(def/time.Second), 0, max)) * time.Second
}

// evalAny evaluates a literal-or-expression value keeping the expression's
// type (a literal is a string).
func evalAny(v *expr.Value, c *expr.Context) (any, error) {
	if v.IsConst() {
		return v.String(c)
	}
	return v.Program().Eval(c)
}

// intValue is an integer attribute that may be a policy expression (APIM
// allows expressions in retry count, rate-limit-by-key calls, timeouts...).
type intValue struct {
	name     string
	n        int
	v        *expr.Value
	min, max int
}

// intAttr compiles an integer attribute: a literal is checked now, an
// expression when it runs.
func (b *builder) intAttr(a policyxml.Attr, def, min, max int) intValue {
	iv := intValue{name: a.Name, n: def, min: min, max: max}
	if a.Name == "" {
		return iv
	}
	if expr.IsExpression(a.Value) {
		iv.v = b.value(a)
		return iv
	}
	iv.n = b.constInt(a, def, min, max)
	return iv
}

// get returns the value for this request.
func (iv intValue) get(st *State) (int, error) {
	if iv.v == nil {
		return iv.n, nil
	}
	n, err := iv.v.Int(&st.X)
	if err != nil {
		return 0, err
	}
	if n < iv.min || n > iv.max {
		return 0, &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("attribute %q must be between %d and %d, got %d", iv.name, iv.min, iv.max, n)}
	}
	return n, nil
}

// isConst reports whether the value is known at load time.
func (iv intValue) isConst() bool { return iv.v == nil }
