package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/doorward/doorward/consent"
)

// maxSize bounds the configuration file Load reads.
const maxSize = 1 << 20

// maxValues bounds how many values a file may hold once its aliases are
// expanded, so that a few lines of aliases cannot make the decoder work
// for minutes.
const maxValues = 100_000

// Load reads the configuration file at path and parses it (see Parse);
// its errors name path.
func Load(path string) (Config, error) {
	f, err := LoadFile(path)
	if err != nil {
		return Config{}, err
	}
	return f.Config, nil
}

// File is a configuration file, parsed and validated.
type File struct {
	// Path is the file's name as given.
	Path string
	// Config is the file over the defaults.
	Config Config
	// set holds the fields the file writes.
	set map[string]*token.Token
}

// Sets reports whether the file writes field (a dotted path such as
// "listen" or "recording.post_roll"), as opposed to leaving its default.
func (f *File) Sets(field string) bool { return f.set[field] != nil }

// LoadFile reads and parses the configuration file at path, like Load, and
// also tells which fields the file writes.
func LoadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("the file is larger than %v (valid: up to %v)", ByteSize(maxSize), ByteSize(maxSize))}
	}
	cfg, set, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	return &File{Path: path, Config: cfg, set: set}, nil
}

// Parse parses a configuration file's contents over the defaults and
// validates the result; name is the file's name for the errors. Unknown
// fields, a field set twice, a value of the wrong kind and more than one
// YAML document are refused. An empty value keeps the field's default, and
// an empty document gives the defaults.
//
// Every error is an *Error located in the file (several are joined with
// errors.Join, one per line): the file, the line and column of the value,
// the field, the value and what would be valid.
func Parse(name string, data []byte) (Config, error) {
	cfg, _, err := parse(name, data)
	return cfg, err
}

// parse is Parse; it also returns where each field the file sets is.
func parse(name string, data []byte) (Config, map[string]*token.Token, error) {
	if name == "" {
		name = "config"
	}
	cfg := Default()
	at, err := decode(name, data, &cfg)
	if err != nil {
		return Config{}, nil, err
	}
	if err := locate(name, cfg.problems(), at); err != nil {
		return Config{}, nil, err
	}
	return cfg, at, nil
}

// decode decodes the one YAML document in data over *v (a struct): an
// empty document leaves *v as it is. It returns where each field the
// document sets is written.
func decode(name string, data []byte, v any) (map[string]*token.Token, error) {
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, libraryError(name, err)
	}
	var body ast.Node
	for _, doc := range file.Docs {
		b := unwrap(doc.Body)
		if b == nil || b.Type() == ast.CommentType {
			continue
		}
		if body != nil {
			tk := doc.GetToken()
			if doc.Start != nil {
				tk = doc.Start
			}
			return nil, located(name, tk, "", "more than one YAML document (valid: one)")
		}
		body = b
	}
	at := map[string]*token.Token{}
	if body == nil || body.Type() == ast.NullType {
		return at, nil
	}
	w := &walker{name: name, at: at, aliases: aliases(file)}
	w.value(body, reflect.TypeOf(v).Elem(), "", nil)
	if len(w.errs) > 0 {
		return nil, w.errs.err()
	}
	// The walk above has checked every name and the kind of every value
	// against the schema, in people's words; the library decodes.
	if err := yaml.NodeToValue(body, v, yaml.DisallowUnknownField()); err != nil {
		return nil, libraryError(name, err)
	}
	return at, nil
}

// located makes an *Error at tk.
func located(name string, tk *token.Token, field, msg string) *Error {
	e := &Error{File: name, Field: field, Msg: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}

// libraryError turns an error of the YAML library into an *Error at the
// token it names, without the library's source excerpt.
func libraryError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg := ye.GetMessage()
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			msg = "not valid YAML: " + msg
		}
		return located(name, ye.GetToken(), "", msg)
	}
	return &Error{File: name, Msg: "not valid YAML: " + err.Error()}
}

// locate places each problem at its field's value in the file, or, for a
// field the file does not set, at the nearest enclosing section it does.
func locate(name string, p problems, at map[string]*token.Token) error {
	for _, e := range p {
		e.File = name
		for f := e.Field; f != ""; f = parent(f) {
			if tk := at[f]; tk != nil {
				e.Line, e.Column = tk.Position.Line, tk.Position.Column
				break
			}
		}
	}
	return p.err()
}

// parent drops a field path's last part: "a.b[2]" → "a.b" → "a" → "".
func parent(f string) string {
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}

