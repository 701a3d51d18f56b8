package live_test

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr       string
		names, lbl []string
	}{
		{`up`, []string{"up"}, nil},
		{`sum by (state) (camstorm_cameras)`, []string{"camstorm_cameras"}, []string{"state"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket{ack="persisted",scenario=~"$scenario"}[$__rate_interval])))`,
			[]string{"a_bucket"}, []string{"ack", "scenario"}},
		{`sum(rate(x_total{name="rate(y)"}[5m])) / (sum(rate(x_total[1m] offset 5m)) + 1e3)`, []string{"x_total"}, []string{"name"}},
		{`a and on(job) b or ignoring (instance) group_left(z) c unless d > bool 2`, []string{"a", "b", "c", "d"}, []string{"instance", "job", "z"}},
		{`max without (pod) (m:recorded:rate5m{k!="v, w"}) > inf`, []string{"m:recorded:rate5m"}, []string{"k", "pod"}},
		{`sum(x_total) by (a, b)`, []string{"x_total"}, []string{"a", "b"}},
		{`vector(1)`, nil, nil},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.names) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.names)
		}
		if got := matcherLabels(tc.expr); !slices.Equal(got, tc.lbl) {
			t.Errorf("matcherLabels(%q) = %q, want %q", tc.expr, got, tc.lbl)
		}
	}
}
