package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in statements: the deepest real one (a policy
// statement) nests four levels.
const maxJSONDepth = 16

// checkJSON walks one JSON document with encoding/json's tokenizer and
// refuses, at every depth: a duplicate object key, where keys are compared
// the way encoding/json matches them to struct fields (ASCII case and
// Unicode simple folding, so "AUD", "Aud" and "aud" collide, and so do
// "ſcope" and "scope"); nesting deeper than maxJSONDepth; anything after
// the one top-level value; and, when lowerKeys is set, any key that is not
// made of a-z, 0-9, '_' and '-'. That last rule means an accepted key can
// only match the struct field with exactly its name: encoding/json's
// case-insensitive matching never comes into play. The top-level value must
// be an object.
func checkJSON(data []byte, lowerKeys bool) error {
	w := &jsonWalker{lowerKeys: lowerKeys}
	if !utf8.Valid(data) {
		return refuse(ReasonMalformed, "JSON is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return refuse(ReasonMalformed, "not JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return refuse(ReasonMalformed, "expected a JSON object")
	}
	if err := w.object(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return refuse(ReasonMalformed, "data after the JSON object")
	}
	if w.hasBadKey {
		// Reported after the whole walk, so that a duplicate anywhere is
		// reported as such even when an upper-case key came first.
		return refuse(ReasonUnknownField, "field %s: field names are lower-case ASCII letters, digits, '_', '-' and '.'", shorten(w.badKey))
	}
	return nil
}

// jsonWalker holds checkJSON's state: the rule for keys and the first key
// that broke it.
type jsonWalker struct {
	lowerKeys bool
	hasBadKey bool
	badKey    string
}

// object reads an object's members after its '{' up to its '}'.
func (w *jsonWalker) object(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return refuse(ReasonMalformed, "JSON nested deeper than %d levels", maxJSONDepth)
	}
	var seen []string // folded keys; objects here are small
	for {
		tok, err := dec.Token()
		if err != nil {
			return refuse(ReasonMalformed, "truncated or invalid JSON: %v", jsonErr(err))
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return refuse(ReasonMalformed, "invalid JSON object key")
		}
		if w.lowerKeys && !w.hasBadKey && !isLowerKey(key) {
			w.hasBadKey, w.badKey = true, key
		}
		f := foldKey(key)
		for _, s := range seen {
			if s == f {
				return refuse(ReasonDuplicateKey, "field %s appears more than once (names are compared case-insensitively)", shorten(key))
			}
		}
		seen = append(seen, f)
		if err := w.value(dec, depth); err != nil {
			return err
		}
	}
}

// value reads one value; objects and arrays recursively.
func (w *jsonWalker) value(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return refuse(ReasonMalformed, "truncated or invalid JSON: %v", jsonErr(err))
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return w.object(dec, depth+1)
	case '[':
		if depth+1 > maxJSONDepth {
			return refuse(ReasonMalformed, "JSON nested deeper than %d levels", maxJSONDepth)
		}
		for dec.More() {
			if err := w.value(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return refuse(ReasonMalformed, "truncated or invalid JSON: %v", jsonErr(err))
		}
		return nil
	}
	return refuse(ReasonMalformed, "invalid JSON")
}

// foldKey folds a key the way encoding/json compares names to fields:
// ASCII letters to upper case, other runes to unicode.ToUpper(ToLower(r)).
func foldKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for _, r := range k {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		b.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return b.String()
}

func isLowerKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// decodeStrict decodes a JSON object already passed by checkJSON into v,
// refusing fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := jsonErr(err)
		if strings.HasPrefix(msg, "unknown field ") {
			return refuse(ReasonUnknownField, "%s", msg)
		}
		return refuse(ReasonMalformed, "%s", msg)
	}
	return nil
}

// jsonErr strips encoding/json's "json: " prefix; a consent error already
// says where it comes from.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
