package ingest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

var testDataKey = DataKey{Plaintext: bytes.Repeat([]byte{7}, 32), Wrapped: []byte("wrapped-by-kms")}

func fixedUnwrap(_ context.Context, wrapped []byte) ([]byte, error) {
	if !bytes.Equal(wrapped, testDataKey.Wrapped) {
		return nil, errors.New("unknown wrapped key")
	}
	return testDataKey.Plaintext, nil
}

// TestSealedPayloadBindsStreamAndFragment: a sealed payload opens to the
// version-1 payload only for its own stream and fragment number; any
// flipped byte fails.
func TestSealedPayloadBindsStreamAndFragment(t *testing.T) {
	parts := [][]byte{appendPayloadHead(nil, 3, 4, 1), []byte("hdr"), []byte("clus"), {0}}
	v1 := bytes.Join(parts, nil)
	sealed, err := sealPayload(testDataKey, "arn:s", "42", parts)
	require.NoError(t, err)
	require.True(t, isSealed(sealed))
	require.False(t, bytes.Contains(sealed, []byte("clus")), "no plaintext in the sealed payload")
	ctx := context.Background()
	got, err := openPayload(ctx, sealed, "arn:s", "42", fixedUnwrap)
	require.NoError(t, err)
	require.Equal(t, v1, got)
	_, err = decodePayload(got)
	require.NoError(t, err)
	for _, tc := range []struct{ arn, number string }{{"arn:t", "42"}, {"arn:s", "43"}, {"arn:s4", "2"}} {
		_, err := openPayload(ctx, sealed, tc.arn, tc.number, fixedUnwrap)
		require.ErrorIs(t, err, errBadPayload, "openPayload as %s/%s", tc.arn, tc.number)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := openPayload(ctx, bad, "arn:s", "42", fixedUnwrap)
		require.Error(t, err, "flipped byte %d", i)
	}
}

// FuzzOpenPayload: malformed stored payloads are errors, never panics.
func FuzzOpenPayload(f *testing.F) {
	sealed, err := sealPayload(testDataKey, "arn:s", "1", [][]byte{appendPayloadHead(nil, 0, 1, 1), {1}, {0}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte{payloadMagic, payloadVersionSealed})
	f.Add([]byte{payloadMagic, payloadVersionSealed, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		plain, err := openPayload(context.Background(), p, "arn:s", "1", fixedUnwrap)
		if err == nil {
			_, _ = decodePayload(plain)
		}
	})
}
