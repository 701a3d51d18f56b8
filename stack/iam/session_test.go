package iam

import (
	"testing"

	"github.com/camstorm/camstorm/stack/pki"
)

// FuzzSessionToken feeds arbitrary X-Amz-Security-Token values to the
// lookup a SigV4 verifier makes: it must never panic, and only a token this
// service sealed for that access key id may be accepted.
func FuzzSessionToken(f *testing.F) {
	ca, err := pki.LoadOrCreate(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	svc, err := Open(Config{DataDir: f.TempDir(), CA: ca})
	if err != nil {
		f.Fatal(err)
	}
	admin := svc.AdminCredential()
	issued := map[string]Credential{}
	for _, session := range []string{"s1", "a-much-longer-session-name@example.com"} {
		c, err := svc.AssumeRole(admin.Principal, svc.RoleARN(ConsumerRoleName), session, 0)
		if err != nil {
			f.Fatal(err)
		}
		issued[c.SessionToken] = c
		f.Add(c.AccessKeyID, c.SessionToken)
		f.Add(c.AccessKeyID, c.SessionToken[:len(c.SessionToken)/2])
	}
	f.Add(admin.AccessKeyID, "")
	f.Add("ASIAAAAAAAAAAAAAAAAA", "AQ==")
	f.Fuzz(func(t *testing.T, akid, token string) {
		c, ok := svc.LookupCredential(akid, token)
		if !ok {
			return
		}
		if token == "" {
			if c != admin {
				t.Fatalf("LookupCredential(%q, \"\") found %+v, not the admin key", akid, c)
			}
			return
		}
		want, known := issued[token]
		if !known || c != want || akid != want.AccessKeyID {
			t.Fatalf("LookupCredential(%q, %q) accepted a token the service did not issue for that key: %+v", akid, token, c)
		}
	})
}
