package ingest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"sync"

	"github.com/camstorm/camstorm/internal/kvsapi"
	"github.com/camstorm/camstorm/stack/ingest/fragstore"
)

// streamRecord is a stream's durable control-plane state, stored as JSON in
// the fragment store's stream records.
type streamRecord struct {
	Name           string            `json:"name"`
	ARN            string            `json:"arn"`
	DeviceName     string            `json:"device_name,omitempty"`
	MediaType      string            `json:"media_type,omitempty"`
	KmsKeyID       string            `json:"kms_key_id"`
	CreationMs     int64             `json:"creation_ms"`
	RetentionHours int               `json:"retention_hours"`
	Status         string            `json:"status"`
	Version        string            `json:"version"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// stream is one registered stream. mu serialises updates (each is persisted
// before it becomes visible); reads take a snapshot.
type stream struct {
	mu  sync.Mutex
	rec streamRecord
}

func (st *stream) record() streamRecord {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rec
	r.Tags = maps.Clone(st.rec.Tags)
	return r
}

func (st *stream) info() kvsapi.StreamInfo {
	r := st.record()
	return kvsapi.StreamInfo{
		CreationTime:         kvsapi.Ts(msTime(r.CreationMs)),
		DataRetentionInHours: r.RetentionHours,
		DeviceName:           r.DeviceName,
		KmsKeyID:             r.KmsKeyID,
		MediaType:            r.MediaType,
		Status:               r.Status,
		StreamARN:            r.ARN,
		StreamName:           r.Name,
		Version:              r.Version,
	}
}

// streams is the registry of streams, loaded from and persisted to the store.
type streams struct {
	store *fragstore.Store
	cfg   *Config

	mu sync.RWMutex
	m  map[string]*stream
}

func loadStreams(store *fragstore.Store, cfg Config) (*streams, error) {
	ss := &streams{store: store, cfg: &cfg, m: map[string]*stream{}}
	for name, raw := range store.Streams() {
		var rec streamRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("ingest: stream record %q is unreadable: %w", name, err)
		}
		if rec.Status != kvsapi.StatusActive {
			// A create or update that was durable is complete; only DELETING
			// records never reach the store.
			rec.Status = kvsapi.StatusActive
		}
		ss.m[name] = &stream{rec: rec}
	}
	return ss, nil
}

func (ss *streams) byName(name string) (*stream, bool) {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	st, ok := ss.m[name]
	return st, ok
}

// resolve finds the stream a request names by StreamName or StreamARN.
func (ss *streams) resolve(ref kvsapi.StreamRef) (*stream, *kvsapi.Exception) {
	name := ref.StreamName
	switch {
	case ref.StreamName != "" && ref.StreamARN != "":
		return nil, invalidArgument("give StreamName or StreamARN, not both")
	case ref.StreamARN != "":
		n, _, err := kvsapi.ParseStreamARN(ref.StreamARN)
		if err != nil {
			return nil, invalidArgument("%v", err)
		}
		name = n
	case name == "":
		return nil, invalidArgument("StreamName or StreamARN is required")
	case !kvsapi.ValidStreamName(name):
		return nil, invalidArgument("StreamName %q must match [a-zA-Z0-9_.-]{1,256}", name)
	}
	st, ok := ss.byName(name)
	if !ok || (ref.StreamARN != "" && st.record().ARN != ref.StreamARN) {
		return nil, notFound("The requested stream is not found or not active.")
	}
	return st, nil
}

func newVersion() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

func (ss *streams) defaultKey() string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:alias/aws/kinesisvideo", ss.cfg.Region, ss.cfg.Account)
}

func (ss *streams) persist(ctx context.Context, rec streamRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return ss.store.PutStream(ctx, rec.Name, raw)
}

// create registers a stream. It is visible as CREATING while its record is
// being made durable, then ACTIVE — as KVS's asynchronous CreateStream.
func (ss *streams) create(ctx context.Context, in kvsapi.CreateStreamInput) (*stream, *kvsapi.Exception) {
	if e := validateCreate(in); e != nil {
		return nil, e
	}
	now := ss.cfg.Now()
	rec := streamRecord{
		Name: in.StreamName, DeviceName: in.DeviceName, MediaType: in.MediaType, KmsKeyID: in.KmsKeyID,
		CreationMs: now.UnixMilli(), RetentionHours: in.DataRetentionInHours,
		Status: kvsapi.StatusCreating, Version: newVersion(), Tags: maps.Clone(in.Tags),
	}
	if rec.KmsKeyID == "" {
		rec.KmsKeyID = ss.defaultKey()
	}
	rec.ARN = kvsapi.StreamARN(ss.cfg.Region, ss.cfg.Account, rec.Name, rec.CreationMs)
	st := &stream{rec: rec}
	st.mu.Lock()
	defer st.mu.Unlock()

	ss.mu.Lock()
	if _, exists := ss.m[in.StreamName]; exists {
		ss.mu.Unlock()
		return nil, &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcResourceInUse,
			Message: fmt.Sprintf("The stream %s already exists.", in.StreamName)}
	}
	ss.m[in.StreamName] = st
	ss.mu.Unlock()

	rec.Status = kvsapi.StatusActive
	if err := ss.persist(ctx, rec); err != nil {
		ss.mu.Lock()
		delete(ss.m, in.StreamName)
		ss.mu.Unlock()
		return nil, internalError(fmt.Errorf("persisting stream: %w", err))
	}
	st.rec = rec
	return st, nil
}

func validateCreate(in kvsapi.CreateStreamInput) *kvsapi.Exception {
	switch {
	case !kvsapi.ValidStreamName(in.StreamName):
		return invalidArgument("StreamName %q must match [a-zA-Z0-9_.-]{1,256}", in.StreamName)
	case len(in.DeviceName) > 128:
		return invalidArgument("DeviceName is longer than 128 characters")
	case len(in.MediaType) > 128:
		return invalidArgument("MediaType is longer than 128 characters")
	case len(in.KmsKeyID) > 2048:
		return invalidArgument("KmsKeyId is longer than 2048 characters")
	case in.DataRetentionInHours < 0 || in.DataRetentionInHours > kvsapi.MaxRetentionHours:
		return invalidArgument("DataRetentionInHours must be between 0 and %d", kvsapi.MaxRetentionHours)
	}
	return validateTags(in.Tags, 0)
}

func validateTags(tags map[string]string, existing int) *kvsapi.Exception {
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return invalidArgument("tag keys must be 1-128 characters and values at most 256 (key %q)", k)
		}
	}
	if existing+len(tags) > kvsapi.MaxStreamTags {
		return &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcTagsPerResourceExceeded,
			Message: fmt.Sprintf("a stream can have at most %d tags", kvsapi.MaxStreamTags)}
	}
	return nil
}

// update applies change to a copy of the stream's record, persists it with a
// new version, and only then makes it visible.
func (ss *streams) update(ctx context.Context, st *stream, change func(*streamRecord) *kvsapi.Exception) *kvsapi.Exception {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rec.Status != kvsapi.StatusActive {
		return &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcResourceInUse,
			Message: fmt.Sprintf("The stream %s is %s.", st.rec.Name, st.rec.Status)}
	}
	rec := st.rec
	rec.Tags = maps.Clone(st.rec.Tags)
	if e := change(&rec); e != nil {
		return e
	}
	rec.Version = newVersion()
	if err := ss.persist(ctx, rec); err != nil {
		return internalError(fmt.Errorf("persisting stream: %w", err))
	}
	st.rec = rec
	return nil
}

// remove deletes a stream and its fragments durably.
func (ss *streams) remove(ctx context.Context, st *stream) *kvsapi.Exception {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rec.Status == kvsapi.StatusDeleting {
		return &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcResourceInUse,
			Message: fmt.Sprintf("The stream %s is already being deleted.", st.rec.Name)}
	}
	prev := st.rec.Status
	st.rec.Status = kvsapi.StatusDeleting
	if err := ss.store.DeleteStream(ctx, st.rec.Name); err != nil {
		st.rec.Status = prev
		return internalError(fmt.Errorf("deleting stream: %w", err))
	}
	ss.mu.Lock()
	if ss.m[st.rec.Name] == st {
		delete(ss.m, st.rec.Name)
	}
	ss.mu.Unlock()
	return nil
}

// list returns streams sorted by name, starting after the given name.
func (ss *streams) list(after, prefix string, max int) ([]*stream, string) {
	ss.mu.RLock()
	names := make([]string, 0, len(ss.m))
	for n := range ss.m {
		if n > after && (prefix == "" || len(n) >= len(prefix) && n[:len(prefix)] == prefix) {
			names = append(names, n)
		}
	}
	ss.mu.RUnlock()
	sort.Strings(names)
	next := ""
	if len(names) > max {
		names = names[:max]
		next = names[max-1]
	}
	out := make([]*stream, 0, len(names))
	for _, n := range names {
		if st, ok := ss.byName(n); ok {
			out = append(out, st)
		}
	}
	return out, next
}
