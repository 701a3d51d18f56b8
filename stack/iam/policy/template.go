package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// elemKind is the kind of one piece of a compiled policy string.
type elemKind uint8

const (
	elemLit elemKind = iota // literal text
	elemOne                 // ?: exactly one character
	elemAny                 // *: any run of characters, possibly empty
	elemVar                 // ${key} or ${key, 'default'}
)

type elem struct {
	kind   elemKind
	text   string // the literal, or the variable's context key
	def    string // the variable's default
	hasDef bool
}

// template is a policy string compiled once at Parse time: a wildcard
// pattern, a literal, or either with policy variables in it.
type template struct {
	raw    string
	elems  []elem
	static bool // no variables: elems are final
	plain  bool // static and no wildcards: compare raw (or lit) directly
	lit    string
}

// compileOptions say which syntax a field of the grammar honours.
type compileOptions struct {
	wildcards bool // * and ? are wildcards (Action, Resource, *Like, Arn*)
	variables bool // ${...} is substituted (Version 2012-10-17, Resource and string/ARN conditions)
	fold      bool // literal text compares case-insensitively (ASCII; action names)
}

// compile turns s into a template.
func compile(s string, o compileOptions) (template, error) {
	t := template{raw: s, static: true}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			text := lit.String()
			if o.fold {
				text = asciiLower(text)
			}
			t.elems = append(t.elems, elem{kind: elemLit, text: text})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case o.variables && c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return template{}, fmt.Errorf("policy variable at offset %d has no closing '}'", i)
			}
			inner := s[i+2 : i+2+end]
			i += 2 + end + 1
			switch inner {
			case "*", "?", "$": // escapes for a literal character
				lit.WriteString(inner)
				continue
			}
			v, err := parseVariable(inner)
			if err != nil {
				return template{}, err
			}
			flush()
			t.elems = append(t.elems, v)
			t.static = false
		case o.wildcards && c == '*':
			flush()
			if n := len(t.elems); n == 0 || t.elems[n-1].kind != elemAny {
				t.elems = append(t.elems, elem{kind: elemAny})
			}
			i++
		case o.wildcards && c == '?':
			flush()
			t.elems = append(t.elems, elem{kind: elemOne})
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if t.static {
		t.plain = true
		for _, e := range t.elems {
			if e.kind != elemLit {
				t.plain = false
			}
		}
		if t.plain && len(t.elems) == 1 {
			t.lit = t.elems[0].text
		}
	}
	return t, nil
}

// parseVariable parses the inside of ${...}: a context key, optionally
// followed by a default in single quotes: ${aws:username, 'nobody'}.
func parseVariable(inner string) (elem, error) {
	key, def, hasDef := strings.Cut(inner, ",")
	key = strings.TrimSpace(key)
	if key == "" {
		return elem{}, fmt.Errorf("policy variable ${%s} names no context key", inner)
	}
	for _, r := range key {
		if r <= ' ' || r == '\'' || r == '$' || r == '{' || r == '*' || r == '?' {
			return elem{}, fmt.Errorf("policy variable ${%s}: %q is not a context key", inner, key)
		}
	}
	e := elem{kind: elemVar, text: key}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return elem{}, fmt.Errorf("policy variable ${%s}: the default must be in single quotes, as in ${%s, 'value'}", inner, key)
		}
		e.def, e.hasDef = def[1:len(def)-1], true
	}
	return e, nil
}

// errUnresolved reports a policy variable with no value and no default: the
// string it is in matches nothing.
var errUnresolved = errors.New("unresolved policy variable")

// resolve returns t's elements with variables replaced by their values from
// ctx (as literals: a value never acts as a wildcard). buf is scratch space.
func (t *template) resolve(ctx map[string][]string, buf []elem) ([]elem, error) {
	if t.static {
		return t.elems, nil
	}
	out := buf[:0]
	for _, e := range t.elems {
		if e.kind != elemVar {
			out = append(out, e)
			continue
		}
		vals, ok := lookup(ctx, e.text)
		switch {
		case ok && len(vals) == 1:
			out = append(out, elem{kind: elemLit, text: vals[0]})
		case e.hasDef:
			out = append(out, elem{kind: elemLit, text: e.def})
		default:
			return nil, errUnresolved
		}
	}
	return out, nil
}

// match reports whether s matches t after variable substitution.
func (t *template) match(s string, ctx map[string][]string, fold bool) (bool, error) {
	if t.plain {
		if len(t.elems) == 0 {
			return s == "", nil
		}
		if t.lit != "" {
			if fold {
				return asciiEqualFold(s, t.lit), nil
			}
			return s == t.lit, nil
		}
	}
	var buf [8]elem
	es, err := t.resolve(ctx, buf[:])
	if err != nil {
		return false, err
	}
	return matchElems(es, s, fold), nil
}

