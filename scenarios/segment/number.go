package segment

import (
	"fmt"
	"math/big"
	"strings"
)

// maxNumberLen bounds one number's text so parsing and later arithmetic stay
// cheap on hostile input; no useful cut point needs more digits.
const maxNumberLen = 40

// numberSyntax is appended to parse errors so users learn what is accepted.
const numberSyntax = "use a fraction (1/4), a decimal (0.25) or a percentage (25%)"

// parseRat reads one cut point: a fraction "a/b", a decimal "0.25" or a
// percentage "25%" / "12.5%". Signs and exponents are rejected on purpose:
// negatives are never valid and exponents could make big.Rat do huge work.
func parseRat(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty number; %s", numberSyntax)
	}
	if len(s) > maxNumberLen {
		return nil, fmt.Errorf("number %.12q… is longer than %d characters", s, maxNumberLen)
	}
	if strings.HasPrefix(s, "-") {
		return nil, fmt.Errorf("%q is negative; cut points lie between 0 and 1", s)
	}
	if body, ok := strings.CutSuffix(s, "%"); ok {
		r, ok := parseDecimal(body)
		if !ok {
			return nil, fmt.Errorf("%q is not a valid percentage; %s", s, numberSyntax)
		}
		return r.Quo(r, big.NewRat(100, 1)), nil
	}
	if num, den, ok := strings.Cut(s, "/"); ok {
		n, okN := parseDigits(num)
		d, okD := parseDigits(den)
		if !okN || !okD {
			return nil, fmt.Errorf("%q is not a valid fraction; %s", s, numberSyntax)
		}
		if d.Sign() == 0 {
			return nil, fmt.Errorf("%q has a zero denominator", s)
		}
		return new(big.Rat).SetFrac(n, d), nil
	}
	r, ok := parseDecimal(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a number; %s", s, numberSyntax)
	}
	return r, nil
}

// parseDigits reads a non-empty run of ASCII digits.
func parseDigits(s string) (*big.Int, bool) {
	if s == "" || !allDigits(s) {
		return nil, false
	}
	return new(big.Int).SetString(s, 10)
}

// parseDecimal reads digits with at most one '.', at least one digit overall.
func parseDecimal(s string) (*big.Rat, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole+frac == "" || !allDigits(whole) || !allDigits(frac) {
		return nil, false
	}
	return new(big.Rat).SetString(whole + "." + frac + "0")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
