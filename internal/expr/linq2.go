package expr

import (
	"sort"
	"strings"
)

// Grouping is an IGrouping<TKey, TElement> from GroupBy: a key and its
// elements (enumerable like a list).
type Grouping struct {
	Key   any
	Items []any
}

// zeroOf is default(T) for an element type name as List.Elem records it.
func zeroOf(elem string) any {
	switch elem {
	case "Int32":
		return 0
	case "Int64":
		return int64(0)
	case "Double":
		return 0.0
	case "Boolean":
		return false
	case "Char":
		return Char(0)
	case "Decimal":
		return decFromInt(0)
	case "Byte":
		return byte(0)
	}
	return nil
}

// keepsElem lists LINQ operators whose result has the source element type.
var keepsElem = map[string]bool{
	"Where": true, "Skip": true, "Take": true, "OrderBy": true, "OrderByDescending": true, "ThenBy": true,
	"ThenByDescending": true, "Distinct": true, "Reverse": true, "Concat": true, "Union": true, "Except": true,
	"Intersect": true, "TakeWhile": true, "SkipWhile": true, "DefaultIfEmpty": true, "ToList": true, "ToArray": true,
}

// sortedList is an OrderBy result: it remembers its sort keys so ThenBy
// can refine the order.
type sortSpec struct {
	keys [][]any // per item: the keys of each ordering level
	cmps []func(a, b any) (int, error)
}

// linqExtra implements LINQ operators beyond linq(); handled is false for
// the others. recv is the receiver (for ThenBy's previous ordering).
func linqExtra(name string, recv any, items []any, a []any) (any, bool, error) {
	elem := ""
	if l, ok := recv.(*List); ok {
		elem = l.Elem
	}
	switch name {
	case "OrderBy", "OrderByDescending", "ThenBy", "ThenByDescending":
		var prev *sortSpec
		if l, ok := recv.(*List); ok && strings.HasPrefix(name, "Then") {
			prev = l.sorted
		}
		if strings.HasPrefix(name, "Then") && prev == nil {
			return nil, true, errNoMember(recv, name)
		}
		r, err := orderBy(items, a, strings.HasSuffix(name, "Descending"), prev)
		if err == nil {
			r.Elem = elem
		}
		return r, true, err
	case "FirstOrDefault", "LastOrDefault", "SingleOrDefault", "ElementAtOrDefault":
		z := zeroOf(elem)
		if z == nil {
			return nil, false, nil
		}
		v, err := linq(name, items, a, "")
		if err != nil {
			return nil, true, err
		}
		if v == nil {
			return z, true, nil
		}
		return v, true, nil
	case "DefaultIfEmpty":
		if len(items) == 0 && len(a) == 0 {
			return &List{Items: []any{zeroOf(elem)}, Elem: elem}, true, nil
		}
	case "GroupBy":
		if len(a) == 0 {
			return nil, true, errArg("GroupBy needs a key selector")
		}
		var groups []*Grouping
		for i, it := range items {
			k, err := callSel(a[0], it, i)
			if err != nil {
				return nil, true, err
			}
			k = fromJValue(k)
			var g *Grouping
			for _, x := range groups {
				if valuesEqual(x.Key, k) || (x.Key == nil && k == nil) {
					g = x
					break
				}
			}
			if g == nil {
				g = &Grouping{Key: k}
				groups = append(groups, g)
			}
			v := it
			if len(a) > 1 {
				if _, ok := a[1].(*Func); ok {
					var err error
					if v, err = callSel(a[1], it, i); err != nil {
						return nil, true, err
					}
				}
			}
			g.Items = append(g.Items, v)
		}
		out := make([]any, len(groups))
		for i, g := range groups {
			out[i] = g
		}
		return &List{Items: out}, true, nil
	case "TakeWhile", "SkipWhile":
		n := 0
		for i, it := range items {
			ok, err := callPredIdx(a[0], it, i)
			if err != nil {
				return nil, true, err
			}
			if !ok {
				break
			}
			n++
		}
		if name == "TakeWhile" {
			return &List{Items: append([]any(nil), items[:n]...), Elem: elem}, true, nil
		}
		return &List{Items: append([]any(nil), items[n:]...), Elem: elem}, true, nil
	case "Zip":
		other, err := iterate(a[0])
		if err != nil {
			return nil, true, err
		}
		n := min(len(items), len(other))
		out := make([]any, n)
		for i := 0; i < n; i++ {
			f, ok := a[1].(*Func)
			if !ok {
				return nil, true, errArg("Zip needs a result selector")
			}
			if out[i], err = f.call(items[i], other[i]); err != nil {
				return nil, true, err
			}
		}
		return &List{Items: out}, true, nil
	case "Distinct":
		if len(a) == 1 {
			if e, ok := a[0].(Enum); ok && strings.HasSuffix(e.Name, "IgnoreCase") {
				var out []any
				seen := map[string]bool{}
				for _, it := range items {
					s, ok := it.(string)
					if !ok {
						out = append(out, it)
						continue
					}
					k := strings.ToUpper(s)
					if !seen[k] {
						seen[k] = true
						out = append(out, it)
					}
				}
				return &List{Items: out, Elem: elem}, true, nil
			}
			v, err := linq(name, items, nil, "")
			return v, true, err
		}
	}
	return nil, false, nil
}

