package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File names inside Config.DataDir.
const (
	RootKeyFile = "kms-root.key"
	StateFile   = "kms-state.json"
)

const (
	keyManagerAWS       = "AWS"
	keyManagerCustomer  = "CUSTOMER"
	defaultRotationDays = 365
	stateEnabled        = "Enabled"
	stateDisabled       = "Disabled"
	statePendingDelete  = "PendingDeletion"
	rotationAutomatic   = "AUTOMATIC"
	rotationOnDemand    = "ON_DEMAND"
	materialIDBytes     = 32
	keyMaterialBytes    = 32
)

// version is one generation of a key's material.
type version struct {
	MaterialID string    `json:"materialId"` // hex, as KeyMaterialId
	Created    time.Time `json:"created"`
	Rotation   string    `json:"rotation,omitempty"` // empty for the original material
	Wrapped    []byte    `json:"wrapped"`            // nonce || GCM(root, material)

	aead cipher.AEAD
}

// key is a KMS key; its mutable fields are guarded by Server.mu.
type key struct {
	ID                 string     `json:"id"`
	Description        string     `json:"description"`
	Created            time.Time  `json:"created"`
	State              string     `json:"state"`
	Manager            string     `json:"manager"`
	Policy             string     `json:"policy"`
	Tags               []tag      `json:"tags,omitempty"`
	DeletionDate       time.Time  `json:"deletionDate,omitzero"`
	PendingWindowDays  int        `json:"pendingWindowDays,omitempty"`
	RotationEnabled    bool       `json:"rotationEnabled,omitempty"`
	RotationPeriodDays int        `json:"rotationPeriodDays,omitempty"`
	NextRotation       time.Time  `json:"nextRotation,omitzero"`
	LastOnDemand       time.Time  `json:"lastOnDemand,omitzero"`
	OnDemandCount      int        `json:"onDemandCount,omitempty"`
	Versions           []*version `json:"versions"`

	rawID [16]byte
}

type tag struct {
	TagKey   string
	TagValue string
}

type persistedState struct {
	Keys    []*key            `json:"keys"`
	Aliases map[string]string `json:"aliases"`
}

// store keeps the root key and writes the state file.
type store struct {
	dir  string
	root cipher.AEAD
	rand func([]byte) error
}

func openStore(dir string, random func([]byte) error) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kms: creating data directory: %w", err)
	}
	path := filepath.Join(dir, RootKeyFile)
	rootKey, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		rootKey = make([]byte, 32)
		if err := random(rootKey); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, rootKey); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("kms: reading root key: %w", err)
	case len(rootKey) != 32:
		return nil, fmt.Errorf("kms: root key %s has %d bytes, want 32", path, len(rootKey))
	}
	aead, err := newGCM(rootKey)
	if err != nil {
		return nil, err
	}
	return &store{dir: dir, root: aead, rand: random}, nil
}

func newGCM(k []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	return aead, nil
}

// materialAD binds wrapped material to its key and version so it cannot be
// swapped between keys in the state file.
func materialAD(keyID string, index int) []byte {
	return fmt.Appendf(nil, "camstorm-kms-material\x00%s\x00%d", keyID, index)
}

func (st *store) wrap(keyID string, index int, material []byte) ([]byte, error) {
	nonce := make([]byte, gcmNonceLen, gcmNonceLen+len(material)+gcmTagLen)
	if err := st.rand(nonce); err != nil {
		return nil, err
	}
	return st.root.Seal(nonce, nonce, material, materialAD(keyID, index)), nil
}

func (st *store) unwrap(keyID string, index int, wrapped []byte) ([]byte, error) {
	if len(wrapped) < gcmNonceLen+gcmTagLen {
		return nil, fmt.Errorf("kms: wrapped material of key %s version %d is truncated", keyID, index)
	}
	m, err := st.root.Open(nil, wrapped[:gcmNonceLen], wrapped[gcmNonceLen:], materialAD(keyID, index))
	if err != nil {
		return nil, fmt.Errorf("kms: unwrapping key %s version %d (wrong root key?): %w", keyID, index, err)
	}
	return m, nil
}

// load reads the state file, if any, and unwraps every key version.
func (s *Server) load() error {
	data, err := os.ReadFile(filepath.Join(s.store.dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kms: reading state: %w", err)
	}
	var ps persistedState
	if err := json.Unmarshal(data, &ps); err != nil {
		return fmt.Errorf("kms: decoding %s: %w", StateFile, err)
	}
	for _, k := range ps.Keys {
		raw, ok := parseUUID(k.ID)
		if !ok {
			return fmt.Errorf("kms: state has invalid key id %q", k.ID)
		}
		k.rawID = raw
		for i, v := range k.Versions {
			m, err := s.store.unwrap(k.ID, i, v.Wrapped)
			if err != nil {
				return err
			}
			if v.aead, err = newGCM(m); err != nil {
				return err
			}
		}
		if len(k.Versions) == 0 {
			return fmt.Errorf("kms: key %s has no key material", k.ID)
		}
		s.keys[k.ID] = k
	}
	for a, id := range ps.Aliases {
		s.aliases[a] = id
	}
	return nil
}

// saveLocked writes the whole state; the caller holds s.mu.
func (s *Server) saveLocked() error {
	ps := persistedState{Aliases: s.aliases}
	for _, k := range s.keys {
		ps.Keys = append(ps.Keys, k)
	}
	data, err := json.Marshal(ps)
	if err != nil {
		return fmt.Errorf("kms: encoding state: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.store.dir, StateFile), data)
}

// writeFileAtomic replaces path with data (mode 0600) so a crash leaves either
// the old or the new file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("kms: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("kms: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("kms: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("kms: syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("kms: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("kms: %w", err)
	}
	return nil
}

// newKeyLocked creates a key with fresh material; the caller holds s.mu and saves.
func (s *Server) newKeyLocked(description, policy string, tags []tag, manager string) (*key, error) {
	id, err := s.newUUID()
	if err != nil {
		return nil, err
	}
	if _, dup := s.keys[id]; dup {
		return nil, fmt.Errorf("kms: Config.Rand produced key id %s twice (a seeded Rand reused across restarts?)", id)
	}
	raw, _ := parseUUID(id)
	if policy == "" {
		policy = defaultPolicy(s.cfg.Account)
	}
	k := &key{ID: id, rawID: raw, Description: description, Created: s.cfg.Clock(), State: stateEnabled,
		Manager: manager, Policy: policy, Tags: tags}
	if err := s.addVersionLocked(k, "", k.Created); err != nil {
		return nil, err
	}
	s.keys[id] = k
	return k, nil
}

// addVersionLocked appends fresh material to k.
func (s *Server) addVersionLocked(k *key, rotation string, at time.Time) error {
	material := make([]byte, keyMaterialBytes)
	if err := s.random(material); err != nil {
		return err
	}
	mid := make([]byte, materialIDBytes)
	if err := s.random(mid); err != nil {
		return err
	}
	aead, err := newGCM(material)
	if err != nil {
		return err
	}
	wrapped, err := s.store.wrap(k.ID, len(k.Versions), material)
	if err != nil {
		return err
	}
	k.Versions = append(k.Versions, &version{MaterialID: fmt.Sprintf("%x", mid), Created: at, Rotation: rotation, Wrapped: wrapped, aead: aead})
	return nil
}
