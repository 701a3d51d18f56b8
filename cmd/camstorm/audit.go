package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/camstorm/camstorm/stack/audit"
	"github.com/spf13/cobra"
)

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check and search the reference stack's audit trail",
		Long: `The reference stack writes one CloudTrail-shaped record per request, allowed or
denied, to a hash-chained JSON-lines log (FILE) with a checkpoint beside it
(FILE.head). Each line is a CloudTrail record plus an "auditChain" link
{seq, prev, hash}, so jq and CloudTrail tooling read it as is.`,
	}
	cmd.AddCommand(newAuditVerifyCommand(), newAuditQueryCommand())
	return cmd
}

func newAuditVerifyCommand() *cobra.Command {
	var (
		headFile string
		noHead   bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check that an audit log has not been edited, reordered or cut",
		Long: `Read the audit log FILE and check its hash chain: sequence numbers 1, 2, 3 …
with no gaps or repeats, each record linked to the one before, each record's
hash matching its bytes. With the checkpoint (FILE.head, used when present),
records cut from the end are detected too.

On success one line goes to stdout and the exit code is 0:
  1234 records, chain intact, head seq 1234 sha256:9f2c…, checkpoint seq 1234 sha256:9f2c… matches
On a broken chain the exit code is 3 and stderr names the first bad line,
its byte offset and what mismatched. Exit code 1 means the file could not
be read, 2 a usage error.

A log that is being written may end in a half-written line, reported as
torn; verify it once the stack has stopped (or flushed).

The chain is keyed by nothing secret: whoever can rewrite both FILE and
FILE.head and knows the scheme can forge a consistent log. Keep a copy of
FILE.head somewhere else and pass it with --head to check against it.`,
		Example: `  camstorm audit verify stackdata/audit.log
  camstorm audit verify audit.log --head /mnt/offsite/audit.log.head
  camstorm audit verify audit.log --no-head      # a log copied without its checkpoint`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if noHead && headFile != "" {
				return fmt.Errorf("%w: --head and --no-head exclude each other", errUsage)
			}
			var checkpoint []audit.Head
			if !noHead {
				hp, explicit := headFile, headFile != ""
				if !explicit {
					hp = audit.HeadPath(path)
				}
				cp, err := audit.ReadHead(hp)
				switch {
				case err == nil:
					checkpoint = []audit.Head{cp}
				case errors.Is(err, fs.ErrNotExist) && !explicit:
				case errors.Is(err, audit.ErrBadHead):
					return fmt.Errorf("%w: %w", errVerificationFailed, err)
				default:
					return fmt.Errorf("reading checkpoint: %w", err)
				}
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			rep, err := audit.Verify(f, checkpoint...)
			var brk *audit.Break
			if errors.As(err, &brk) {
				return fmt.Errorf("%w: %s %v (kind: %s); the %d records before it are intact",
					errVerificationFailed, path, brk, brk.Kind, rep.Records)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), rep.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&headFile, "head", "", "checkpoint file to check against (default FILE.head when it exists)")
	f.BoolVar(&noHead, "no-head", false, "ignore the checkpoint; records cut from the end then go unnoticed")
	return cmd
}

func newAuditQueryCommand() *cobra.Command {
	var (
		since, until, principal, accessKey, ip, errorCode, resource string
		events, sources                                             []string
		denied, asJSON                                              bool
	)
	cmd := &cobra.Command{
		Use:   "query FILE",
		Short: "Print the audit records that match filters",
		Long: `Print the records of the audit log FILE that match every given filter, in log
order, as a table (or as JSON lines with --json: the records as written,
including their auditChain link). It streams: logs of any size work.
Query does not check the chain; run "camstorm audit verify" for that.

--since and --until take an RFC 3339 time (2026-11-27T04:00:00Z) or a
duration meaning that long ago (15m, 2h). --principal and --resource take an
ARN prefix, or a pattern with * (any characters, / and : included) and ?.
--principal matches the caller's ARN and, for role sessions, the role's ARN.
A summary of how many records matched goes to stderr.`,
		Example: `  # everything refused in the last hour
  camstorm audit query audit.log --denied --since 1h
  # who used a KMS key, as JSON for jq
  camstorm audit query audit.log --source kms.amazonaws.com --resource 'arn:aws:kms:*:key/1234abcd-*' --json
  # every call by cameras of the camera role on one stream
  camstorm audit query audit.log --principal arn:aws:iam::111122223333:role/camera \
      --resource arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-0001/
  # one access key, from one network
  camstorm audit query audit.log --access-key ASIAEXAMPLE --ip 10.0.0.0/8 --event PutMedia,GetMedia`,
		Args: usageArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			flt := audit.Filter{EventNames: events, EventSources: sources, Principal: principal,
				AccessKeyID: accessKey, SourceIP: ip, ErrorCode: errorCode, Denied: denied, Resource: resource}
			var errs []error
			var err error
			if flt.Since, err = parseWhen(since, now); err != nil {
				errs = append(errs, fmt.Errorf("--since: %w", err))
			}
			if flt.Until, err = parseWhen(until, now); err != nil {
				errs = append(errs, fmt.Errorf("--until: %w", err))
			}
			if err := flt.Validate(); err != nil {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			out := cmd.OutOrStdout()
			var print func(audit.Record) error
			var flush func() error
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				print = func(r audit.Record) error { return enc.Encode(r) }
				flush = func() error { return nil }
			} else {
				print, flush = recordTable(out)
			}
			n := 0
			err = audit.Query(f, flt, func(r audit.Record) error {
				n++
				return print(r)
			})
			if ferr := flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d records matched\n", n)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only records at or after this time (RFC 3339, or a duration ago like 1h)")
	fl.StringVar(&until, "until", "", "only records before this time (RFC 3339, or a duration ago)")
	fl.StringSliceVar(&events, "event", nil, "eventName, e.g. PutMedia,GenerateDataKey (repeat or comma-separate)")
	fl.StringSliceVar(&sources, "source", nil, "eventSource, e.g. kms.amazonaws.com, kinesisvideo.amazonaws.com, sts.amazonaws.com, credentials.iot.amazonaws.com")
	fl.StringVar(&principal, "principal", "", "caller or role ARN: a prefix, or a pattern with * and ?")
	fl.StringVar(&accessKey, "access-key", "", "access key id the request was signed with")
	fl.StringVar(&ip, "ip", "", "source IP address or CIDR prefix")
	fl.StringVar(&errorCode, "error", "", `errorCode, or "*" for every failed request`)
	fl.BoolVar(&denied, "denied", false, "only requests refused for authentication or authorisation")
	fl.StringVar(&resource, "resource", "", "resource ARN (stream, key, role): a prefix, or a pattern with * and ?")
	fl.BoolVar(&asJSON, "json", false, "print matching records as JSON lines")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration before now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time like 2026-11-27T04:00:00Z nor a duration like 15m", s)
	}
	return now.Add(-d), nil
}

