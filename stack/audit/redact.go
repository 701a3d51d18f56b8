package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Hidden replaces a redacted value, as CloudTrail writes it.
const Hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// Bounds on what Redact keeps, so one request cannot make a huge record.
const (
	maxParamString = 1024 // longer strings are cut and marked
	maxParamDepth  = 8    // deeper nesting is replaced by a marker
	maxParamItems  = 100  // longer lists and maps are cut and marked
)

// secretKeyParts are substrings of a normalised parameter name (lower case,
// without '-' and '_') whose values are never logged.
var secretKeyParts = []string{
	"secret", "password", "passphrase", "token", "plaintext", "ciphertext",
	"privatekey", "signature", "authorization", "cookie",
}

// publicKeyNames are names that contain a secret part but carry no secret.
var publicKeyNames = map[string]bool{"nexttoken": true}

// Redact returns a copy of params that is safe to write to the audit log.
//
// The rule: a value is replaced by Hidden when its key names a secret
// (contains, ignoring case, '-' and '_': secret, password, passphrase,
// token, plaintext, ciphertext, privatekey, signature, authorization or
// cookie — so SecretAccessKey, SessionToken, X-Amz-Security-Token,
// Plaintext, CiphertextBlob, SourceCiphertextBlob, GrantTokens; NextToken
// is kept) and whenever it is binary ([]byte), whatever its key. Nested
// maps and lists are redacted the same way; other Go values (structs) are
// converted through their JSON encoding first, so their fields are
// redacted by JSON name. Strings longer than 1 KiB, lists and maps longer
// than 100 items and nesting deeper than 8 are cut. Access key ids, key
// ids, ARNs and encryption contexts are not secrets and are kept.
func Redact(params map[string]any) map[string]any {
	if params == nil {
		return nil
	}
	out, _ := redactValue(params, 0).(map[string]any)
	return out
}

func secretKey(k string) bool {
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-' || c == '_':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	n := string(b)
	if publicKeyNames[n] {
		return false
	}
	for _, p := range secretKeyParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

func redactValue(v any, depth int) any {
	if depth > maxParamDepth {
		return "TRUNCATED_NESTING"
	}
	switch v := v.(type) {
	case nil, bool, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return v
	case string:
		return truncate(v, maxParamString)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return Hidden
	case map[string]any:
		return redactMap(len(v), func(yield func(string, any) bool) {
			for k, x := range v {
				if !yield(k, x) {
					return
				}
			}
		}, depth)
	case map[string]string:
		return redactMap(len(v), func(yield func(string, any) bool) {
			for k, x := range v {
				if !yield(k, x) {
					return
				}
			}
		}, depth)
	case []any:
		return redactList(len(v), func(i int) any { return v[i] }, depth)
	case []string:
		return redactList(len(v), func(i int) any { return v[i] }, depth)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("UNLOGGABLE_%T", v)
		}
		var x any
		if err := json.Unmarshal(b, &x); err != nil {
			return fmt.Sprintf("UNLOGGABLE_%T", v)
		}
		if _, scalar := x.(map[string]any); !scalar {
			if _, list := x.([]any); !list {
				return x
			}
		}
		return redactValue(x, depth)
	}
}

func redactMap(n int, each func(func(string, any) bool), depth int) map[string]any {
	out := make(map[string]any, min(n, maxParamItems+1))
	kept := 0
	each(func(k string, x any) bool {
		if kept == maxParamItems {
			out["TRUNCATED_KEYS"] = n - kept
			return false
		}
		kept++
		k = truncate(k, maxParamString)
		if secretKey(k) {
			out[k] = Hidden
		} else {
			out[k] = redactValue(x, depth+1)
		}
		return true
	})
	return out
}

func redactList(n int, at func(int) any, depth int) []any {
	out := make([]any, 0, min(n, maxParamItems+1))
	for i := 0; i < n && i < maxParamItems; i++ {
		out = append(out, redactValue(at(i), depth+1))
	}
	if n > maxParamItems {
		out = append(out, fmt.Sprintf("TRUNCATED_%d_ITEMS", n-maxParamItems))
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("...(%d bytes cut)", len(s)-cut)
}
