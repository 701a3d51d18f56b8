package e2ee

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The Wycheproof vectors live outside the repository, in the shared folder
// beside it (see wycheproofDir); they are never copied in.

// wycheproofDir returns the folder with the Wycheproof JSON files:
// $CAMSTORM_WYCHEPROOF_DIR, or ../shared/testvectors/wycheproof next to the
// module root (../../../shared/testvectors/wycheproof from this package).
// A folder named by the variable must exist; without it, a missing folder
// skips the test with a message saying where it looked (the vectors are
// not in the repository, and a clone elsewhere has no shared folder).
func wycheproofDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CAMSTORM_WYCHEPROOF_DIR")
	how := "from CAMSTORM_WYCHEPROOF_DIR"
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "testvectors", "wycheproof")
		how = "beside the module root; set CAMSTORM_WYCHEPROOF_DIR to use another folder"
	}
	if _, err := os.Stat(filepath.Join(dir, "aes_gcm_test.json")); err != nil {
		msg := fmt.Sprintf("Wycheproof vectors not found in %s (%s): %v", dir, how, err)
		if os.Getenv("CAMSTORM_WYCHEPROOF_DIR") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// moduleRoot walks up from the working directory (the package directory under
// go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// hexBytes decodes Wycheproof's hex strings.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type wycheproofTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"` // valid, invalid or acceptable
	// AEAD
	Key hexBytes `json:"key"`
	IV  hexBytes `json:"iv"`
	AAD hexBytes `json:"aad"`
	Msg hexBytes `json:"msg"`
	CT  hexBytes `json:"ct"`
	Tag hexBytes `json:"tag"`
	// XDH
	Public  hexBytes `json:"public"`
	Private hexBytes `json:"private"`
	Shared  hexBytes `json:"shared"`
	// HKDF
	IKM  hexBytes `json:"ikm"`
	Salt hexBytes `json:"salt"`
	Info hexBytes `json:"info"`
	Size int      `json:"size"`
	OKM  hexBytes `json:"okm"`
}

func (w wycheproofTest) String() string {
	return fmt.Sprintf("tcId %d (%s; %s; flags %v)", w.TcID, w.Result, w.Comment, w.Flags)
}

func (w wycheproofTest) has(flag string) bool { return slices.Contains(w.Flags, flag) }