// tableBlock is how many rows share column widths; it bounds memory.
const tableBlock = 200

// recordTable prints records as an aligned table, flushed every
// tableBlock rows so memory stays bounded.
func recordTable(out io.Writer) (print func(audit.Record) error, flush func() error) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	rows := 0
	fmt.Fprintln(tw, "SEQ\tTIME\tSOURCE\tEVENT\tPRINCIPAL\tACCESS KEY\tIP\tRESULT\tRESOURCES")
	print = func(r audit.Record) error {
		if rows > 0 && rows%tableBlock == 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		rows++
		seq := ""
		if r.Chain != nil {
			seq = fmt.Sprint(r.Chain.Seq)
		}
		principal := r.UserIdentity.ARN
		if principal == "" {
			principal = "(" + r.UserIdentity.Type + ")"
		}
		result := "OK"
		if r.ErrorCode != "" {
			result = r.ErrorCode
		}
		var res []string
		for _, x := range r.Resources {
			res = append(res, x.ARN)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", seq, r.EventTime.UTC().Format(time.RFC3339),
			strings.TrimSuffix(r.EventSource, ".amazonaws.com"), cell(r.EventName), cell(principal),
			cell(r.UserIdentity.AccessKeyID), cell(r.SourceIPAddress), cell(result), cell(strings.Join(res, ",")))
		return err
	}
	return print, tw.Flush
}

// cell keeps a value in one table cell and harmless to a terminal: control
// characters (tabs, newlines, escape sequences from a forged log) become
// '?'; an empty value is "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
