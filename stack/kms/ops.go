package kms

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	iampolicy "github.com/camstorm/camstorm/stack/iam/policy"
)

// Limits AWS enforces on the operations served here.
const (
	maxPlaintextLen      = 4096
	maxDataKeyBytes      = 1024
	maxDescriptionLen    = 8192
	maxTags              = 50
	maxOnDemandRotations = 25
	minRotationDays      = 90
	maxRotationDays      = 2560
	minPendingWindowDays = 7
	maxPendingWindowDays = 30
	maxContextPairs      = 64
	maxContextBytes      = 8192
	// maxCatchUpRotations bounds the versions one clock jump can add.
	maxCatchUpRotations = 100
	symmetricDefault    = "SYMMETRIC_DEFAULT"
)

// maxKeys and maxAliases bound memory and the state file (AWS's default
// quota is 100,000 keys per Region); variables so a test can lower them.
var (
	maxKeys    = 100_000
	maxAliases = 100_000
)

var operations = map[string]func(*Server, *call) (any, error){
	"CreateKey":                       (*Server).createKey,
	"DescribeKey":                     (*Server).describeKey,
	"ListKeys":                        (*Server).listKeys,
	"CreateAlias":                     (*Server).createAlias,
	"ListAliases":                     (*Server).listAliases,
	"DeleteAlias":                     (*Server).deleteAlias,
	"UpdateAlias":                     (*Server).updateAlias,
	"GenerateDataKey":                 (*Server).generateDataKey,
	"GenerateDataKeyWithoutPlaintext": (*Server).generateDataKeyWithoutPlaintext,
	"Encrypt":                         (*Server).encrypt,
	"Decrypt":                         (*Server).decrypt,
	"ReEncrypt":                       (*Server).reEncrypt,
	"EnableKey":                       (*Server).enableKey,
	"DisableKey":                      (*Server).disableKey,
	"EnableKeyRotation":               (*Server).enableKeyRotation,
	"DisableKeyRotation":              (*Server).disableKeyRotation,
	"GetKeyRotationStatus":            (*Server).getKeyRotationStatus,
	"RotateKeyOnDemand":               (*Server).rotateKeyOnDemand,
	"ListKeyRotations":                (*Server).listKeyRotations,
	"ScheduleKeyDeletion":             (*Server).scheduleKeyDeletion,
	"CancelKeyDeletion":               (*Server).cancelKeyDeletion,
	"GetKeyPolicy":                    (*Server).getKeyPolicy,
	"PutKeyPolicy":                    (*Server).putKeyPolicy,
}

func (s *Server) keyARN(id string) string {
	return "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.Account + ":key/" + id
}

func (s *Server) aliasARN(name string) string {
	return "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.Account + ":" + name
}

// lookupLocked resolves a KeyId (key id, key ARN, alias name or alias ARN),
// applies due rotations and deletions, and checks the key policy. The caller
// holds s.mu.
func (s *Server) lookupLocked(c *call, keyID, action string, allowAlias bool) (*key, error) {
	if keyID == "" {
		return nil, validationErr("KeyId is required")
	}
	if len(keyID) > 2048 {
		return nil, validationErr("KeyId must be at most 2048 characters")
	}
	id := keyID
	arnPrefix := "arn:aws:kms:" + s.cfg.Region + ":" + s.cfg.Account + ":"
	if rest, ok := strings.CutPrefix(id, arnPrefix); ok {
		id = rest
	} else if strings.HasPrefix(id, "arn:") {
		return nil, notFoundErr("key '%s' does not exist in account %s region %s", keyID, s.cfg.Account, s.cfg.Region)
	}
	if strings.HasPrefix(id, "alias/") {
		if !allowAlias {
			return nil, validationErr("%s needs a key id or key ARN, not an alias", c.op)
		}
		target, ok := s.aliases[id]
		if !ok {
			return nil, notFoundErr("alias %s is not found", s.aliasARN(id))
		}
		id = target
	} else {
		id = strings.TrimPrefix(id, "key/")
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, notFoundErr("key '%s' does not exist", s.keyARN(id))
	}
	if err := s.maintainLocked(k); err != nil {
		return nil, err
	}
	if _, ok := s.keys[id]; !ok {
		return nil, notFoundErr("key '%s' does not exist", s.keyARN(id))
	}
	c.keyID = k.ID
	if err := s.authorizeLocked(c, k, action); err != nil {
		return nil, err
	}
	return k, nil
}

