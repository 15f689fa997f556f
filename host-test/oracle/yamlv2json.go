// yamlv2json is the Go yaml.v2 half of postwire's YAML oracle (see README.md).
//
// stdin:  a JSON array of YAML document texts.
// stdout: a JSON array with one element per input document, {"ok": <tagged>} or {"error": "<msg>"}.
//
// yaml.v2 is the decoder behind kubectl and Helm, so "what Go sees" is what the cluster sees.
// Every leaf is written as a one-key object naming its type ({"!int": "1"}, {"!str": "1"}, ...)
// and every mapping key as "<type>:<text>", so 1, 1.0, "1" and true never compare equal.
// oracle.py produces the same encoding from PyYAML; keep the two in step.
//
// Built with Debian's golang-go and golang-gopkg-yaml.v2-dev, GOPATH mode, no network.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	yaml "gopkg.in/yaml.v2"
)

type result struct {
	Ok    interface{} `json:"ok,omitempty"`
	Error *string     `json:"error,omitempty"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fatal("reading stdin: %v", err)
	}
	var docs []string
	if err := json.Unmarshal(in, &docs); err != nil {
		fatal("stdin must be a JSON array of strings: %v", err)
	}
	out := make([]result, len(docs))
	for i, doc := range docs {
		out[i] = decode(doc)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fatal("writing stdout: %v", err)
	}
}

// decode isolates one document: an error or even a panic inside yaml.v2 must not hide the others.
func decode(doc string) (r result) {
	defer func() {
		if p := recover(); p != nil {
			msg := fmt.Sprintf("panic: %v", p)
			r = result{Error: &msg}
		}
	}()
	var v interface{}
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		msg := err.Error()
		return result{Error: &msg}
	}
	t, err := tag(v)
	if err != nil {
		msg := err.Error()
		return result{Error: &msg}
	}
	// omitempty is safe on "ok": tag() never returns nil, null is {"!null": null}.
	return result{Ok: t}
}

func leaf(kind string, v interface{}) map[string]interface{} {
	return map[string]interface{}{"!" + kind: v}
}

// floatText is the canonical float spelling shared with oracle.py: shortest round-trip digits in
// exponent form ("1.5e+00"), "+Inf", "-Inf", "NaN".
func floatText(f float64) string {
	return strconv.FormatFloat(f, 'e', -1, 64)
}

func tag(v interface{}) (interface{}, error) {
	switch x := v.(type) {
	case nil:
		return leaf("null", nil), nil
	case bool:
		return leaf("bool", x), nil
	case int:
		return leaf("int", strconv.Itoa(x)), nil
	case int64:
		return leaf("int", strconv.FormatInt(x, 10)), nil
	case uint64:
		return leaf("int", strconv.FormatUint(x, 10)), nil
	case float64:
		return leaf("float", floatText(x)), nil
	case string:
		return leaf("str", x), nil
	case []byte:
		return leaf("binary", base64.StdEncoding.EncodeToString(x)), nil
	case time.Time:
		// Only an explicit !!timestamp gets here; yaml.v2 keeps plain timestamps as strings.
		return leaf("timestamp", x.Format(time.RFC3339Nano)), nil
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			t, err := tag(e)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			key, err := keyText(k)
			if err != nil {
				return nil, err
			}
			t, err := tag(e)
			if err != nil {
				return nil, err
			}
			out[key] = t
		}
		return out, nil
	default:
		return nil, fmt.Errorf("oracle: unexpected decoded type %T", v)
	}
}

// keyText keeps a mapping key's type: "str:x", "int:1", "bool:true", "null:", "float:1e+00".
func keyText(k interface{}) (string, error) {
	switch x := k.(type) {
	case nil:
		return "null:", nil
	case bool:
		return "bool:" + strconv.FormatBool(x), nil
	case int:
		return "int:" + strconv.Itoa(x), nil
	case int64:
		return "int:" + strconv.FormatInt(x, 10), nil
	case uint64:
		return "int:" + strconv.FormatUint(x, 10), nil
	case float64:
		if math.IsNaN(x) {
			return "float:NaN", nil
		}
		return "float:" + floatText(x), nil
	case string:
		return "str:" + x, nil
	default:
		t, err := tag(k)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(t)
		if err != nil {
			return "", err
		}
		return "json:" + string(b), nil
	}
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "yamlv2json: "+format+"\n", args...)
	os.Exit(2)
}