// aliases maps each alias in the file to the value of the anchor it
// names: the last one defined before it, as YAML reads them.
func aliases(file *ast.File) map[*ast.AliasNode]ast.Node {
	v := &aliasVisitor{anchors: map[string]ast.Node{}, out: map[*ast.AliasNode]ast.Node{}}
	for _, doc := range file.Docs {
		ast.Walk(v, doc)
	}
	return v.out
}

type aliasVisitor struct {
	anchors map[string]ast.Node
	out     map[*ast.AliasNode]ast.Node
}

func (v *aliasVisitor) Visit(n ast.Node) ast.Visitor {
	switch n := n.(type) {
	case *ast.AnchorNode:
		if n.Name != nil {
			v.anchors[n.Name.GetToken().Value] = n.Value
		}
	case *ast.AliasNode:
		if n.Value != nil {
			v.out[n] = v.anchors[n.Value.GetToken().Value]
		}
	}
	return v
}

// walker checks a document against the schema before the library decodes
// it: every field name is known and set once, every value has the kind its
// field takes. It records where each field's value is written, so that the
// validation's problems can be located, and it settles what the library
// would read differently from YAML's plain meaning: an empty value or
// empty list keeps the default, a number written where text is expected is
// the text as written ("1.0" stays "1.0"), and yes/no, on/off are booleans
// where a boolean is expected.
type walker struct {
	name    string
	errs    problems
	at      map[string]*token.Token
	aliases map[*ast.AliasNode]ast.Node
	values  int
}

func (w *walker) fail(n ast.Node, field, format string, args ...any) {
	var tk *token.Token
	if n != nil {
		tk = n.GetToken()
	}
	w.errs = append(w.errs, located(w.name, tk, field, fmt.Sprintf(format, args...)))
}

// resolve follows anchors, aliases and tags to the value they stand for.
func (w *walker) resolve(n ast.Node) ast.Node {
	for range 100 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			n = w.aliases[v]
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return n
}

// unwrap returns n, or nil for a missing node.
func unwrap(n ast.Node) ast.Node {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return nil
	}
	return n
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	consentDuration = reflect.TypeFor[consent.Duration]()
)

// value checks the node n against the Go type t of the field at path.
// set replaces n in its parent (nil at the root).
func (w *walker) value(n ast.Node, t reflect.Type, path string, set func(ast.Node)) {
	if w.values++; w.values > maxValues {
		if w.values == maxValues+1 {
			w.fail(n, path, "the file holds more than %d values once its aliases are expanded (valid: fewer)", maxValues)
		}
		return
	}
	orig := n
	n = w.resolve(n)
	if unwrap(n) == nil {
		w.fail(orig, path, "an alias to an unknown anchor is not valid (valid: *name after &name)")
		return
	}
	if path == "" && n.Type() != ast.MappingType {
		w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
		return
	}
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		text, ok := scalarText(n)
		if !ok {
			w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			msg := err.Error()
			for _, pkg := range []string{"config: ", "consent: "} {
				msg = strings.TrimPrefix(msg, pkg)
			}
			w.fail(n, path, "%s", msg)
			return
		}
		if n.Type() != ast.StringType && set != nil {
			set(asString(n, text))
		}
	case t.Kind() == reflect.String:
		text, ok := scalarText(n)
		if !ok {
			w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
			return
		}
		if n.Type() != ast.StringType && n.Type() != ast.LiteralType && set != nil {
			set(asString(n, text))
		}
	case t.Kind() == reflect.Bool:
		if n.Type() == ast.BoolType {
			return
		}
		if text, ok := scalarText(n); ok && n.Type() == ast.StringType && set != nil {
			switch text { // YAML 1.1's words, as the configuration always read them
			case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
				set(&ast.BoolNode{BaseNode: &ast.BaseNode{}, Token: n.GetToken(), Value: true})
				return
			case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
				set(&ast.BoolNode{BaseNode: &ast.BaseNode{}, Token: n.GetToken(), Value: false})
				return
			}
		}
		w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
	case t.Kind() == reflect.Int:
		i, ok := n.(*ast.IntegerNode)
		if !ok {
			w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
			return
		}
		if u, ok := i.Value.(uint64); ok && u > math.MaxInt64 || i.Value == nil {
			w.fail(n, path, "%s is too large (valid: %s)", describeNode(n), describe(t))
		}
	case t.Kind() == reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
			return
		}
		for i := range seq.Values {
			w.at[fmt.Sprintf("%s[%d]", path, i)] = seq.Values[i].GetToken()
			w.value(seq.Values[i], t.Elem(), fmt.Sprintf("%s[%d]", path, i), func(v ast.Node) { seq.Values[i] = v })
		}
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		m, ok := n.(*ast.MappingNode)
		if !ok {
			w.fail(n, path, "%s is not valid (valid: %s)", describeNode(n), describe(t))
			return
		}
		w.mapping(m, t, path)
	default:
		w.fail(n, path, "cannot be set in a file")
	}
}

