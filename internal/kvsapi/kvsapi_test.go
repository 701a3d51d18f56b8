package kvsapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAckWireForm(t *testing.T) {
	for _, tc := range []struct {
		ack  Ack
		want string
	}{
		{Ack{EventType: EventBuffering, FragmentTimecode: 252467, HasTimecode: true, FragmentNumber: "91343852338176208490308672115616860505404839548"},
			`{"EventType":"BUFFERING","FragmentTimecode":252467,"FragmentNumber":"91343852338176208490308672115616860505404839548"}` + "\r\n"},
		{Ack{EventType: EventError, FragmentTimecode: 1565810137603, HasTimecode: true, FragmentNumber: "1", ErrorID: ErrMaxFragmentDuration},
			`{"EventType":"ERROR","FragmentTimecode":1565810137603,"FragmentNumber":"1","ErrorCode":"MAX_FRAGMENT_DURATION_REACHED","ErrorId":4002}` + "\r\n"},
		{Ack{EventType: EventIdle}, `{"EventType":"IDLE"}` + "\r\n"},
	} {
		got := string(tc.ack.AppendJSON(nil))
		require.Equal(t, tc.want, got)
		back, err := ParseAck([]byte(got))
		require.NoError(t, err, got)
		if tc.ack.EventType == EventError {
			tc.ack.ErrorCode = tc.ack.ErrorID.Code()
		}
		require.Equal(t, tc.ack, back)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() {
		var buf [256]byte
		_ = Ack{EventType: EventPersisted, HasTimecode: true, FragmentTimecode: 5, FragmentNumber: "7"}.AppendJSON(buf[:0])
	}), "ACK encoding must not allocate")
}

func TestParseAckRejects(t *testing.T) {
	for _, line := range []string{
		`{"EventType":"ERROR","FragmentNumber":"1"}`, // the PIC refuses an ERROR without ErrorId
		`{"EventType":"SOMETHING"}`,
		`not json`,
	} {
		_, err := ParseAck([]byte(line))
		require.Error(t, err, line)
	}
}

func TestErrorIDs(t *testing.T) {
	require.Equal(t, "INVALID_MKV_DATA", ErrInvalidMKV.Code())
	require.False(t, ErrInvalidMKV.Retriable())
	require.True(t, ErrInternal.Retriable())
	require.True(t, ErrorID(4999).Retriable(), "unknown ids are retried, as in the PIC")
	require.Equal(t, "UNKNOWN_ERROR", ErrorID(4999).Code())
}

func TestTimestampJSON(t *testing.T) {
	ts := Timestamp{time.UnixMilli(1551924009774)}
	b, err := json.Marshal(ts)
	require.NoError(t, err)
	require.Equal(t, "1551924009.774", string(b))
	var back Timestamp
	require.NoError(t, json.Unmarshal([]byte("1.551924009774E9"), &back))
	require.Equal(t, ts.UnixMilli(), back.UnixMilli())
	require.Error(t, json.Unmarshal([]byte(`"yesterday"`), &back))
	require.Error(t, json.Unmarshal([]byte(`1e300`), &back))
	require.Equal(t, "1511852109.026", FormatTagTime(1511852109026))
}

func TestStreamNamesAndARNs(t *testing.T) {
	require.True(t, ValidStreamName("cam_1.front-door"))
	require.False(t, ValidStreamName(""))
	require.False(t, ValidStreamName("has space"))
	arn := StreamARN("us-east-1", "123456789012", "cam", 1678721804436)
	name, ms, err := ParseStreamARN(arn)
	require.NoError(t, err)
	require.Equal(t, "cam", name)
	require.Equal(t, int64(1678721804436), ms)
	for _, bad := range []string{"", "arn:aws:kms:us-east-1:1:key/x", "arn:aws:kinesisvideo:r:1:stream/cam", "arn:aws:kinesisvideo:r:1:stream/c m/1"} {
		_, _, err := ParseStreamARN(bad)
		require.Error(t, err, bad)
	}
}
