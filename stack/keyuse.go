package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/camstorm/camstorm/stack/iam"
	"github.com/camstorm/camstorm/stack/ingest"
	"github.com/camstorm/camstorm/stack/kms"
)

// KVS uses a stream's KMS key with the credentials of the caller
// (AWS's forward access sessions), so a key policy decides who may write
// and read a stream's media. The stack's ingest and KMS may run in
// different processes (containers), so the ingest asks the KMS over the
// wire: a POST to PathKeyUse on the KMS's listener, signed by the
// ingest's own role, naming the caller, the key and the action. The KMS
// trusts that naming only from the ingest's role, and decides by the key
// policy and the caller's identity policies, with kms:ViaService.

// PathKeyUse is the KMS listener's path for the ingest's key-use checks;
// it is the stack's own, not an AWS KMS operation.
const PathKeyUse = "/camstorm/authorize-key-use"

// keyUseRequest is the body of a key-use check.
type keyUseRequest struct {
	KeyID     string        `json:"KeyId"`
	Action    string        `json:"Action"`
	Principal iam.Principal `json:"Principal"`
	SourceIP  string        `json:"SourceIp"`
	AccessKey string        `json:"AccessKeyId"`
}

// maxKeyUseBody bounds a key-use request.
const maxKeyUseBody = 16 << 10

// keyUseHandler serves key-use checks on the KMS's listener, behind the
// gateway. Only the ingest's role may ask.
func keyUseHandler(acc *access, srv *kms.Server, ingestRoleARN string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
		}
		c := callerOf(r.Context())
		if c == nil || c.RoleARN != ingestRoleARN || r.Method != http.MethodPost {
			deny(http.StatusForbidden, "AccessDeniedException", "only the ingest's role may ask the KMS about a caller's use of a key")
			return
		}
		var in keyUseRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, maxKeyUseBody+1))
		if err != nil || len(body) > maxKeyUseBody || json.Unmarshal(body, &in) != nil || in.KeyID == "" || in.Action == "" {
			deny(http.StatusBadRequest, "ValidationException", "a key-use check needs KeyId, Action and Principal")
			return
		}
		fwd := &caller{Principal: in.Principal, AccessKeyID: in.AccessKey, SourceIP: in.SourceIP}
		conds := acc.conditions(fwd)
		conds["kms:ViaService"] = []string{"kinesisvideo." + acc.region + ".amazonaws.com"}
		conds["kms:CallerAccount"] = []string{fwd.Account}
		kc := kms.Caller{Principal: principal(fwd), Identity: acc.identityPolicies(fwd.Principal), Conditions: conds}
		if err := srv.AuthorizeKeyUse(kc, in.Action, in.KeyID); err != nil {
			deny(http.StatusForbidden, "AccessDeniedException", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte("{}"))
	})
}

// keyUseTTL is how long a key-use decision is reused for the same caller,
// key and action: it spares the KMS a call per GetMedia, and bounds how
// long a changed key policy takes to apply.
const keyUseTTL = 5 * time.Second

// maxKeyUseDecisions bounds the decision cache.
const maxKeyUseDecisions = 4096

// remoteKeyUse asks the KMS at url, signing as the ingest's role.
type remoteKeyUse struct {
	url   string
	hc    *http.Client
	clock func() time.Time

	mu        sync.Mutex
	decisions map[string]keyUseDecision
}

type keyUseDecision struct {
	err error // nil: allowed
	at  time.Time
}

// authorize asks whether c may have keyID used for action.
func (k *remoteKeyUse) authorize(ctx context.Context, c *caller, action, keyID string) error {
	id := c.ARN + "\x00" + c.SourceIP + "\x00" + keyID + "\x00" + action
	now := k.clock()
	k.mu.Lock()
	if d, ok := k.decisions[id]; ok && now.Sub(d.at) < keyUseTTL && !now.Before(d.at) {
		k.mu.Unlock()
		return d.err
	}
	k.mu.Unlock()
	err := k.ask(ctx, c, action, keyID)
	if err != nil && !errors.Is(err, ingest.ErrKeyUseDenied) {
		return err // not a decision: not remembered
	}
	k.mu.Lock()
	if len(k.decisions) >= maxKeyUseDecisions {
		clear(k.decisions)
	}
	k.decisions[id] = keyUseDecision{err: err, at: now}
	k.mu.Unlock()
	return err
}

func (k *remoteKeyUse) ask(ctx context.Context, c *caller, action, keyID string) error {
	body, err := json.Marshal(keyUseRequest{KeyID: keyID, Action: action, Principal: c.Principal, SourceIP: c.SourceIP, AccessKey: c.AccessKeyID})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.url+PathKeyUse, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := k.hc.Do(req)
	if err != nil {
		return fmt.Errorf("asking the KMS about %s on %s: %w", action, keyID, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-Amzn-ErrorType") == "AccessDeniedException":
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(msg, &e)
		return fmt.Errorf("%w: %s", ingest.ErrKeyUseDenied, e.Message)
	}
	return fmt.Errorf("asking the KMS about %s on %s: %s: %s", action, keyID, resp.Status, bytes.TrimSpace(msg))
}