type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		KeySize int              `json:"keySize"`
		IVSize  int              `json:"ivSize"`
		TagSize int              `json:"tagSize"`
		Curve   string           `json:"curve"`
		Tests   []wycheproofTest `json:"tests"`
	} `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string) wycheproofFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wycheproofDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := 0
	for _, g := range f.TestGroups {
		n += len(g.Tests)
	}
	if n == 0 || n != f.NumberOfTests {
		t.Fatalf("%s: read %d tests, the file says %d", name, n, f.NumberOfTests)
	}
	return f
}

// TestWycheproofAESGCM runs the AES-GCM vectors through frameAEAD, the
// wrapper every sealed frame goes through. The format's parameters
// (256-bit key, 96-bit nonce, 128-bit tag) must give the expected result;
// any other size must be refused by the wrapper.
func TestWycheproofAESGCM(t *testing.T) {
	f := loadWycheproof(t, "aes_gcm_test.json")
	var ran, refusedKey, refusedIV int
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			a, err := newFrameAEAD(v.Key)
			if g.KeySize != 256 {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%v: newFrameAEAD(%d-bit key) = %v, want ErrInvalidKey", v, g.KeySize, err)
				}
				refusedKey++
				continue
			}
			if err != nil {
				t.Fatalf("%v: newFrameAEAD(256-bit key) = %v", v, err)
			}
			sealed := append(bytes.Clone(v.CT), v.Tag...)
			if g.IVSize != 96 || g.TagSize != 128 {
				_, serr := a.seal(nil, v.IV, v.Msg, v.AAD)
				_, oerr := a.open(nil, v.IV, sealed, v.AAD)
				if serr == nil || oerr == nil {
					t.Errorf("%v: %d-bit IV, %d-bit tag: seal error %v, open error %v; want both refused", v, g.IVSize, g.TagSize, serr, oerr)
				}
				refusedIV++
				continue
			}
			ran++
			got, err := a.open(nil, v.IV, sealed, v.AAD)
			switch v.Result {
			case "valid":
				if err != nil || !bytes.Equal(got, v.Msg) {
					t.Errorf("%v: open = %x, %v; want %x", v, got, err, v.Msg)
				}
				if out, err := a.seal(nil, v.IV, v.Msg, v.AAD); err != nil || !bytes.Equal(out, sealed) {
					t.Errorf("%v: seal = %x, %v; want %x", v, out, err, sealed)
				}
			case "invalid":
				if !errors.Is(err, ErrAuth) {
					t.Errorf("%v: open = %x, %v; want ErrAuth", v, got, err)
				}
			default: // acceptable: either way, but an opened message must be right
				if err == nil && !bytes.Equal(got, v.Msg) {
					t.Errorf("%v: open = %x, want %x or an error", v, got, v.Msg)
				}
			}
		}
	}
	if ran == 0 || refusedKey == 0 || refusedIV == 0 {
		t.Fatalf("ran %d vectors, refused %d for key size and %d for IV size; want some of each", ran, refusedKey, refusedIV)
	}
	t.Logf("AES-GCM: %d vectors with the format's sizes checked, %d refused for key size, %d for IV size", ran, refusedKey, refusedIV)
}

// TestWycheproofX25519 runs the X25519 vectors through both places our code
// meets X25519 points:
//
//   - the consumer side of key agreement: the vector's private key is parsed
//     as a consumer key with ParsePrivateKey, the vector's public key is the
//     HPKE encapsulated key in an envelope, and Opener.BeginFragment must
//     unwrap a content key wrapped (by an independent RFC 9180 computation)
//     with exactly the vector's shared secret;
//   - recipient public keys: ParsePublicKey.
//
// "acceptable" vectors: Go's crypto/ecdh refuses the all-zero shared secret,
// so every ZeroSharedSecret vector must fail to unwrap (ErrAuth); other
// acceptable vectors (twist points, non-canonical encodings) may open, and if
// they do the key must be right. ParsePublicKey refuses low-order and
// non-canonical recipient keys on purpose (see its doc).
func TestWycheproofX25519(t *testing.T) {
	f := loadWycheproof(t, "x25519_test.json")
	const stream, epoch = "wycheproof", 7
	contentKey := bytes.Repeat([]byte{0xc5}, contentKeySize)
	info := envelopeInfo(stream, epoch)
	counts := map[string]int{}
	for _, g := range f.TestGroups {
		if g.Curve != "curve25519" {
			t.Fatalf("group curve %q, want curve25519", g.Curve)
		}
		for _, v := range g.Tests {
			priv, err := ParsePrivateKey(KEMX25519, v.Private)
			if err != nil {
				t.Fatalf("%v: ParsePrivateKey = %v", v, err)
			}
			pkR := priv.Public().Bytes()
			env := appendEnvelope(nil, envelope{epoch: epoch, kem: KEMX25519, recipients: []wrappedKey{{
				id:  priv.Public().ID(),
				enc: v.Public,
				ct:  refHPKESeal(t, v.Shared, v.Public, pkR, info, contentKey),
			}}})
			o := NewOpener(stream, priv)
			err = o.BeginFragment(testTC, env)
			opened := err == nil && sameAEADKey(t, o.cur.aead, contentKey)
			switch {
			case v.Result == "valid":
				if !opened {
					t.Errorf("%v: BeginFragment = %v, unwrapped the key %t; want the content key", v, err, opened)
				}
			case v.has("ZeroSharedSecret"):
				if !errors.Is(err, ErrAuth) {
					t.Errorf("%v: BeginFragment = %v, want ErrAuth (all-zero shared secret refused)", v, err)
				}
			case v.Result == "acceptable":
				if err == nil && !opened {
					t.Errorf("%v: BeginFragment accepted the point but unwrapped a wrong key", v)
				}
			default:
				if err == nil {
					t.Errorf("%v: BeginFragment = nil, want an error", v)
				}
			}
			counts[fmt.Sprintf("unwrap %s opened=%t", v.Result, opened)]++

			_, perr := ParsePublicKey(KEMX25519, v.Public)
			refuse := v.Result == "invalid" || v.has("LowOrderPublic") || v.has("NonCanonicalPublic")
			if refuse != (perr != nil) || (perr != nil && !errors.Is(perr, ErrInvalidKey)) {
				t.Errorf("%v: ParsePublicKey = %v, want refused=%t", v, perr, refuse)
			}
			counts[fmt.Sprintf("recipient key %s refused=%t", v.Result, perr != nil)]++
		}
	}
	t.Logf("X25519: %v", counts)
}

// sameAEADKey reports whether a is AES-256-GCM under key.
func sameAEADKey(t *testing.T, a frameAEAD, key []byte) bool {
	t.Helper()
	ref, err := newFrameAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, nonceSize)
	sealed, err := ref.seal(nil, nonce, []byte("probe"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.open(nil, nonce, sealed, nil)
	return err == nil && string(got) == "probe"
}

// refHPKESeal is an independent RFC 9180 single-shot Seal in base mode for
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, from a given DH
// output: so the test controls the shared secret crypto/hpke would otherwise
// compute itself.
func refHPKESeal(t *testing.T, dh, enc, pkR, info, plaintext []byte) []byte {
	t.Helper()
	kemSuite := binary.BigEndian.AppendUint16([]byte("KEM"), uint16(KEMX25519))
	eaePRK := refLabeledExtract(t, kemSuite, nil, "eae_prk", dh)
	shared := refLabeledExpand(t, kemSuite, eaePRK, "shared_secret", slices.Concat(enc, pkR), 32)

	suite := binary.BigEndian.AppendUint16([]byte("HPKE"), uint16(KEMX25519))
	suite = binary.BigEndian.AppendUint16(suite, hpkeKDFHKDFSHA256)
	suite = binary.BigEndian.AppendUint16(suite, hpkeAEADAES256GCM)
	pskIDHash := refLabeledExtract(t, suite, nil, "psk_id_hash", nil)
	infoHash := refLabeledExtract(t, suite, nil, "info_hash", info)
	context := slices.Concat([]byte{0}, pskIDHash, infoHash) // mode_base
	secret := refLabeledExtract(t, suite, shared, "secret", nil)
	key := refLabeledExpand(t, suite, secret, "key", context, 32)
	nonce := refLabeledExpand(t, suite, secret, "base_nonce", context, 12)

	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm.Seal(nil, nonce, plaintext, nil) // first message: sequence 0
}

func refLabeledExtract(t *testing.T, suite, salt []byte, label string, ikm []byte) []byte {
	t.Helper()
	prk, err := hkdf.Extract(sha256.New, slices.Concat([]byte("HPKE-v1"), suite, []byte(label), ikm), salt)
	if err != nil {
		t.Fatal(err)
	}
	return prk
}

func refLabeledExpand(t *testing.T, suite, prk []byte, label string, info []byte, n int) []byte {
	t.Helper()
	labeled := slices.Concat(binary.BigEndian.AppendUint16(nil, uint16(n)), []byte("HPKE-v1"), suite, []byte(label), info)
	out, err := hkdf.Expand(sha256.New, prk, string(labeled), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWycheproofHKDF checks the HKDF-SHA256 that refHPKESeal (the test's
// independent HPKE) is built from, so a failure of TestWycheproofX25519 points
// at our code, not at the reference.
func TestWycheproofHKDF(t *testing.T) {
	f := loadWycheproof(t, "hkdf_sha256_test.json")
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			okm, err := hkdf.Key(sha256.New, v.IKM, v.Salt, string(v.Info), v.Size)
			switch v.Result {
			case "valid":
				if err != nil || !bytes.Equal(okm, v.OKM) {
					t.Errorf("%v: hkdf.Key = %x, %v; want %x", v, okm, err, v.OKM)
				}
			case "invalid":
				if err == nil {
					t.Errorf("%v: hkdf.Key = %x, want an error", v, okm)
				}
			default:
				if err == nil && !bytes.Equal(okm, v.OKM) {
					t.Errorf("%v: hkdf.Key = %x, want %x or an error", v, okm, v.OKM)
				}
			}
		}
	}
}
