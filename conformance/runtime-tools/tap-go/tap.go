// Package tap is berth's own minimal producer of TAP version 13 output.
//
// The OCI runtime-tools validation programs import it as
// github.com/mndrix/tap-go, a package Debian does not ship. Only the
// methods those programs call are provided. conformance/runtime-tools/setup.sh
// copies this file into the GOPATH used to build the suite.
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
)

// T writes one TAP stream. The value returned by Todo shares the test
// counter with the T it came from.
type T struct {
	w       io.Writer
	counter *int
	todo    bool
}

// New returns a T writing to standard output.
func New() *T {
	n := 0
	return &T{w: os.Stdout, counter: &n}
}

// Header prints the version line and, when tests > 0, the plan.
func (t *T) Header(tests int) {
	fmt.Fprintln(t.w, "TAP version 13")
	if tests > 0 {
		fmt.Fprintf(t.w, "1..%d\n", tests)
	}
}

// AutoPlan prints a trailing plan covering every test reported so far.
func (t *T) AutoPlan() {
	fmt.Fprintf(t.w, "1..%d\n", *t.counter)
}

// Count is the number of test lines printed so far.
func (t *T) Count() int { return *t.counter }

// Todo returns a T whose results are marked TODO.
func (t *T) Todo() *T {
	return &T{w: t.w, counter: t.counter, todo: true}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "#", "\\#")), " ")
}

// Ok reports one test and returns its outcome.
func (t *T) Ok(test bool, description string) bool {
	*t.counter++
	status := "ok"
	if !test {
		status = "not ok"
	}
	line := fmt.Sprintf("%s %d", status, *t.counter)
	if d := oneLine(description); d != "" {
		line += " - " + d
	}
	if t.todo {
		line += " # TODO"
	}
	fmt.Fprintln(t.w, line)
	return test
}

// Pass reports a passing test.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Fail reports a failing test.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Skip reports count skipped tests with the same reason.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		*t.counter++
		fmt.Fprintf(t.w, "ok %d # SKIP %s\n", *t.counter, oneLine(description))
	}
}

// Diagnostic prints message as comment lines.
func (t *T) Diagnostic(message string) {
	for _, l := range strings.Split(strings.TrimRight(message, "\n"), "\n") {
		fmt.Fprintln(t.w, "# "+l)
	}
}

// Diagnosticf is Diagnostic with formatting.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, a...))
}

// YAML prints v as a YAML block attached to the previous test line.
// Maps get one "key: value" line per entry (keys sorted); strings with
// newlines become literal blocks; every other value is written as JSON,
// which YAML reads as a flow value.
func (t *T) YAML(v interface{}) error {
	var b strings.Builder
	b.WriteString("  ---\n")
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()))
			if err := writeEntry(&b, k, val.Interface()); err != nil {
				return err
			}
		}
	} else {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  value: %s\n", j)
	}
	b.WriteString("  ...\n")
	_, err := io.WriteString(t.w, b.String())
	return err
}

// yamlKey leaves simple keys bare and quotes the rest.
func yamlKey(key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
		}
	}
	if plain {
		return key
	}
	k, _ := json.Marshal(key)
	return string(k)
}

func writeEntry(b *strings.Builder, key string, val interface{}) error {
	k := yamlKey(key)
	if s, ok := val.(string); ok && strings.Contains(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(b, "  %s: |2-\n", k)
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			fmt.Fprintf(b, "    %s\n", l)
		}
		return nil
	}
	j, err := json.Marshal(val)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "  %s: %s\n", k, j)
	return nil
}