// authorizeAccount decides an action on no particular key (CreateKey,
// ListKeys, ListAliases): only the caller's identity policies can allow
// it, as in AWS, where a key policy cannot grant kms:CreateKey.
func (s *Server) authorizeAccount(c *call, action string) error {
	req := iampolicy.Request{Principal: c.caller.Principal, Action: action, Resource: "*", Context: c.caller.Conditions}
	if !iampolicy.Evaluate(req, c.caller.Identity, nil).Allowed() {
		return errorf("AccessDeniedException", http.StatusBadRequest,
			"User: %s is not authorized to perform: %s on resource: * because no identity-based policy allows the %s action", c.caller.name(), action, action)
	}
	return nil
}

func (s *Server) authorizeLocked(c *call, k *key, action string) error {
	p, err := parsePolicy(k.Policy)
	if err != nil || !p.allows(c.caller, s.cfg.Account, action, s.keyARN(k.ID), c.context) {
		return errorf("AccessDeniedException", http.StatusBadRequest,
			"User: %s is not authorized to perform: %s on resource: %s because of the key policy", c.caller.name(), action, s.keyARN(k.ID))
	}
	return nil
}

// maintainLocked applies what the clock says is due: deletion at the end of
// the waiting period and automatic rotations (one per elapsed period).
func (s *Server) maintainLocked(k *key) error {
	now := s.cfg.Clock()
	changed := false
	if k.State == statePendingDelete && !now.Before(k.DeletionDate) {
		delete(s.keys, k.ID)
		for a, id := range s.aliases {
			if id == k.ID {
				delete(s.aliases, a)
			}
		}
		return s.saveLocked()
	}
	if k.RotationEnabled && k.State == stateEnabled && !k.NextRotation.IsZero() {
		period := time.Duration(k.RotationPeriodDays) * 24 * time.Hour
		for i := 0; !now.Before(k.NextRotation); i++ {
			if i == maxCatchUpRotations {
				k.NextRotation = now.Add(period)
				break
			}
			if err := s.addVersionLocked(k, rotationAutomatic, k.NextRotation); err != nil {
				return err
			}
			k.NextRotation = k.NextRotation.Add(period)
			changed = true
		}
	}
	if changed {
		return s.saveLocked()
	}
	return nil
}

func usable(k *key) error {
	switch k.State {
	case stateDisabled:
		return errorf("DisabledException", http.StatusConflict, "key is disabled")
	case statePendingDelete:
		return invalidStateErr("key is pending deletion")
	}
	return nil
}

func notPendingDeletion(k *key) error {
	if k.State == statePendingDelete {
		return invalidStateErr("key is pending deletion")
	}
	return nil
}

func customerManaged(k *key, op string) error {
	if k.Manager == keyManagerAWS {
		return unsupportedErr("%s is not allowed on an AWS managed key", op)
	}
	return nil
}

// ---- key metadata ----

type keyMetadata struct {
	AWSAccountId                string
	Arn                         string
	KeyId                       string
	CreationDate                epoch
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                *epoch `json:",omitempty"`
	PendingDeletionWindowInDays int    `json:",omitempty"`
	Origin                      string
	KeyManager                  string
	KeySpec                     string
	CustomerMasterKeySpec       string
	EncryptionAlgorithms        []string
	MultiRegion                 bool
	CurrentKeyMaterialId        string
}

func (s *Server) metadata(k *key) keyMetadata {
	return keyMetadata{
		AWSAccountId: s.cfg.Account, Arn: s.keyARN(k.ID), KeyId: k.ID, CreationDate: epoch(k.Created),
		Enabled: k.State == stateEnabled, Description: k.Description, KeyUsage: "ENCRYPT_DECRYPT",
		KeyState: k.State, DeletionDate: epochOrNil(k.DeletionDate), PendingDeletionWindowInDays: k.PendingWindowDays,
		Origin: "AWS_KMS", KeyManager: k.Manager, KeySpec: symmetricDefault, CustomerMasterKeySpec: symmetricDefault,
		EncryptionAlgorithms: []string{symmetricDefault}, CurrentKeyMaterialId: k.Versions[len(k.Versions)-1].MaterialID,
	}
}

var tagKeyPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func (s *Server) createKey(c *call) (any, error) {
	var in struct {
		Policy, Description, KeyUsage, KeySpec, CustomerMasterKeySpec, Origin, CustomKeyStoreId, XksKeyId string
		BypassPolicyLockoutSafetyCheck, MultiRegion                                                       bool
		Tags                                                                                              []tag
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := s.authorizeAccount(c, "kms:CreateKey"); err != nil {
		return nil, err
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, unsupportedErr("KeyUsage %q: this reference KMS serves symmetric ENCRYPT_DECRYPT keys only", in.KeyUsage)
	}
	for _, spec := range []string{in.KeySpec, in.CustomerMasterKeySpec} {
		if spec != "" && spec != symmetricDefault {
			return nil, unsupportedErr("KeySpec %q: this reference KMS serves SYMMETRIC_DEFAULT keys only", spec)
		}
	}
	if in.Origin != "" && in.Origin != "AWS_KMS" {
		return nil, unsupportedErr("Origin %q: only AWS_KMS is supported", in.Origin)
	}
	if in.MultiRegion || in.CustomKeyStoreId != "" || in.XksKeyId != "" {
		return nil, unsupportedErr("multi-Region keys and custom key stores are not supported")
	}
	if len(in.Description) > maxDescriptionLen {
		return nil, validationErr("Description must be at most %d characters", maxDescriptionLen)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if in.Policy != "" {
		if err := checkPolicy(s, c, in.Policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) >= maxKeys {
		return nil, errorf("LimitExceededException", http.StatusBadRequest, "this KMS holds at most %d keys", maxKeys)
	}
	k, err := s.newKeyLocked(in.Description, in.Policy, in.Tags, keyManagerCustomer)
	if err != nil {
		return nil, err
	}
	if err := s.saveLocked(); err != nil {
		delete(s.keys, k.ID)
		return nil, err
	}
	c.keyID = k.ID
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

func validateTags(tags []tag) error {
	if len(tags) > maxTags {
		return validationErr("at most %d tags are allowed", maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if len(t.TagKey) < 1 || len(t.TagKey) > 128 || !tagKeyPattern.MatchString(t.TagKey) {
			return validationErr("TagKey %q must be 1 to 128 letters, digits, spaces or _.:/=+-@", t.TagKey)
		}
		if len(t.TagValue) > 256 {
			return validationErr("TagValue of %q must be at most 256 characters", t.TagKey)
		}
		if strings.HasPrefix(t.TagKey, "aws:") {
			return validationErr("TagKey %q: the aws: prefix is reserved", t.TagKey)
		}
		if seen[t.TagKey] {
			return validationErr("TagKey %q appears twice", t.TagKey)
		}
		seen[t.TagKey] = true
	}
	return nil
}

// checkPolicy parses a policy and, unless bypassed, refuses one that would
// lock the caller out of changing it again (AWS's lockout safety check).
func checkPolicy(s *Server, c *call, doc string, bypass bool) error {
	p, err := parsePolicy(doc)
	if err != nil {
		return errorf("MalformedPolicyDocumentException", http.StatusBadRequest, "%v", err)
	}
	if !bypass && !p.allows(c.caller, s.cfg.Account, "kms:PutKeyPolicy", "*", nil) {
		return errorf("MalformedPolicyDocumentException", http.StatusBadRequest,
			"the new key policy will not allow you (%s) to update the key policy in the future", c.caller.name())
	}
	return nil
}

type keyIDInput struct{ KeyId string }

func (s *Server) describeKey(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, in.KeyId, "kms:DescribeKey", true)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

func (s *Server) sortedKeysLocked() []*key {
	ks := make([]*key, 0, len(s.keys))
	for _, k := range s.keys {
		if err := s.maintainLocked(k); err == nil {
			if _, ok := s.keys[k.ID]; ok {
				ks = append(ks, k)
			}
		}
	}
	slices.SortFunc(ks, func(a, b *key) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ks
}

type listInput struct {
	KeyId  string
	Limit  *int32
	Marker string
}

// ListKeys, ListAliases and CreateKey have no key policy to consult; IAM
// policies for them come with the IAM package.
func (s *Server) listKeys(c *call) (any, error) {
	var in listInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := s.authorizeAccount(c, "kms:ListKeys"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.sortedKeysLocked()
	from, to, next, err := page(len(ks), in.Limit, in.Marker, 1000)
	if err != nil {
		return nil, err
	}
	type entry struct{ KeyId, KeyArn string }
	out := []entry{}
	for _, k := range ks[from:to] {
		out = append(out, entry{k.ID, s.keyARN(k.ID)})
	}
	return map[string]any{"Keys": out, "Truncated": next != "", "NextMarker": omitEmpty(next)}, nil
}

func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var aliasPattern = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

func validateAliasName(name string, forWrite bool) error {
	if len(name) > 256 || !aliasPattern.MatchString(name) {
		return validationErr("AliasName %q must start with alias/ and contain only letters, digits, /, _ and - (at most 256 characters)", name)
	}
	if forWrite && strings.HasPrefix(name, "alias/aws/") {
		return validationErr("AliasName %q: alias/aws/ is reserved for AWS managed keys", name)
	}
	return nil
}

func (s *Server) createAlias(c *call) (any, error) {
	var in struct{ AliasName, TargetKeyId string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := validateAliasName(in.AliasName, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, in.TargetKeyId, "kms:CreateAlias", false)
	if err != nil {
		return nil, err
	}
	if err := notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := customerManaged(k, "CreateAlias"); err != nil {
		return nil, err
	}
	if len(s.aliases) >= maxAliases {
		return nil, errorf("LimitExceededException", http.StatusBadRequest, "this KMS holds at most %d aliases", maxAliases)
	}
	if _, ok := s.aliases[in.AliasName]; ok {
		return nil, errorf("AlreadyExistsException", http.StatusBadRequest, "alias %s already exists", s.aliasARN(in.AliasName))
	}
	s.aliases[in.AliasName] = k.ID
	if err := s.saveLocked(); err != nil {
		delete(s.aliases, in.AliasName)
		return nil, err
	}
	return nil, nil
}

func (s *Server) listAliases(c *call) (any, error) {
	var in listInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := s.authorizeAccount(c, "kms:ListAliases"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	filter := ""
	if in.KeyId != "" {
		k, err := s.lookupLocked(c, in.KeyId, "kms:ListAliases", false)
		if err != nil {
			return nil, err
		}
		filter = k.ID
	}
	s.sortedKeysLocked() // applies due deletions, which drop aliases
	var names []string
	for a, id := range s.aliases {
		if filter == "" || id == filter {
			names = append(names, a)
		}
	}
	slices.Sort(names)
	from, to, next, err := page(len(names), in.Limit, in.Marker, 100)
	if err != nil {
		return nil, err
	}
	type entry struct{ AliasName, AliasArn, TargetKeyId string }
	out := []entry{}
	for _, a := range names[from:to] {
		out = append(out, entry{a, s.aliasARN(a), s.aliases[a]})
	}
	return map[string]any{"Aliases": out, "Truncated": next != "", "NextMarker": omitEmpty(next)}, nil
}

func (s *Server) deleteAlias(c *call) (any, error) {
	var in struct{ AliasName string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := validateAliasName(in.AliasName, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.aliases[in.AliasName]
	if !ok {
		return nil, notFoundErr("alias %s is not found", s.aliasARN(in.AliasName))
	}
	if _, err := s.lookupLocked(c, id, "kms:DeleteAlias", false); err != nil {
		return nil, err
	}
	delete(s.aliases, in.AliasName)
	if err := s.saveLocked(); err != nil {
		s.aliases[in.AliasName] = id
		return nil, err
	}
	return nil, nil
}

func (s *Server) updateAlias(c *call) (any, error) {
	var in struct{ AliasName, TargetKeyId string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := validateAliasName(in.AliasName, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldID, ok := s.aliases[in.AliasName]
	if !ok {
		return nil, notFoundErr("alias %s is not found", s.aliasARN(in.AliasName))
	}
	if _, err := s.lookupLocked(c, oldID, "kms:UpdateAlias", false); err != nil {
		return nil, err
	}
	k, err := s.lookupLocked(c, in.TargetKeyId, "kms:UpdateAlias", false)
	if err != nil {
		return nil, err
	}
	if err := notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := customerManaged(k, "UpdateAlias"); err != nil {
		return nil, err
	}
	s.aliases[in.AliasName] = k.ID
	if err := s.saveLocked(); err != nil {
		s.aliases[in.AliasName] = oldID
		return nil, err
	}
	return nil, nil
}

// ---- cryptographic operations ----

func validateContext(name string, ctx map[string]string) error {
	if len(ctx) > maxContextPairs {
		return validationErr("%s has more than %d pairs", name, maxContextPairs)
	}
	n := 0
	for k, v := range ctx {
		if k == "" {
			return validationErr("%s keys must not be empty", name)
		}
		n += len(k) + len(v)
	}
	if n > maxContextBytes {
		return validationErr("%s is larger than %d bytes", name, maxContextBytes)
	}
	return nil
}

func validateAlgorithm(name, alg string) error {
	if alg != "" && alg != symmetricDefault {
		return validationErr("%s %q: symmetric keys use SYMMETRIC_DEFAULT", name, alg)
	}
	return nil
}

func dryRun(op string, dry bool) error {
	if dry {
		return errorf("DryRunOperationException", http.StatusPreconditionFailed, "the %s request would have succeeded", op)
	}
	return nil
}

// sealer is what an encryption needs from a key, copied out under the lock.
type sealer struct {
	keyID      string
	rawID      [16]byte
	version    uint32
	materialID string
	v          *version
}

// encryptingVersionLocked looks up an enabled key and its newest version.
func (s *Server) encryptingVersionLocked(c *call, keyID, action string) (sealer, error) {
	k, err := s.lookupLocked(c, keyID, action, true)
	if err != nil {
		return sealer{}, err
	}
	if err := usable(k); err != nil {
		return sealer{}, err
	}
	i := len(k.Versions) - 1
	if s.cfg.Defects.StaleKeyVersion && strings.HasPrefix(action, "kms:GenerateDataKey") {
		i = 0 // deliberate defect: rotations never reach new data keys
	}
	return sealer{k.ID, k.rawID, uint32(i), k.Versions[i].MaterialID, k.Versions[i]}, nil
}

func (s *Server) seal(sl sealer, plaintext []byte, ctx map[string]string) ([]byte, error) {
	header := blobHeader(sl.rawID, sl.version)
	nonce := make([]byte, gcmNonceLen)
	if err := s.random(nonce); err != nil {
		return nil, err
	}
	out := append(header, nonce...)
	return sl.v.aead.Seal(out, nonce, plaintext, additionalData(header, s.boundContext(ctx))), nil
}

// boundContext is the encryption context a seal authenticates: none with
// the deliberate defect IgnoreEncryptionContext.
func (s *Server) boundContext(ctx map[string]string) map[string]string {
	if s.cfg.Defects.IgnoreEncryptionContext {
		return nil
	}
	return ctx
}

// openBlob decrypts a blob; wantKeyID, when set, must name the blob's key.
func (s *Server) openBlob(c *call, b []byte, ctx map[string]string, wantKeyID, action string) ([]byte, sealer, error) {
	if len(b) == 0 {
		return nil, sealer{}, validationErr("CiphertextBlob is required")
	}
	if len(b) > maxBlobLen {
		return nil, sealer{}, validationErr("CiphertextBlob must be at most %d bytes", maxBlobLen)
	}
	p, err := parseBlob(b)
	if err != nil {
		return nil, sealer{}, invalidCiphertextErr()
	}
	c.context = ctx
	s.mu.Lock()
	id := formatUUID(p.KeyID)
	if _, ok := s.keys[id]; !ok {
		s.mu.Unlock()
		return nil, sealer{}, invalidCiphertextErr()
	}
	if wantKeyID != "" {
		want, err := s.lookupLocked(c, wantKeyID, action, true)
		if err != nil {
			s.mu.Unlock()
			return nil, sealer{}, err
		}
		if want.ID != id {
			s.mu.Unlock()
			return nil, sealer{}, errorf("IncorrectKeyException", http.StatusBadRequest,
				"the ciphertext was encrypted under a different key than %s", wantKeyID)
		}
	}
	k, err := s.lookupLocked(c, id, action, false)
	if err == nil {
		err = usable(k)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, sealer{}, err
	}
	if int64(p.Version) >= int64(len(k.Versions)) ||
		(s.cfg.Defects.ForgetOldKeyVersions && int(p.Version) != len(k.Versions)-1) {
		s.mu.Unlock()
		return nil, sealer{}, invalidCiphertextErr()
	}
	v := k.Versions[p.Version]
	sl := sealer{k.ID, k.rawID, p.Version, v.MaterialID, v}
	s.mu.Unlock()
	plain, err := v.aead.Open(nil, p.Nonce, p.Sealed, additionalData(p.Header, s.boundContext(ctx)))
	if err != nil {
		return nil, sealer{}, invalidCiphertextErr()
	}
	return plain, sl, nil
}

type dataKeyInput struct {
	KeyId             string
	KeySpec           string
	NumberOfBytes     *int32
	EncryptionContext map[string]string
	GrantTokens       []string
	DryRun            bool
}

func (s *Server) makeDataKey(c *call, action string) ([]byte, []byte, sealer, error) {
	var in dataKeyInput
	if err := c.decode(&in); err != nil {
		return nil, nil, sealer{}, err
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, nil, sealer{}, validationErr("specify either KeySpec or NumberOfBytes, not both")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, nil, sealer{}, validationErr("KeySpec %q must be AES_256 or AES_128", in.KeySpec)
	case in.NumberOfBytes == nil:
		return nil, nil, sealer{}, validationErr("specify either KeySpec or NumberOfBytes")
	case *in.NumberOfBytes < 1 || *in.NumberOfBytes > maxDataKeyBytes:
		return nil, nil, sealer{}, validationErr("NumberOfBytes must be between 1 and %d", maxDataKeyBytes)
	default:
		n = int(*in.NumberOfBytes)
	}
	if err := validateContext("EncryptionContext", in.EncryptionContext); err != nil {
		return nil, nil, sealer{}, err
	}
	c.context = in.EncryptionContext
	s.mu.Lock()
	sl, err := s.encryptingVersionLocked(c, in.KeyId, action)
	s.mu.Unlock()
	if err != nil {
		return nil, nil, sealer{}, err
	}
	if err := dryRun(c.op, in.DryRun); err != nil {
		return nil, nil, sealer{}, err
	}
	plain := make([]byte, n)
	if err := s.random(plain); err != nil {
		return nil, nil, sealer{}, err
	}
	blob, err := s.seal(sl, plain, in.EncryptionContext)
	if err != nil {
		return nil, nil, sealer{}, err
	}
	return plain, blob, sl, nil
}

func (s *Server) generateDataKey(c *call) (any, error) {
	plain, blob, sl, err := s.makeDataKey(c, "kms:GenerateDataKey")
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "Plaintext": plain, "KeyId": s.keyARN(sl.keyID), "KeyMaterialId": sl.materialID}, nil
}

func (s *Server) generateDataKeyWithoutPlaintext(c *call) (any, error) {
	_, blob, sl, err := s.makeDataKey(c, "kms:GenerateDataKeyWithoutPlaintext")
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "KeyId": s.keyARN(sl.keyID), "KeyMaterialId": sl.materialID}, nil
}

func (s *Server) encrypt(c *call) (any, error) {
	var in struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
		GrantTokens         []string
		DryRun              bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Plaintext) < 1 || len(in.Plaintext) > maxPlaintextLen {
		return nil, validationErr("Plaintext must be 1 to %d bytes", maxPlaintextLen)
	}
	if err := validateAlgorithm("EncryptionAlgorithm", in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := validateContext("EncryptionContext", in.EncryptionContext); err != nil {
		return nil, err
	}
	c.context = in.EncryptionContext
	s.mu.Lock()
	sl, err := s.encryptingVersionLocked(c, in.KeyId, "kms:Encrypt")
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := dryRun(c.op, in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.seal(sl, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "KeyId": s.keyARN(sl.keyID), "EncryptionAlgorithm": symmetricDefault}, nil
}

func (s *Server) decrypt(c *call) (any, error) {
	var in struct {
		CiphertextBlob      []byte
		EncryptionContext   map[string]string
		KeyId               string
		EncryptionAlgorithm string
		GrantTokens         []string
		DryRun              bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := validateAlgorithm("EncryptionAlgorithm", in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := validateContext("EncryptionContext", in.EncryptionContext); err != nil {
		return nil, err
	}
	plain, sl, err := s.openBlob(c, in.CiphertextBlob, in.EncryptionContext, in.KeyId, "kms:Decrypt")
	if err != nil {
		return nil, err
	}
	if err := dryRun(c.op, in.DryRun); err != nil {
		return nil, err
	}
	return map[string]any{"Plaintext": plain, "KeyId": s.keyARN(sl.keyID), "EncryptionAlgorithm": symmetricDefault, "KeyMaterialId": sl.materialID}, nil
}

func (s *Server) reEncrypt(c *call) (any, error) {
	var in struct {
		CiphertextBlob                                            []byte
		SourceEncryptionContext, DestinationEncryptionContext     map[string]string
		SourceKeyId, DestinationKeyId                             string
		SourceEncryptionAlgorithm, DestinationEncryptionAlgorithm string
		GrantTokens                                               []string
		DryRun                                                    bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	for _, a := range [][2]string{{"SourceEncryptionAlgorithm", in.SourceEncryptionAlgorithm}, {"DestinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm}} {
		if err := validateAlgorithm(a[0], a[1]); err != nil {
			return nil, err
		}
	}
	if err := validateContext("SourceEncryptionContext", in.SourceEncryptionContext); err != nil {
		return nil, err
	}
	if err := validateContext("DestinationEncryptionContext", in.DestinationEncryptionContext); err != nil {
		return nil, err
	}
	if in.DestinationKeyId == "" {
		return nil, validationErr("DestinationKeyId is required")
	}
	plain, src, err := s.openBlob(c, in.CiphertextBlob, in.SourceEncryptionContext, in.SourceKeyId, "kms:ReEncryptFrom")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	dst, err := s.encryptingVersionLocked(c, in.DestinationKeyId, "kms:ReEncryptTo")
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := dryRun(c.op, in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.seal(dst, plain, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"CiphertextBlob": blob, "KeyId": s.keyARN(dst.keyID), "SourceKeyId": s.keyARN(src.keyID),
		"SourceEncryptionAlgorithm": symmetricDefault, "DestinationEncryptionAlgorithm": symmetricDefault,
		"SourceKeyMaterialId": src.materialID, "DestinationKeyMaterialId": dst.materialID,
	}, nil
}

// ---- key state and rotation ----

// mutateKey runs change on a looked-up key under the lock and saves.
func (s *Server) mutateKey(c *call, keyID, action string, change func(*key) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, keyID, action, true)
	if err != nil {
		return nil, err
	}
	before := *k
	out, err := change(k)
	if err != nil {
		*k = before
		return nil, err
	}
	if err := s.saveLocked(); err != nil {
		*k = before
		return nil, err
	}
	return out, nil
}

func (s *Server) enableKey(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:EnableKey", func(k *key) (any, error) {
		if err := notPendingDeletion(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "EnableKey"); err != nil {
			return nil, err
		}
		k.State = stateEnabled
		return nil, nil
	})
}

func (s *Server) disableKey(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:DisableKey", func(k *key) (any, error) {
		if err := notPendingDeletion(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "DisableKey"); err != nil {
			return nil, err
		}
		k.State = stateDisabled
		return nil, nil
	})
}

func (s *Server) enableKeyRotation(c *call) (any, error) {
	var in struct {
		KeyId                string
		RotationPeriodInDays *int32
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	days := defaultRotationDays
	if in.RotationPeriodInDays != nil {
		if *in.RotationPeriodInDays < minRotationDays || *in.RotationPeriodInDays > maxRotationDays {
			return nil, validationErr("RotationPeriodInDays must be between %d and %d", minRotationDays, maxRotationDays)
		}
		days = int(*in.RotationPeriodInDays)
	}
	return s.mutateKey(c, in.KeyId, "kms:EnableKeyRotation", func(k *key) (any, error) {
		if err := usable(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "EnableKeyRotation"); err != nil {
			return nil, err
		}
		if !k.RotationEnabled || k.RotationPeriodDays != days {
			k.NextRotation = s.cfg.Clock().AddDate(0, 0, days)
		}
		k.RotationEnabled, k.RotationPeriodDays = true, days
		return nil, nil
	})
}

func (s *Server) disableKeyRotation(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:DisableKeyRotation", func(k *key) (any, error) {
		if err := usable(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "DisableKeyRotation"); err != nil {
			return nil, err
		}
		k.RotationEnabled, k.NextRotation = false, time.Time{}
		return nil, nil
	})
}

func (s *Server) getKeyRotationStatus(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, in.KeyId, "kms:GetKeyRotationStatus", true)
	if err != nil {
		return nil, err
	}
	if err := notPendingDeletion(k); err != nil {
		return nil, err
	}
	out := map[string]any{"KeyId": s.keyARN(k.ID), "KeyRotationEnabled": k.RotationEnabled}
	if k.RotationEnabled {
		out["RotationPeriodInDays"] = k.RotationPeriodDays
		out["NextRotationDate"] = epoch(k.NextRotation)
	}
	if !k.LastOnDemand.IsZero() {
		out["OnDemandRotationStartDate"] = epoch(k.LastOnDemand)
	}
	return out, nil
}

func (s *Server) rotateKeyOnDemand(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:RotateKeyOnDemand", func(k *key) (any, error) {
		if err := usable(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "RotateKeyOnDemand"); err != nil {
			return nil, err
		}
		if k.OnDemandCount >= maxOnDemandRotations {
			return nil, errorf("LimitExceededException", http.StatusBadRequest, "a key can be rotated on demand at most %d times", maxOnDemandRotations)
		}
		now := s.cfg.Clock()
		versions := k.Versions
		if err := s.addVersionLocked(k, rotationOnDemand, now); err != nil {
			k.Versions = versions
			return nil, err
		}
		k.OnDemandCount++
		k.LastOnDemand = now
		return map[string]any{"KeyId": s.keyARN(k.ID)}, nil
	})
}

func (s *Server) listKeyRotations(c *call) (any, error) {
	var in listInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, in.KeyId, "kms:ListKeyRotations", false)
	if err != nil {
		return nil, err
	}
	rotations := k.Versions[1:]
	from, to, next, err := page(len(rotations), in.Limit, in.Marker, 1000)
	if err != nil {
		return nil, err
	}
	type entry struct {
		KeyId, KeyMaterialId, RotationType string
		RotationDate                       epoch
	}
	out := []entry{}
	for _, v := range rotations[from:to] {
		out = append(out, entry{s.keyARN(k.ID), v.MaterialID, v.Rotation, epoch(v.Created)})
	}
	return map[string]any{"Rotations": out, "Truncated": next != "", "NextMarker": omitEmpty(next)}, nil
}

func (s *Server) scheduleKeyDeletion(c *call) (any, error) {
	var in struct {
		KeyId               string
		PendingWindowInDays *int32
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	days := maxPendingWindowDays
	if in.PendingWindowInDays != nil {
		if *in.PendingWindowInDays < minPendingWindowDays || *in.PendingWindowInDays > maxPendingWindowDays {
			return nil, validationErr("PendingWindowInDays must be between %d and %d", minPendingWindowDays, maxPendingWindowDays)
		}
		days = int(*in.PendingWindowInDays)
	}
	return s.mutateKey(c, in.KeyId, "kms:ScheduleKeyDeletion", func(k *key) (any, error) {
		if err := notPendingDeletion(k); err != nil {
			return nil, err
		}
		if err := customerManaged(k, "ScheduleKeyDeletion"); err != nil {
			return nil, err
		}
		k.State = statePendingDelete
		k.DeletionDate = s.cfg.Clock().AddDate(0, 0, days)
		k.PendingWindowDays = days
		return map[string]any{"KeyId": s.keyARN(k.ID), "DeletionDate": epoch(k.DeletionDate),
			"KeyState": k.State, "PendingWindowInDays": days}, nil
	})
}

func (s *Server) cancelKeyDeletion(c *call) (any, error) {
	var in keyIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:CancelKeyDeletion", func(k *key) (any, error) {
		if k.State != statePendingDelete {
			return nil, invalidStateErr("key %s is not pending deletion", k.ID)
		}
		// AWS leaves a key whose deletion was cancelled disabled.
		k.State, k.DeletionDate, k.PendingWindowDays = stateDisabled, time.Time{}, 0
		return map[string]any{"KeyId": s.keyARN(k.ID)}, nil
	})
}

func checkPolicyName(name string) error {
	if name != "" && name != "default" {
		return notFoundErr("policy %q does not exist; keys have one policy named default", name)
	}
	return nil
}

func (s *Server) getKeyPolicy(c *call) (any, error) {
	var in struct{ KeyId, PolicyName string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookupLocked(c, in.KeyId, "kms:GetKeyPolicy", false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Policy": k.Policy, "PolicyName": "default"}, nil
}

func (s *Server) putKeyPolicy(c *call) (any, error) {
	var in struct {
		KeyId, Policy, PolicyName      string
		BypassPolicyLockoutSafetyCheck bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if err := checkPolicy(s, c, in.Policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
		return nil, err
	}
	return s.mutateKey(c, in.KeyId, "kms:PutKeyPolicy", func(k *key) (any, error) {
		if err := customerManaged(k, "PutKeyPolicy"); err != nil {
			return nil, err
		}
		if err := notPendingDeletion(k); err != nil {
			return nil, err
		}
		k.Policy = in.Policy
		return nil, nil
	})
}
