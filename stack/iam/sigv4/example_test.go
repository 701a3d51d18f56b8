package sigv4_test

import (
	"errors"
	"io"
	"net/http"

	"github.com/camstorm/camstorm/stack/iam/sigv4"
)

// A KVS data-plane handler: PutMedia streams, the rest is buffered.
func ExampleVerifier_Verify() {
	keys := map[string]sigv4.Key{"AKIDEXAMPLE": {SecretAccessKey: "secret", Identity: "arn:aws:iam::111122223333:user/alice"}}
	v, err := sigv4.New(sigv4.Config{
		Lookup:   func(id, _ string) (sigv4.Key, bool) { k, ok := keys[id]; return k, ok },
		Region:   "us-east-1",
		Services: []string{"kinesisvideo"},
	})
	if err != nil {
		panic(err)
	}
	refuse := func(w http.ResponseWriter, err error) {
		var e *sigv4.Error
		if errors.As(err, &e) {
			e.WriteError(w, sigv4.RESTJSON)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	_ = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/putMedia" {
			res, err := v.Verify(r, sigv4.Stream())
			if err != nil {
				refuse(w, err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body) // read media from res.Body, not r.Body
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		res, err := v.Verify(r, sigv4.Body(body))
		if err != nil {
			refuse(w, err)
			return
		}
		_ = res.Identity // the principal, for policy evaluation
	})
}
