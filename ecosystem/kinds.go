package ecosystem

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/robfig/cron/v3"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/schema"
)

// cronParser accepts what PM2 users write: 5 fields, 6 with seconds first, or "@daily".
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron reads a cron_restart expression exactly as the check of the file does: the one
// cron parser of eco.
func ParseCron(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// kindValue converts v, the value of attribute a, into its Go form: string, bool, int, Duration,
// ByteSize, []string, map[string]string or []int. rng is where v came from (nil for defaults).
// On failure it returns a diagnostic saying what was expected.
func kindValue(a schema.Attr, v cty.Value, rng *hcl.Range, cpus int) (any, *hcl.Diagnostic) {
	bad := func(summary, format string, args ...any) (any, *hcl.Diagnostic) {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng}
	}
	wrongType := func(want string) (any, *hcl.Diagnostic) {
		return bad("Incorrect attribute value type", "%s must be %s; got %s.", a.Name, want, friendlyType(v.Type()))
	}
	ty := v.Type()
	switch a.Kind {
	case schema.String, schema.Cron, schema.Signal, schema.Enum:
		if !isScalar(ty) {
			return wrongType("a string")
		}
		s, _ := convert.Convert(v, cty.String)
		str := s.AsString()
		switch a.Kind {
		case schema.Cron:
			if _, err := cronParser.Parse(str); err != nil {
				return bad("Invalid cron expression", "cron_restart %q: %s. Write 5 fields (\"0 3 * * *\"), 6 with seconds first, or a descriptor such as \"@daily\".", str, err)
			}
		case schema.Signal:
			sig := strings.ToUpper(str)
			if !strings.HasPrefix(sig, "SIG") {
				sig = "SIG" + sig
			}
			if unix.SignalNum(sig) == 0 {
				return bad("Invalid signal", "%s %q is not a signal name; write one such as \"SIGINT\", \"SIGTERM\" or \"SIGQUIT\".", a.Name, str)
			}
			str = sig
		case schema.Enum:
			if a.Name == "exec_mode" {
				str = strings.TrimSuffix(str, "_mode") // PM2 writes "cluster_mode" too
			}
			if !contains(a.Values, str) {
				detail := fmt.Sprintf("%s must be %s; got %q.", a.Name, orList(a.Values), str)
				if s := suggest(str, a.Values); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				return bad("Invalid value for "+a.Name, "%s", detail)
			}
		}
		return str, nil

	case schema.Bool:
		b, err := convert.Convert(v, cty.Bool)
		if err != nil {
			return wrongType("true or false")
		}
		return b.True(), nil

	case schema.Int:
		if !isScalar(ty) || ty == cty.Bool {
			return wrongType("a whole number")
		}
		n, err := wholeNumber(v)
		if err != nil {
			return bad("Invalid number", "%s: %s.", a.Name, err)
		}
		if n < 0 {
			return bad("Invalid number", "%s must not be negative; got %d.", a.Name, n)
		}
		return n, nil

	case schema.Duration:
		switch ty {
		case cty.Number:
			f, _ := v.AsBigFloat().Float64()
			d, err := msDuration(f)
			if err != nil {
				return bad("Invalid duration", "%s: %s. A number is milliseconds.", a.Name, err)
			}
			return Duration(d), nil
		case cty.String:
			d, err := ParseDuration(v.AsString())
			if err != nil {
				return bad("Invalid duration", "%s: %s. Write a number of milliseconds (5000) or a string such as \"5s\", \"1m30s\" or \"7d\".", a.Name, err)
			}
			return Duration(d), nil
		}
		return wrongType(`a number of milliseconds or a string such as "5s"`)

	case schema.Size:
		switch ty {
		case cty.Number:
			n, err := wholeNumber(v)
			if err != nil || n < 0 {
				return bad("Invalid size", "%s: a number is a count of bytes, whole and not negative.", a.Name)
			}
			return ByteSize(n), nil
		case cty.String:
			n, err := ParseSize(v.AsString())
			if err != nil {
				return bad("Invalid size", "%s: %s. Write bytes, or a number with K, M, G or T (powers of 1024): \"300K\", \"512M\", \"1G\".", a.Name, err)
			}
			return n, nil
		}
		return wrongType(`a number of bytes or a string such as "512M"`)

	case schema.StringList, schema.Args:
		if ty == cty.String {
			if a.Kind == schema.StringList {
				return []string{v.AsString()}, nil
			}
			words, err := SplitArgs(v.AsString())
			if err != nil {
				return bad("Invalid arguments", "%s %s.", a.Name, err)
			}
			return words, nil
		}
		list, ok := stringList(v)
		if !ok {
			return wrongType("a string or a list of strings")
		}
		return list, nil

	case schema.Env:
		return envMap(a.Name, v, rng)

	case schema.Instances:
		var n int
		switch {
		case ty == cty.Number:
			var err error
			if n, err = wholeNumber(v); err != nil {
				return bad("Invalid instances", "%s.", err)
			}
		case ty == cty.String && strings.EqualFold(v.AsString(), "max"):
			n = 0
		case ty == cty.String:
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(v.AsString())); err != nil {
				return bad("Invalid instances", `instances must be a number, "max", or a negative number for CPUs minus n; got %q.`, v.AsString())
			}
		default:
			return wrongType(`a number or "max"`)
		}
		if n <= 0 {
			n = max(cpus+n, 1)
		}
		return n, nil

	case schema.IntList:
		if ty == cty.Number {
			n, err := wholeNumber(v)
			if err != nil {
				return bad("Invalid number", "%s: %s.", a.Name, err)
			}
			return []int{n}, nil
		}
		if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
			return wrongType("a number or a list of numbers")
		}
		var out []int
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.Number {
				return wrongType("a number or a list of numbers")
			}
			n, err := wholeNumber(e)
			if err != nil {
				return bad("Invalid number", "%s: %s.", a.Name, err)
			}
			out = append(out, n)
		}
		return out, nil

	case schema.Watch:
		if ty == cty.Bool {
			if v.True() {
				return []string{"."}, nil
			}
			return []string(nil), nil
		}
		list, ok := stringList(v)
		if !ok {
			return wrongType("true, false, or a list of paths")
		}
		return list, nil
	}
	return bad("Unsupported attribute kind", "%s has kind %d, which eco cannot decode; this is a bug.", a.Name, a.Kind)
}

