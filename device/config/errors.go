package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Error is one problem with a configuration. Its text names where the
// problem is, the field, the value and what would be valid:
//
//	config.yaml:7:14: recording.post_roll: "0s" is out of range (valid: 1s to 10m)
//
// File is the file's name ("config" for a Config that came from no file);
// Line and Column (1-based) locate the value in it, and are 0 when the
// field is not written in the file (then its default is at fault, or a
// combination of fields is). Field is the dotted path of the field, with
// list indexes ("camera.command[1]"), empty for the file as a whole.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	// Msg holds the value and what would be valid.
	Msg string
}

func (e *Error) Error() string {
	where := e.File
	if where == "" {
		where = "config"
	}
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column)
	}
	if e.Field == "" {
		return where + ": " + e.Msg
	}
	return where + ": " + e.Field + ": " + e.Msg
}

// problems collects the errors of a validation, in the schema's order.
type problems []*Error

// add records a problem with field; format and args make its message.
func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems as one error, one line each (errors.Join), or
// nil when there are none.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, len(p))
	for i, e := range p {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Errors returns the *Error values err holds: err itself, or each error
// of an errors.Join. Anything else is not one of this package's located
// problems, and is left out.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}
