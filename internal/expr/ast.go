package expr

// The syntax tree produced by the parser. Every node records the byte offset
// of its first token so compile errors can name line and column.

type node interface{ offset() int }

type typeRef struct {
	pos      int
	name     string     // namespace-stripped name: "string", "JObject", "List"
	args     []*typeRef // generic arguments
	rank     int        // number of [] suffixes
	nullable bool
}

type (
	litExpr struct {
		pos int
		val any
	}
	identExpr struct {
		pos  int
		name string
	}
	memberExpr struct {
		pos      int
		x        node
		name     string
		typeArgs []*typeRef
		nullCond bool
	}
	callExpr struct {
		pos  int
		fn   node // memberExpr or identExpr
		args []argExpr
	}
	indexExpr struct {
		pos      int
		x        node
		args     []node
		nullCond bool
	}
	unaryExpr struct {
		pos int
		op  string
		x   node
	}
	binaryExpr struct {
		pos  int
		op   string
		l, r node
	}
	condExpr struct {
		pos     int
		c, a, b node
	}
	assignExpr struct {
		pos    int
		op     string // "=", "+=", ...
		target node
		value  node
	}
	incDecExpr struct {
		pos    int
		op     string // "++" or "--"
		prefix bool
		x      node
	}
	castExpr struct {
		pos int
		typ *typeRef
		x   node
	}
	isExpr struct {
		pos  int
		x    node
		typ  *typeRef // nil when pattern is a constant (is null)
		lit  node     // constant pattern
		bind string
		not  bool
	}
	asExpr struct {
		pos int
		x   node
		typ *typeRef
	}
	newExpr struct {
		pos      int
		typ      *typeRef // nil for anonymous object / implicit array
		args     []argExpr
		hasArgs  bool
		arrayLen node   // new T[n]
		elems    []node // collection / array initializer elements
		hasInit  bool
		fields   []fieldInit // object initializer (named members)
		anon     bool
		implicit bool // new[] { ... }
	}
	lambdaExpr struct {
		pos    int
		params []string
		body   node // expression or *blockStmt
	}
	interpExpr struct {
		pos   int
		parts []interpHole
	}
	defaultExpr struct {
		pos int
		typ *typeRef // nil for "default" literal
	}
	typeofExpr struct {
		pos int
		typ *typeRef
	}
	// initPair is a { key, value } element of a collection initializer.
	initPair struct {
		pos   int
		items []node
	}
	// indexInit is a [key] = value element of an object initializer.
	indexInit struct {
		pos   int
		key   node
		value node
	}
	throwExpr struct {
		pos int
		x   node
	}
)

type argExpr struct {
	name   string // named argument
	out    bool
	outVar string   // out var name (declared)
	outTyp *typeRef // declared type for out T name
	x      node
}

type fieldInit struct {
	pos   int
	name  string
	value node
}

type interpHole struct {
	lit    string
	x      node // nil for literal text
	align  int
	format string
}

// checkedNode is checked(x) / unchecked(x), or a checked { } block (body).
type checkedNode struct {
	pos     int
	x       node
	checked bool
	block   bool
}

func (n *checkedNode) offset() int { return n.pos }

type (
	blockStmt struct {
		pos   int
		stmts []node
	}
	declStmt struct {
		pos   int
		typ   *typeRef // nil for var
		names []string
		inits []node // nil entries for no initializer
		fn    bool   // a local function (its init is the equivalent lambda)
		// isConst marks a local constant (const int x = 4)
		isConst bool
	}
	exprStmt struct {
		pos int
		x   node
	}
	ifStmt struct {
		pos       int
		cond      node
		then, els node
	}
	forStmt struct {
		pos  int
		init []node
		cond node
		post []node
		body node
	}
	foreachStmt struct {
		pos  int
		typ  *typeRef
		name string
		coll node
		body node
	}
	whileStmt struct {
		pos  int
		cond node
		body node
		do   bool
	}
	returnStmt struct {
		pos int
		x   node
	}
	breakStmt    struct{ pos int }
	continueStmt struct{ pos int }
	tryStmt      struct {
		pos     int
		body    *blockStmt
		catches []catchClause
		finally *blockStmt
	}
	throwStmt struct {
		pos int
		x   node // nil for rethrow
	}
	usingStmt struct {
		pos  int
		decl node // declStmt or expression
		body node
	}
	switchStmt struct {
		pos   int
		x     node
		cases []switchCase
	}
	emptyStmt struct{ pos int }
)

type catchClause struct {
	pos  int
	typ  *typeRef
	name string
	when node
	body *blockStmt
}

type switchCase struct {
	pos       int
	labels    []node
	isDefault bool
	body      []node
}

func (n *typeRef) offset() int      { return n.pos }
func (n *litExpr) offset() int      { return n.pos }
func (n *identExpr) offset() int    { return n.pos }
func (n *memberExpr) offset() int   { return n.pos }
func (n *callExpr) offset() int     { return n.pos }
func (n *indexExpr) offset() int    { return n.pos }
func (n *unaryExpr) offset() int    { return n.pos }
func (n *binaryExpr) offset() int   { return n.pos }
func (n *condExpr) offset() int     { return n.pos }
func (n *assignExpr) offset() int   { return n.pos }
func (n *incDecExpr) offset() int   { return n.pos }
func (n *castExpr) offset() int     { return n.pos }
func (n *isExpr) offset() int       { return n.pos }
func (n *asExpr) offset() int       { return n.pos }
func (n *newExpr) offset() int      { return n.pos }
func (n *lambdaExpr) offset() int   { return n.pos }
func (n *interpExpr) offset() int   { return n.pos }
func (n *defaultExpr) offset() int  { return n.pos }
func (n *typeofExpr) offset() int   { return n.pos }
func (n *initPair) offset() int     { return n.pos }
func (n *indexInit) offset() int    { return n.pos }
func (n *throwExpr) offset() int    { return n.pos }
func (n *blockStmt) offset() int    { return n.pos }
func (n *declStmt) offset() int     { return n.pos }
func (n *exprStmt) offset() int     { return n.pos }
func (n *ifStmt) offset() int       { return n.pos }
func (n *forStmt) offset() int      { return n.pos }
func (n *foreachStmt) offset() int  { return n.pos }
func (n *whileStmt) offset() int    { return n.pos }
func (n *returnStmt) offset() int   { return n.pos }
func (n *breakStmt) offset() int    { return n.pos }
func (n *continueStmt) offset() int { return n.pos }
func (n *tryStmt) offset() int      { return n.pos }
func (n *throwStmt) offset() int    { return n.pos }
func (n *usingStmt) offset() int    { return n.pos }
func (n *switchStmt) offset() int   { return n.pos }
func (n *emptyStmt) offset() int    { return n.pos }