// mapping checks the fields of a mapping: a section (t a struct) or a map
// of names (t a map with string keys).
func (w *walker) mapping(m *ast.MappingNode, t reflect.Type, path string) {
	fields := map[string]reflect.Type{}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
	}
	seen := map[string]int{}
	kept := m.Values[:0:0]
	for _, mv := range m.Values {
		key, ok := keyText(mv.Key)
		field := key
		if path != "" {
			field = path + "." + key
		}
		switch {
		case !ok:
			w.fail(mv.Key, path, "%s is not a field name (valid: plain text)", describeNode(mv.Key))
			continue
		case seen[key] > 0:
			w.fail(mv.Key, field, "already set on line %d (valid: once)", seen[key])
			continue
		}
		seen[key] = mv.Key.GetToken().Position.Line
		var ft reflect.Type
		if t.Kind() == reflect.Map {
			ft = t.Elem()
		} else {
			if ft, ok = fields[key]; !ok {
				names := slices.Sorted(maps.Keys(fields))
				in := path
				if in == "" {
					in = "the file"
				}
				w.fail(mv.Key, field, "unknown field (valid in %s: %s)", in, strings.Join(names, ", "))
				continue
			}
		}
		v := unwrap(w.resolve(mv.Value))
		if t.Kind() == reflect.Struct && (v == nil && unwrap(mv.Value) == nil || v != nil && (v.Type() == ast.NullType || isEmptyCollection(v))) {
			continue // an empty value, list or mapping keeps the default
		}
		if v != nil && (v.Type() == ast.MappingType || v.Type() == ast.SequenceType) && !isFlow(v) {
			w.at[field] = mv.Key.GetToken()
		} else {
			w.at[field] = mv.Value.GetToken()
		}
		w.value(mv.Value, ft, field, func(n ast.Node) { mv.Value = n })
		kept = append(kept, mv)
	}
	m.Values = kept
}

func isFlow(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.IsFlowStyle
	case *ast.SequenceNode:
		return v.IsFlowStyle
	}
	return false
}

func isEmptyCollection(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.MappingNode:
		return len(v.Values) == 0
	case *ast.SequenceNode:
		return len(v.Values) == 0
	}
	return false
}

// keyText is a mapping key's name, for a key written as a plain scalar.
func keyText(k ast.MapKeyNode) (string, bool) {
	if k == nil {
		return "", false
	}
	if k.IsMergeKey() {
		return "<<", true
	}
	return scalarText(k)
}

// scalarText is the text of a scalar as written: a quoted string's value,
// a number's digits. Lists, mappings and empty values have none.
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// asString is a string node holding text, at n's place in the file.
func asString(n ast.Node, text string) ast.Node {
	return &ast.StringNode{BaseNode: &ast.BaseNode{}, Token: n.GetToken(), Value: text}
}

// describeNode names a value for an error: its text, quoted, or its kind.
func describeNode(n ast.Node) string {
	if text, ok := scalarText(n); ok {
		return fmt.Sprintf("%q", text)
	}
	switch n.Type() {
	case ast.SequenceType:
		return "a list"
	case ast.MappingType:
		return "a mapping"
	case ast.NullType:
		return "an empty value"
	}
	return "this value"
}

// describe says, in people's words, what a field of type t takes.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration, " + durationSyntax
	case reflect.TypeFor[ByteSize]():
		return "a size: " + sizeSyntax
	case consentDuration:
		return "a duration, e.g. 90m, 72h or 90d"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of mappings, each with " + fieldNames(t.Elem())
		}
		return "a list, e.g. [a, b]"
	case reflect.Map:
		return "a mapping of names to " + strings.TrimPrefix(describe(t.Elem()), "a ") + "s, e.g. {court: 1}"
	case reflect.Struct:
		return "a mapping with " + fieldNames(t)
	}
	return "a value"
}

func fieldNames(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return "the fields " + strings.Join(names, ", ")
}