func callPredIdx(f any, it any, i int) (bool, error) {
	fn, ok := f.(*Func)
	if !ok {
		return false, errArg("a predicate is required")
	}
	var v any
	var err error
	if len(fn.code.slots) >= 2 {
		v, err = fn.call(it, i)
	} else {
		v, err = fn.call(it)
	}
	if err != nil {
		return false, err
	}
	return toBool(v)
}

// keyComparer is the comparison of an OrderBy level: a StringComparer
// argument or the default comparer (culture order for strings).
func keyComparer(a []any) func(x, y any) (int, error) {
	if len(a) > 1 {
		if e, ok := a[1].(Enum); ok && e.Type == "StringComparer" {
			return func(x, y any) (int, error) {
				xs, ok1 := x.(string)
				ys, ok2 := y.(string)
				if ok1 && ok2 {
					return compareStrings(xs, ys, Enum{Type: "StringComparison", Name: e.Name, Val: e.Val}), nil
				}
				c, _, err := compareValues(x, y)
				return c, err
			}
		}
	}
	return func(x, y any) (int, error) {
		if x == nil || y == nil {
			switch {
			case x == nil && y == nil:
				return 0, nil
			case x == nil:
				return -1, nil
			}
			return 1, nil
		}
		c, _, err := compareValues(x, y)
		return c, err
	}
}

func orderBy(items []any, a []any, desc bool, prev *sortSpec) (*List, error) {
	keys := make([]any, len(items))
	for i, it := range items {
		k := it
		if len(a) > 0 {
			if _, ok := a[0].(*Func); ok {
				var err error
				if k, err = callSel(a[0], it, i); err != nil {
					return nil, err
				}
			}
		}
		keys[i] = fromJValue(k)
	}
	cmp := keyComparer(a)
	if desc {
		base := cmp
		cmp = func(x, y any) (int, error) {
			c, err := base(x, y)
			return -c, err
		}
	}
	spec := &sortSpec{keys: make([][]any, len(items))}
	if prev != nil {
		spec.cmps = append(append(spec.cmps, prev.cmps...), cmp)
		for i := range items {
			spec.keys[i] = append(append([]any(nil), prev.keys[i]...), keys[i])
		}
	} else {
		spec.cmps = []func(a, b any) (int, error){cmp}
		for i := range items {
			spec.keys[i] = []any{keys[i]}
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var cerr error
	sort.SliceStable(idx, func(x, y int) bool {
		kx, ky := spec.keys[idx[x]], spec.keys[idx[y]]
		for l, c := range spec.cmps {
			r, err := c(kx[l], ky[l])
			if err != nil {
				cerr = err
				return false
			}
			if r != 0 {
				return r < 0
			}
		}
		return false
	})
	if cerr != nil {
		return nil, cerr
	}
	out := make([]any, len(items))
	sk := make([][]any, len(items))
	for i, j := range idx {
		out[i] = items[j]
		sk[i] = spec.keys[j]
	}
	spec.keys = sk
	return &List{Items: out, sorted: spec}, nil
}
