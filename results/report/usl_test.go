package report

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// uslPoints samples X(N) at n = start, start+step, ... up to count points,
// with multiplicative Gaussian noise of relative size noise.
func uslPoints(p uslParams, start, step float64, count int, noise float64, seed uint64) (n, x []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range count {
		N := start + float64(i)*step
		n = append(n, N)
		x = append(x, p.at(N)*(1+noise*rng.NormFloat64()))
	}
	return n, x
}

func TestFitUSLRecoversKnownParameters(t *testing.T) {
	tests := []struct {
		name        string
		p           uslParams
		start, step float64
		count       int
		noise       float64
		// tolerances: relative for λ and the peak, absolute for σ and κ.
		relLambda, absSigma, absKappa, relPeak float64
	}{
		{"linear", uslParams{lambda: 1, sigma: 0, kappa: 0}, 50, 50, 12, 0, 1e-6, 1e-6, 1e-9, 0},
		{"contention only", uslParams{lambda: 2, sigma: 0.05, kappa: 0}, 1, 10, 20, 0, 1e-4, 1e-4, 1e-8, 0},
		{"codahale example", uslParams{lambda: 90, sigma: 0.028, kappa: 0.0001}, 1, 8, 25, 0, 1e-4, 1e-4, 1e-7, 1e-4},
		{"strong coherency", uslParams{lambda: 10, sigma: 0.2, kappa: 0.002}, 1, 2, 30, 0, 1e-4, 1e-4, 1e-6, 1e-4},
		{"cameras", uslParams{lambda: 1, sigma: 0.001, kappa: 2e-6}, 50, 50, 16, 0, 1e-4, 1e-4, 1e-8, 1e-3},
		{"codahale example, 1% noise", uslParams{lambda: 90, sigma: 0.028, kappa: 0.0001}, 1, 8, 25, 0.01, 0.05, 0.01, 3e-5, 0.1},
		{"strong coherency, 2% noise", uslParams{lambda: 10, sigma: 0.2, kappa: 0.002}, 1, 2, 30, 0.02, 0.1, 0.05, 5e-4, 0.15},
		{"cameras, 1% noise", uslParams{lambda: 1, sigma: 0.001, kappa: 2e-6}, 50, 50, 16, 0.01, 0.05, 0.01, 2e-6, 0.2},
	}
	for _, tt := range tests {
		n, x := uslPoints(tt.p, tt.start, tt.step, tt.count, tt.noise, 42)
		fit, err := FitUSL(n, x)
		if err != nil {
			t.Errorf("%s: FitUSL(%v, %v) error %v", tt.name, n, x, err)
			continue
		}
		if d := math.Abs(fit.Lambda-tt.p.lambda) / tt.p.lambda; d > tt.relLambda {
			t.Errorf("%s: λ = %g, want %g ± %g relative", tt.name, fit.Lambda, tt.p.lambda, tt.relLambda)
		}
		if d := math.Abs(fit.Sigma - tt.p.sigma); d > tt.absSigma {
			t.Errorf("%s: σ = %g, want %g ± %g", tt.name, fit.Sigma, tt.p.sigma, tt.absSigma)
		}
		if d := math.Abs(fit.Kappa - tt.p.kappa); d > tt.absKappa {
			t.Errorf("%s: κ = %g, want %g ± %g", tt.name, fit.Kappa, tt.p.kappa, tt.absKappa)
		}
		if tt.p.kappa > 0 {
			want := math.Sqrt((1 - tt.p.sigma) / tt.p.kappa)
			if d := math.Abs(fit.PeakN-want) / want; d > tt.relPeak {
				t.Errorf("%s: PeakN = %g, want %g ± %g relative", tt.name, fit.PeakN, want, tt.relPeak)
			}
			if wantX := tt.p.at(want); math.Abs(fit.PeakX-wantX)/wantX > tt.relPeak {
				t.Errorf("%s: PeakX = %g, want %g ± %g relative", tt.name, fit.PeakX, wantX, tt.relPeak)
			}
		}
		if tt.noise == 0 && (fit.R2 < 0.999999 || fit.RMSE > 1e-6*tt.p.lambda*n[len(n)-1]) {
			t.Errorf("%s: exact data fit with R2 %g, RMSE %g; want R2 ≈ 1, RMSE ≈ 0", tt.name, fit.R2, fit.RMSE)
		}
		if tt.noise > 0 && fit.R2 < 0.9 {
			t.Errorf("%s: R2 = %g, want ≥ 0.9 at %g noise", tt.name, fit.R2, tt.noise)
		}
	}
}

func TestFitUSLNoPeakWhenLinear(t *testing.T) {
	n := []float64{50, 100, 150, 200, 250}
	x := []float64{50, 100, 150, 200, 250}
	fit, err := FitUSL(n, x)
	if err != nil {
		t.Fatalf("FitUSL(%v, %v) error %v", n, x, err)
	}
	if fit.PeakN != 0 || fit.PeakX != 0 {
		t.Errorf("FitUSL(%v, %v) peak (%g, %g), want (0, 0): no peak", n, x, fit.PeakN, fit.PeakX)
	}
}

func TestFitUSLKeepsConstraints(t *testing.T) {
	// Super-linear data would want σ < 0; the fit must stay in bounds.
	n := []float64{1, 2, 3, 4, 5}
	x := []float64{1, 2.5, 4.2, 6, 8}
	fit, err := FitUSL(n, x)
	if err != nil {
		t.Fatalf("FitUSL(%v, %v) error %v", n, x, err)
	}
	if fit.Sigma < 0 || fit.Sigma > 1 || fit.Kappa < 0 || fit.Lambda <= 0 {
		t.Errorf("FitUSL(%v, %v) = %+v, want σ in [0,1], κ ≥ 0, λ > 0", n, x, fit)
	}
}

