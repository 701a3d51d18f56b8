package results

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ExportSummary writes SummaryData in k6's legacy --summary-export format:
// options and state dropped, each metric flattened to its values, its
// thresholds as {expr: failed} (true means the threshold FAILED), a Rate's
// rate renamed value, and root_group's groups and checks as maps keyed by
// name. The JSON is indented four spaces with no HTML escaping, as
// JSON.stringify(x, null, 4) writes it.
func ExportSummary(data map[string]any) ([]byte, error) {
	// A JSON round trip deep-copies data, so the caller's map is untouched.
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("summary export: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("summary export: %w", err)
	}
	delete(out, "options")
	delete(out, "state")
	if metrics, ok := out["metrics"].(map[string]any); ok {
		for name, m := range metrics {
			metrics[name] = legacyMetric(m)
		}
	}
	if root, ok := out["root_group"].(map[string]any); ok {
		out["root_group"] = legacyGroup(root)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("summary export: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func legacyMetric(m any) any {
	metric, ok := m.(map[string]any)
	if !ok {
		return m
	}
	values, ok := metric["values"].(map[string]any)
	if !ok {
		values = map[string]any{}
	}
	if ths, ok := metric["thresholds"].(map[string]any); ok && len(ths) > 0 {
		failed := make(map[string]any, len(ths))
		for expr, th := range ths {
			obj, _ := th.(map[string]any)
			passed, _ := obj["ok"].(bool)
			failed[expr] = !passed
		}
		values["thresholds"] = failed
	}
	if rate, ok := values["rate"]; ok && metric["type"] == "rate" {
		values["value"] = rate
		delete(values, "rate")
	}
	return values
}

func legacyGroup(g map[string]any) map[string]any {
	if groups, ok := g["groups"].([]any); ok {
		byName := make(map[string]any, len(groups))
		for _, sub := range groups {
			if sg, ok := sub.(map[string]any); ok {
				name, _ := sg["name"].(string)
				byName[name] = legacyGroup(sg)
			}
		}
		g["groups"] = byName
	}
	if checks, ok := g["checks"].([]any); ok {
		byName := make(map[string]any, len(checks))
		for _, c := range checks {
			if cm, ok := c.(map[string]any); ok {
				name, _ := cm["name"].(string)
				byName[name] = cm
			}
		}
		g["checks"] = byName
	}
	return g
}