// envMap converts an env value: an object or map whose values are strings, numbers or bools.
// A null value maps to nil, which means "remove this key" in a profile.
func envMap(attr string, v cty.Value, rng *hcl.Range) (any, *hcl.Diagnostic) {
	ty := v.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail: fmt.Sprintf("%s must be a map such as { NODE_ENV = \"production\" }; got %s.", attr, friendlyType(ty)), Subject: rng}
	}
	out := map[string]*string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		key := k.AsString()
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid environment variable name",
				Detail: fmt.Sprintf("%s: %q cannot be an environment variable name (it is empty or holds '=' or NUL).", attr, key), Subject: rng}
		}
		if e.IsNull() {
			out[key] = nil
			continue
		}
		if !isScalar(e.Type()) {
			return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: fmt.Sprintf("%s.%s must be a string, number or bool; got %s.", attr, key, friendlyType(e.Type())), Subject: rng}
		}
		s, _ := convert.Convert(e, cty.String)
		str := s.AsString()
		// Checked here too (check.go checks the env in use), so that an env_<profile> not
		// chosen now is refused at its own attribute, before a later --env meets it.
		if strings.IndexByte(str, 0) >= 0 {
			return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid environment variable",
				Detail: fmt.Sprintf("%s.%s holds a NUL byte, which no environment can hold: %q.", attr, key, str), Subject: rng}
		}
		out[key] = &str
	}
	return out, nil
}

func isScalar(ty cty.Type) bool { return ty == cty.String || ty == cty.Number || ty == cty.Bool }

func stringList(v cty.Value) ([]string, bool) {
	ty := v.Type()
	if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
		return nil, false
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || !isScalar(e.Type()) {
			return nil, false
		}
		s, _ := convert.Convert(e, cty.String)
		out = append(out, s.AsString())
	}
	return out, true
}

// wholeNumber reads v (a number, or a string holding one) as an int.
func wholeNumber(v cty.Value) (int, error) {
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, fmt.Errorf("want a whole number")
	}
	bf := n.AsBigFloat()
	if !bf.IsInt() {
		return 0, fmt.Errorf("want a whole number; got %s", bf.Text('f', -1))
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > 1<<31-1 || i < -(1<<31) {
		return 0, fmt.Errorf("%s is out of range", bf.Text('f', -1))
	}
	return int(i), nil
}

// friendlyType names a type the way a user would: a string, a number, a list, an object.
func friendlyType(ty cty.Type) string {
	switch {
	case ty == cty.String:
		return "a string"
	case ty == cty.Number:
		return "a number"
	case ty == cty.Bool:
		return "a bool"
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		return "a list"
	case ty.IsMapType() || ty.IsObjectType():
		return "a map"
	case ty == cty.DynamicPseudoType:
		return "null"
	}
	return ty.FriendlyName()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orList writes ["a", "b", "c"] as `"a", "b" or "c"`.
func orList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