func TestFitUSLRejectsDegenerateData(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name string
		n, x []float64
	}{
		{"nil", nil, nil},
		{"two points", []float64{1, 2}, []float64{1, 2}},
		{"lengths differ", []float64{1, 2, 3}, []float64{1, 2}},
		{"two distinct loads", []float64{1, 1, 2, 2}, []float64{1, 1, 2, 2}},
		{"zero load", []float64{0, 1, 2}, []float64{0, 1, 2}},
		{"negative throughput", []float64{1, 2, 3}, []float64{1, -2, 3}},
		{"no throughput", []float64{1, 2, 3}, []float64{0, 0, 0}},
		{"infinite", []float64{1, 2, inf}, []float64{1, 2, 3}},
		{"NaN", []float64{1, 2, 3}, []float64{1, nan, 3}},
	}
	for _, tt := range tests {
		fit, err := FitUSL(tt.n, tt.x)
		if !errors.Is(err, ErrUSLData) {
			t.Errorf("%s: FitUSL(%v, %v) = %+v, %v; want an error wrapping ErrUSLData", tt.name, tt.n, tt.x, fit, err)
		}
	}
}

func TestKneeNearAnalyticKnee(t *testing.T) {
	// With N from 1, the initial slope is X(1) = λ; the analytic knee is
	// where X'(N) = λ(1−σ−κN²)/D² falls to λ/2.
	tests := []struct {
		name string
		p    uslParams
		step float64
	}{
		{"contention", uslParams{lambda: 1, sigma: 0.05}, 1},
		{"coherency", uslParams{lambda: 90, sigma: 0.028, kappa: 0.0001}, 2},
		{"cameras", uslParams{lambda: 1, sigma: 0.001, kappa: 2e-6}, 10},
	}
	for _, tt := range tests {
		n, x := uslPoints(tt.p, 1, tt.step, 400, 0, 1)
		want := analyticKnee(tt.p)
		got := Knee(n, x)
		if math.Abs(float64(got)-want) > 2*tt.step+1 {
			t.Errorf("%s: Knee = %d, want %.1f ± %g (one step)", tt.name, got, want, 2*tt.step+1)
		}
	}
}

// analyticKnee finds X'(N) = λ/2 by bisection on [1, 1e6].
func analyticKnee(p uslParams) float64 {
	deriv := func(N float64) float64 {
		d := 1 + p.sigma*(N-1) + p.kappa*N*(N-1)
		return p.lambda * (1 - p.sigma - p.kappa*N*N) / (d * d)
	}
	lo, hi := 1.0, 1e6
	for range 200 {
		mid := (lo + hi) / 2
		if deriv(mid) > p.lambda/2 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func TestKneeCases(t *testing.T) {
	tests := []struct {
		name string
		n, x []float64
		want int
	}{
		{"linear: no knee", []float64{50, 100, 150}, []float64{50, 100, 150}, 0},
		{"flat after 100", []float64{50, 100, 150, 200}, []float64{50, 100, 110, 112}, 100},
		{"unsorted", []float64{150, 50, 100}, []float64{110, 50, 100}, 100},
		{"declines", []float64{10, 20, 30}, []float64{10, 8, 6}, 10},
		{"a backlog inflates the first step", []float64{500, 600, 700, 800, 900}, []float64{587.5, 600, 699.6, 800.8, 898.9}, 0},
		{"one slow step, then in proportion", []float64{100, 200, 300, 400}, []float64{100, 200, 230, 400}, 0},
		{"flat at the end", []float64{100, 200, 300, 400}, []float64{100, 200, 300, 320}, 300},
		{"one point", []float64{10}, []float64{10}, 0},
		{"lengths differ", []float64{10, 20}, []float64{10}, 0},
		{"NaN", []float64{10, 20, 30}, []float64{10, math.NaN(), 30}, 0},
		{"no throughput", []float64{10, 20, 30}, []float64{0, 0, 0}, 0},
	}
	for _, tt := range tests {
		if got := Knee(tt.n, tt.x); got != tt.want {
			t.Errorf("%s: Knee(%v, %v) = %d, want %d", tt.name, tt.n, tt.x, got, tt.want)
		}
	}
}

func FuzzFitUSL(f *testing.F) {
	f.Add([]byte{})
	seed := func(vals ...float64) []byte {
		var b []byte
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	f.Add(seed(1, 1, 2, 2, 3, 3))
	f.Add(seed(1, 90, 9, 700, 17, 1200, 25, 1500))
	f.Add(seed(1, 0, 2, 0, 3, 1e308))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n, x []float64
		for len(data) >= 16 && len(n) < 64 {
			n = append(n, math.Float64frombits(binary.LittleEndian.Uint64(data)))
			x = append(x, math.Float64frombits(binary.LittleEndian.Uint64(data[8:])))
			data = data[16:]
		}
		_ = Knee(n, x)
		fit, err := FitUSL(n, x)
		if err != nil {
			if !errors.Is(err, ErrUSLData) {
				t.Fatalf("FitUSL(%v, %v) error %v does not wrap ErrUSLData", n, x, err)
			}
			return
		}
		if fit.Sigma < 0 || fit.Sigma > 1 || fit.Kappa < 0 || !(fit.Lambda > 0) || math.IsNaN(fit.Kappa) {
			t.Fatalf("FitUSL(%v, %v) = %+v, out of bounds", n, x, fit)
		}
	})
}
