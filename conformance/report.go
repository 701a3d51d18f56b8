package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReportSchema versions the JSON report; a consumer checks it.
const ReportSchema = "camstorm.conformance/v1"

// WriteJSON writes the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	c := r.Counts()
	doc := struct {
		Schema string `json:"schema"`
		*Report
		Summary struct {
			Pass     int `json:"pass"`
			Fail     int `json:"fail"`
			Skip     int `json:"skip"`
			Error    int `json:"error"`
			MustFail int `json:"must_fail"`
		} `json:"summary"`
	}{Schema: ReportSchema, Report: r}
	doc.Summary.Pass, doc.Summary.Fail, doc.Summary.Skip, doc.Summary.Error, doc.Summary.MustFail = c.Pass, c.Fail, c.Skip, c.Harness, c.MustFail
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// JUnit XML, in the shape Jenkins, GitLab and GitHub test reporters read:
// one testsuite per suite, a testcase per case named by its ID.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d Duration) string { return fmt.Sprintf("%.3f", time.Duration(d).Seconds()) }

// WriteJUnit writes the report as JUnit XML. A failed SHOULD is a failure
// too (typed "SHOULD") so that it shows; the exit code ignores it.
func WriteJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "camstorm conform " + r.Target, Time: seconds(r.Duration)}
	index := map[string]int{}
	for _, res := range r.Results {
		i, ok := index[res.Suite]
		if !ok {
			i = len(out.Suites)
			index[res.Suite] = i
			out.Suites = append(out.Suites, junitSuite{Name: res.Suite, Timestamp: res.Started.UTC().Format(time.RFC3339)})
		}
		s := &out.Suites[i]
		tc := junitCase{Name: res.ID + " " + res.Title, Classname: "camstorm.conform." + res.Suite, Time: seconds(res.Duration),
			SystemOut: res.Describe()}
		switch res.Verdict {
		case Fail:
			tc.Failure = &junitProblem{Message: firstLine(strings.Join(res.Actual, "; ")), Type: string(res.Level), Text: res.Describe()}
			s.Failures++
		case Harness:
			tc.Error = &junitProblem{Message: firstLine(res.Reason), Type: "harness", Text: res.Reason}
			s.Errors++
		case Skip:
			tc.Skipped = &junitProblem{Message: res.Reason}
			s.Skipped++
		}
		s.Cases = append(s.Cases, tc)
		s.Tests++
		s.Time = seconds(Duration(parseSeconds(s.Time) + time.Duration(res.Duration)))
		out.Tests++
	}
	for _, s := range out.Suites {
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func parseSeconds(s string) time.Duration {
	var f float64
	fmt.Sscan(s, &f)
	return time.Duration(f * float64(time.Second))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// String is the result on one line: ID, verdict, duration and what
// happened (the actual outcome, or the reason for a skip or error).
func (res Result) String() string {
	what := res.Reason
	if len(res.Actual) > 0 {
		what = strings.Join(res.Actual, "; ")
		if res.Reason != "" {
			what += " (" + res.Reason + ")"
		}
	}
	return fmt.Sprintf("%s %s (%.2fs): %s", res.ID, res.Verdict, time.Duration(res.Duration).Seconds(), what)
}

// Describe is the result in words: requirement, stimulus, expected,
// actual, evidence — what a reader needs without the code.
func (res Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Requirement %s (%s): %s\n", res.Requirement.ID, res.Level, res.Requirement.Text)
	if res.Source != "" {
		fmt.Fprintf(&b, "Source: %s\n", res.Source)
	}
	fmt.Fprintf(&b, "Stimulus: %s\nExpected: %s\n", res.Stimulus, res.Expected)
	for _, a := range res.Actual {
		fmt.Fprintf(&b, "Actual: %s\n", a)
	}
	if res.Reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n", res.Reason)
	}
	for _, e := range res.Evidence {
		fmt.Fprintf(&b, "Evidence [%s]: %s\n", e.Kind, e.Detail)
	}
	return b.String()
}

// Progress returns an observer that writes one line per finished case, in
// the order they finish, e.g.
//
//	[ 3/52] pass  ENC-TLS-003  TLS below 1.2 is refused (0.04s)
//
// and, with verbose, the description of every case that did not pass.
func Progress(w io.Writer, verbose bool) func(Event) {
	done := 0
	return func(e Event) {
		if e.Result == nil {
			return
		}
		done++
		res := e.Result
		width := len(fmt.Sprint(e.Total))
		fmt.Fprintf(w, "[%*d/%d] %-5s %-22s %s (%.2fs)\n", width, done, e.Total, res.Verdict, res.ID, res.Title,
			time.Duration(res.Duration).Seconds())
		if verbose && res.Verdict != Pass {
			fmt.Fprint(w, indent(res.Describe(), "        "))
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// WriteText writes the end-of-run summary: every case that failed or
// could not be judged, in full, then the counts.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Verdict == Pass || res.Verdict == Skip {
			continue
		}
		fmt.Fprintf(&b, "\n%s %s — %s [%s]\n", strings.ToUpper(string(res.Verdict)), res.ID, res.Title, res.Suite)
		b.WriteString(indent(res.Describe(), "  "))
	}
	var skipped []string
	for _, res := range r.Results {
		if res.Verdict == Skip {
			skipped = append(skipped, fmt.Sprintf("  %s: %s", res.ID, res.Reason))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "\nSkipped:\n%s\n", strings.Join(skipped, "\n"))
	}
	c := r.Counts()
	fmt.Fprintf(&b, "\n%d cases against %s in %.1fs: %d passed, %d failed (%d MUST), %d skipped, %d harness errors\n",
		len(r.Results), r.Target, time.Duration(r.Duration).Seconds(), c.Pass, c.Fail, c.MustFail, c.Skip, c.Harness)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteList writes the selected cases without running them: ID, level,
// requirement and title, one per line, grouped by suite.
func WriteList(w io.Writer, suites []*Suite) error {
	var b strings.Builder
	for _, s := range suites {
		fmt.Fprintf(&b, "%s — %s (%d cases)\n", s.Name, s.Title, len(s.Cases))
		for _, c := range s.Cases {
			fmt.Fprintf(&b, "  %-22s %-6s %-9s %s\n", c.ID, c.level(), c.Requirement, c.Title)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
