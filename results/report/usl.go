package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrUSLData wraps every reason FitUSL cannot fit the points it is given.
var ErrUSLData = errors.New("usl: cannot fit")

// noPeakKappa is the coherency below which the fitted curve is taken to
// have no peak in any fleet worth measuring.
const noPeakKappa = 1e-12

// FitUSL fits the Universal Scalability Law X(N) = λN / (1 + σ(N−1) +
// κN(N−1)) to throughputs x measured at loads n, by least squares on x
// with σ in [0, 1], κ ≥ 0 and λ > 0.
//
// It starts from the linearised form N/X = (1 + σ(N−1) + κN(N−1))/λ,
// solved by weighted linear least squares, and from the pure-linear and
// pure-contention curves, then refines each start with a projected
// Levenberg-Marquardt on the original residuals and keeps the best.
// PeakN is sqrt((1−σ)/κ), or 0 when κ is 0 (no peak: the curve only
// flattens). Fewer than 3 points, fewer than 3 distinct loads, loads
// below 1, negative or non-finite values, or no throughput at all are
// errors wrapping ErrUSLData.
func FitUSL(n, x []float64) (*USLFit, error) {
	if err := uslCheck(n, x); err != nil {
		return nil, err
	}
	starts := []uslParams{uslLinearised(n, x)}
	starts = append(starts, uslParams{lambda: uslSlope(n, x)})
	starts = append(starts, uslParams{lambda: uslSlope(n, x), sigma: 0.1, kappa: 1e-4})
	best, bestSSE := uslParams{}, math.Inf(1)
	for _, s := range starts {
		p := uslRefine(n, x, s.clamp())
		if e := uslSSE(n, x, p); e < bestSSE {
			best, bestSSE = p, e
		}
	}
	if math.IsInf(bestSSE, 0) || math.IsNaN(bestSSE) {
		return nil, fmt.Errorf("%w: the fit did not converge", ErrUSLData)
	}
	fit := &USLFit{Lambda: best.lambda, Sigma: best.sigma, Kappa: best.kappa}
	if best.kappa > noPeakKappa {
		fit.PeakN = math.Sqrt((1 - best.sigma) / best.kappa)
		fit.PeakX = best.at(fit.PeakN)
	}
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	sst := 0.0
	for _, v := range x {
		sst += (v - mean) * (v - mean)
	}
	switch {
	case sst > 0:
		fit.R2 = 1 - bestSSE/sst
	case bestSSE <= 1e-12*mean*mean:
		fit.R2 = 1
	}
	fit.RMSE = math.Sqrt(bestSSE / float64(len(x)))
	return fit, nil
}

// Predict is the fitted throughput at load n.
func (f *USLFit) Predict(n float64) float64 {
	return uslParams{lambda: f.Lambda, sigma: f.Sigma, kappa: f.Kappa}.at(n)
}

// Knee is the load after which throughput stops growing in proportion to
// it. With the points sorted by load, the initial slope is the first
// point's throughput per unit of load (the line from the origin); the
// knee is the load n[k] of the first point from which throughput grows by
// less than half that slope per added unit to every later point:
// (x[j]−x[k])/(n[j]−n[k]) < initial/2 for all j > k. Asking it of every
// later point, not just the next, keeps one slow step (a backlog drained
// in the step before, a noisy hold) from passing for a knee; on a concave
// curve such as the USL's it is the same as asking it of the next point.
// It returns 0 when no point qualifies (throughput still grows in
// proportion at the largest load) or when the data cannot say (fewer than
// 2 points, lengths differ, loads not positive, values not finite).
func Knee(n, x []float64) int {
	if len(n) != len(x) || len(n) < 2 {
		return 0
	}
	idx := make([]int, len(n))
	for i := range idx {
		if !uslFinite(n[i]) || !uslFinite(x[i]) || n[i] <= 0 {
			return 0
		}
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return uslCmp(n[a], n[b]) })
	first := idx[0]
	initial := x[first] / n[first]
	if initial <= 0 {
		return 0
	}
	for k := 0; k < len(idx)-1; k++ {
		from := idx[k]
		slowed, compared := true, false
		for _, j := range idx[k+1:] {
			dn := n[j] - n[from]
			if dn <= 0 {
				continue // a repeated load says nothing about the slope
			}
			compared = true
			if (x[j]-x[from])/dn >= initial/2 {
				slowed = false
				break
			}
		}
		if slowed && compared {
			return int(math.Round(n[from]))
		}
	}
	return 0
}

// uslParams are the three USL coefficients.
type uslParams struct{ lambda, sigma, kappa float64 }

// at is X(n).
func (p uslParams) at(n float64) float64 {
	return p.lambda * n / (1 + p.sigma*(n-1) + p.kappa*n*(n-1))
}

// clamp projects p onto the constraints.
func (p uslParams) clamp() uslParams {
	p.sigma = min(max(p.sigma, 0), 1)
	p.kappa = max(p.kappa, 0)
	if !(p.lambda > 1e-300) || math.IsInf(p.lambda, 0) {
		p.lambda = 1e-300
	}
	if math.IsNaN(p.sigma) {
		p.sigma = 0
	}
	if math.IsNaN(p.kappa) || math.IsInf(p.kappa, 0) {
		p.kappa = 0
	}
	return p
}