// matchElems matches s against a pattern of literals, ? and *. It never
// backtracks: the segments between stars are found leftmost-first, one after
// the other, which is exact for glob patterns, so the cost is at most
// len(s) × len(segment) per segment whatever the input.
func matchElems(es []elem, s string, fold bool) bool {
	j := nextAny(es, 0)
	end, ok := segmentAt(es[:j], s, 0, fold)
	if !ok {
		return false
	}
	if j == len(es) {
		return end == len(s)
	}
	pos := end
	for {
		for j < len(es) && es[j].kind == elemAny {
			j++
		}
		if j == len(es) {
			return true // a trailing star takes the rest
		}
		k := nextAny(es, j)
		seg := es[j:k]
		if k == len(es) { // the last segment must end at the end of s
			if n, fixed := fixedLen(seg); fixed {
				q := len(s) - n
				if q < pos {
					return false
				}
				e, ok := segmentAt(seg, s, q, fold)
				return ok && e == len(s)
			}
			for q := pos; q <= len(s); q = nextRune(s, q) {
				if e, ok := segmentAt(seg, s, q, fold); ok && e == len(s) {
					return true
				}
			}
			return false
		}
		if len(seg) == 1 && seg[0].kind == elemLit && !fold {
			i := strings.Index(s[pos:], seg[0].text)
			if i < 0 {
				return false
			}
			pos += i + len(seg[0].text)
			j = k
			continue
		}
		found := false
		for q := pos; q <= len(s); q = nextRune(s, q) {
			if e, ok := segmentAt(seg, s, q, fold); ok {
				pos, found = e, true
				break
			}
		}
		if !found {
			return false
		}
		j = k
	}
}

func nextAny(es []elem, from int) int {
	for i := from; i < len(es); i++ {
		if es[i].kind == elemAny {
			return i
		}
	}
	return len(es)
}

func nextRune(s string, q int) int {
	if q >= len(s) {
		return len(s) + 1
	}
	_, n := utf8.DecodeRuneInString(s[q:])
	return q + n
}

// fixedLen is a segment's length in bytes when it has no ? (whose match is
// one character of 1 to 4 bytes).
func fixedLen(seg []elem) (int, bool) {
	n := 0
	for _, e := range seg {
		if e.kind != elemLit {
			return 0, false
		}
		n += len(e.text)
	}
	return n, true
}

// segmentAt matches a star-free segment at offset q of s and returns where
// it ends.
func segmentAt(seg []elem, s string, q int, fold bool) (int, bool) {
	for _, e := range seg {
		switch e.kind {
		case elemLit:
			if len(s)-q < len(e.text) {
				return 0, false
			}
			part := s[q : q+len(e.text)]
			if fold && !asciiEqualFold(part, e.text) || !fold && part != e.text {
				return 0, false
			}
			q += len(e.text)
		case elemOne:
			if q >= len(s) {
				return 0, false
			}
			q = nextRune(s, q)
		}
	}
	return q, true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// lookup finds a context key case-insensitively, as AWS matches condition
// key names: the spelling as written first, then a scan.
func lookup(ctx map[string][]string, key string) ([]string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// arnPattern matches ARNs one colon-separated component at a time, as AWS
// documents for the Arn* condition operators; the sixth component takes
// the rest, colons included (log-group:x:log-stream:y). For Resource, AWS
// also lets a * that ends a component run past colons; here it does not,
// which differs only for ARNs with colons in the region or account, which
// the stack never issues, and keeps arn:aws:kinesisvideo:*:*:stream/x/*
// from matching an ARN with ':' smuggled into the region. Strings that are
// not six-component ARNs ("*", "arn:aws:kms:*") match as a whole.
type arnPattern struct {
	whole template
	parts []template // six when component-wise
}

func compileARN(s string, o compileOptions) (arnPattern, error) {
	whole, err := compile(s, o)
	if err != nil {
		return arnPattern{}, err
	}
	p := arnPattern{whole: whole}
	if !strings.HasPrefix(s, "arn:") {
		return p, nil
	}
	// Split the compiled elements at literal colons, so that colons inside
	// ${kms:EncryptionContext:k} do not split.
	parts := make([]template, 1, 6)
	cur := &parts[0]
	for _, e := range whole.elems {
		for e.kind == elemLit && len(parts) < 6 {
			before, after, found := strings.Cut(e.text, ":")
			if !found {
				break
			}
			if before != "" {
				cur.elems = append(cur.elems, elem{kind: elemLit, text: before})
			}
			parts = append(parts, template{})
			cur = &parts[len(parts)-1]
			e.text = after
		}
		if e.kind == elemLit && e.text == "" {
			continue
		}
		cur.elems = append(cur.elems, e)
	}
	if len(parts) != 6 {
		return p, nil
	}
	for i := range parts {
		parts[i].finish()
	}
	p.parts = parts
	return p, nil
}

// finish sets the derived fields of a template built element by element.
func (t *template) finish() {
	t.static, t.plain = true, true
	for _, e := range t.elems {
		switch e.kind {
		case elemVar:
			t.static, t.plain = false, false
		case elemOne, elemAny:
			t.plain = false
		}
	}
	if t.plain && len(t.elems) == 1 {
		t.lit = t.elems[0].text
	}
}

// match reports whether the ARN s matches.
func (p *arnPattern) match(s string, ctx map[string][]string) (bool, error) {
	if p.parts == nil {
		return p.whole.match(s, ctx, false)
	}
	rest := s
	for i := range 5 {
		comp, after, ok := strings.Cut(rest, ":")
		if !ok {
			return false, nil
		}
		m, err := p.parts[i].match(comp, ctx, false)
		if err != nil || !m {
			return false, err
		}
		rest = after
	}
	return p.parts[5].match(rest, ctx, false)
}
