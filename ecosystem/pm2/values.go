package pm2

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/mitchellh/go-wordwrap"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/ecosystem"
)

// valueOf converts a PM2 value of the given kind.
func valueOf(k kind, v any) (cty.Value, error) {
	switch k {
	case kString:
		s, ok := v.(string)
		if !ok {
			return cty.NilVal, fmt.Errorf("want a string, got %s", typeName(v))
		}
		return cty.StringVal(s), nil
	case kBool:
		b, err := boolOf(v)
		return cty.BoolVal(b), err
	case kInt:
		n, err := intOf(v)
		if err == nil && n < 0 {
			err = fmt.Errorf("%d is negative", n)
		}
		return cty.NumberIntVal(int64(n)), err
	case kDuration:
		return durationOf(v)
	case kSize:
		return sizeOf(v)
	case kArgs:
		a, err := argsOf(v)
		return strList(a), err
	case kList:
		switch x := v.(type) {
		case string:
			return strList([]string{x}), nil
		case []any:
			var out []string
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return cty.NilVal, fmt.Errorf("want strings, got %s", typeName(e))
				}
				out = append(out, s)
			}
			return strList(out), nil
		}
		return cty.NilVal, fmt.Errorf("want a string or a list, got %s", typeName(v))
	case kIntList:
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		var out []cty.Value
		for _, e := range list {
			n, err := intOf(e)
			if err != nil {
				return cty.NilVal, err
			}
			out = append(out, cty.NumberIntVal(int64(n)))
		}
		if len(out) == 0 {
			return cty.ListValEmpty(cty.Number), nil
		}
		return cty.ListVal(out), nil
	case kWatch:
		switch x := v.(type) {
		case bool:
			return cty.BoolVal(x), nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return cty.BoolVal(b), nil
			}
		}
		return valueOf(kList, v)
	}
	return cty.NilVal, fmt.Errorf("kind %d is not converted; this is a bug", k)
}

func boolOf(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("want true or false, got %s", short(v))
}

// numberText returns the text of a JSON number, or of a string (trimmed), as PM2 takes
// numbers either way; ok is false for any other value.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return strings.TrimSpace(x), true
	}
	return "", false
}

func intOf(v any) (int, error) {
	s, ok := numberText(v)
	if !ok {
		return 0, fmt.Errorf("want a whole number, got %s", typeName(v))
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return n, nil
}

// instancesOf reads PM2's instances: a number, "max", 0 (max) or -n (CPUs minus n).
func instancesOf(v any) (cty.Value, error) {
	if s, ok := v.(string); ok && strings.EqualFold(strings.TrimSpace(s), "max") {
		return cty.StringVal("max"), nil
	}
	n, err := intOf(v)
	if err != nil {
		return cty.NilVal, fmt.Errorf(`instances is a number, "max", or -n for CPUs minus n: %w`, err)
	}
	if n == 0 {
		return cty.StringVal("max"), nil
	}
	return cty.NumberIntVal(int64(n)), nil
}

// durationOf reads milliseconds (a number, or a string of digits) or a string such as "10s".
func durationOf(v any) (cty.Value, error) {
	s, ok := numberText(v)
	if !ok {
		return cty.NilVal, fmt.Errorf("want milliseconds or a duration such as \"10s\", got %s", typeName(v))
	}
	d, err := ecosystem.ParseDuration(s)
	if err != nil {
		return cty.NilVal, err
	}
	return cty.StringVal(formatDuration(d)), nil
}

// formatDuration writes d the short way: "1.6s", "1m30s", "1h".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// sizeOf reads bytes or "512M".
func sizeOf(v any) (cty.Value, error) {
	s, ok := numberText(v)
	if !ok {
		return cty.NilVal, fmt.Errorf("want bytes or a size such as \"512M\", got %s", typeName(v))
	}
	n, err := ecosystem.ParseSize(s)
	if err != nil {
		return cty.NilVal, err
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return cty.StringVal(s), nil // already "512M"
	}
	for _, u := range []struct {
		suffix string
		size   ecosystem.ByteSize
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return cty.StringVal(fmt.Sprintf("%d%s", n/u.size, u.suffix)), nil
		}
	}
	return cty.NumberIntVal(int64(n)), nil
}

func argsOf(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		words, err := ecosystem.SplitArgs(x)
		if err != nil {
			return nil, fmt.Errorf("the arguments %s", err)
		}
		return words, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case json.Number:
				out = append(out, string(e))
			case bool:
				out = append(out, strconv.FormatBool(e))
			default:
				return nil, fmt.Errorf("want a list of strings, got %s in it", typeName(e))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings, got %s", typeName(v))
}

func strList(list []string) cty.Value {
	if len(list) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(list))
	for i, s := range list {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// short writes v as compact JSON, cut to a line.
func short(v any) string {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(js)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// comment appends text as # lines, wrapped.
func comment(body *hclwrite.Body, text string) {
	for _, line := range strings.Split(wordwrap.WrapString(text, 96), "\n") {
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + line + "\n")}})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