func uslCheck(n, x []float64) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrUSLData}, args...)...))
	}
	if len(n) != len(x) {
		bad("%d loads but %d throughputs", len(n), len(x))
		return errors.Join(errs...)
	}
	if len(n) < 3 {
		bad("%d points, want at least 3", len(n))
	}
	distinct := map[float64]bool{}
	total := 0.0
	for i := range n {
		if !uslFinite(n[i]) || n[i] < 1 {
			bad("load %v at point %d, want a finite number >= 1", n[i], i)
		}
		if !uslFinite(x[i]) || x[i] < 0 {
			bad("throughput %v at point %d, want a finite number >= 0", x[i], i)
		} else {
			total += x[i]
		}
		distinct[n[i]] = true
	}
	if len(n) >= 3 && len(distinct) < 3 {
		bad("%d distinct loads, want at least 3", len(distinct))
	}
	if len(errs) == 0 && !(total > 0) {
		bad("every throughput is 0")
	}
	return errors.Join(errs...)
}

// uslLinearised solves N/X = a + b(N−1) + cN(N−1) by least squares
// weighted by X² (so each point counts as its error in X would), giving
// λ = 1/a, σ = b/a, κ = c/a. Points with no throughput are skipped.
func uslLinearised(n, x []float64) uslParams {
	var ata [3][3]float64
	var atb [3]float64
	for i := range n {
		if x[i] <= 0 {
			continue
		}
		row := [3]float64{1, n[i] - 1, n[i] * (n[i] - 1)}
		y := n[i] / x[i]
		w := x[i] * x[i]
		for r := range 3 {
			for c := range 3 {
				ata[r][c] += w * row[r] * row[c]
			}
			atb[r] += w * row[r] * y
		}
	}
	sol, ok := uslSolve3(ata, atb)
	if !ok || !(sol[0] > 0) {
		return uslParams{lambda: uslSlope(n, x)}
	}
	return uslParams{lambda: 1 / sol[0], sigma: sol[1] / sol[0], kappa: sol[2] / sol[0]}
}

// uslSlope is the least-squares λ of X = λN.
func uslSlope(n, x []float64) float64 {
	num, den := 0.0, 0.0
	for i := range n {
		num += n[i] * x[i]
		den += n[i] * n[i]
	}
	return num / den
}

func uslSSE(n, x []float64, p uslParams) float64 {
	s := 0.0
	for i := range n {
		r := x[i] - p.at(n[i])
		s += r * r
	}
	return s
}

// uslRefine runs a projected Levenberg-Marquardt from p: each step solves
// (JᵀJ + μ·diag(JᵀJ))δ = Jᵀr, projects onto the constraints, and is kept
// only if it lowers the squared error. It is bounded to 200 iterations.
func uslRefine(n, x []float64, p uslParams) uslParams {
	mu := 1e-3
	cur := uslSSE(n, x, p)
	for range 200 {
		var jtj [3][3]float64
		var jtr [3]float64
		for i := range n {
			N := n[i]
			d := 1 + p.sigma*(N-1) + p.kappa*N*(N-1)
			f := p.lambda * N / d
			g := [3]float64{N / d, -p.lambda * N * (N - 1) / (d * d), -p.lambda * N * N * (N - 1) / (d * d)}
			r := x[i] - f
			for a := range 3 {
				for b := range 3 {
					jtj[a][b] += g[a] * g[b]
				}
				jtr[a] += g[a] * r
			}
		}
		improved := false
		for range 30 {
			m := jtj
			for a := range 3 {
				m[a][a] += mu * max(jtj[a][a], 1e-300)
			}
			delta, ok := uslSolve3(m, jtr)
			if !ok {
				mu *= 10
				continue
			}
			q := uslParams{lambda: p.lambda + delta[0], sigma: p.sigma + delta[1], kappa: p.kappa + delta[2]}.clamp()
			if e := uslSSE(n, x, q); e < cur {
				gain := cur - e
				p, cur = q, e
				mu = max(mu/10, 1e-12)
				improved = true
				if gain <= 1e-15*max(cur, 1e-300) {
					return p
				}
				break
			}
			mu *= 10
			if mu > 1e12 {
				break
			}
		}
		if !improved {
			return p
		}
	}
	return p
}

// uslSolve3 solves the 3×3 system a·v = b by Gaussian elimination with
// partial pivoting; ok is false when a is (near) singular.
func uslSolve3(a [3][3]float64, b [3]float64) (v [3]float64, ok bool) {
	scale := 0.0
	for r := range 3 {
		for c := range 3 {
			scale = max(scale, math.Abs(a[r][c]))
		}
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return v, false
	}
	for col := range 3 {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		if math.Abs(a[piv][col]) <= 1e-300 {
			return v, false
		}
		a[col], a[piv] = a[piv], a[col]
		b[col], b[piv] = b[piv], b[col]
		for r := col + 1; r < 3; r++ {
			f := a[r][col] / a[col][col]
			for c := col; c < 3; c++ {
				a[r][c] -= f * a[col][c]
			}
			b[r] -= f * b[col]
		}
	}
	for r := 2; r >= 0; r-- {
		s := b[r]
		for c := r + 1; c < 3; c++ {
			s -= a[r][c] * v[c]
		}
		v[r] = s / a[r][r]
	}
	for _, x := range v {
		if !uslFinite(x) {
			return v, false
		}
	}
	return v, true
}

func uslFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func uslCmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
