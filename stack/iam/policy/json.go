package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// objectMembers splits a JSON object into its members. Unlike decoding into a
// map or struct it keeps names case-sensitive (the policy grammar is) and
// refuses duplicate names, which would otherwise let the last one win silently.
func objectMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("must be a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		for _, m := range out {
			if m.name == name {
				return nil, fmt.Errorf("has %q twice", name)
			}
		}
		out = append(out, member{name, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("has data after the closing brace")
	}
	return out, nil
}

// jsonKind is the first byte of a JSON value, which tells its type.
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// stringOrList decodes the grammar's "one string or a list of strings".
func stringOrList(raw json.RawMessage) ([]string, error) {
	switch jsonKind(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	case '[':
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, errors.New("must be a string or a list of strings")
		}
		if len(l) == 0 {
			return nil, errors.New("must not be an empty list")
		}
		return l, nil
	}
	return nil, errors.New("must be a string or a list of strings")
}

// scalarOrList decodes a condition's values: strings, numbers and booleans,
// alone or in a list, each as its text ("true", "42").
func scalarOrList(raw json.RawMessage) ([]string, error) {
	if jsonKind(raw) == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, errors.New("must not be an empty list")
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, err := scalarText(it)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalarText(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalarText(raw json.RawMessage) (string, error) {
	switch k := jsonKind(raw); {
	case k == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case k == 't' || k == 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", err
		}
		if b {
			return "true", nil
		}
		return "false", nil
	case k == '-' || (k >= '0' && k <= '9'):
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", err
		}
		return n.String(), nil
	}
	return "", errors.New("values must be strings, numbers or booleans")
}
