package kvsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Stream status values (§3).
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusUpdating = "UPDATING"
	StatusDeleting = "DELETING"
)

// Timestamp is a time carried in JSON as epoch seconds with a fraction, the way
// restJson1 sends it (e.g. 1.551924009774E9). Millisecond precision.
type Timestamp struct{ time.Time }

// MarshalJSON writes epoch seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

// UnmarshalJSON accepts a JSON number of epoch seconds.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("timestamp must be epoch seconds: %w", err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return fmt.Errorf("timestamp %v out of range", f)
	}
	t.Time = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	return nil
}

// Ts wraps a time for a JSON field.
func Ts(t time.Time) *Timestamp { return &Timestamp{t} }

// FormatTagTime formats a time as KVS's tag timestamps: epoch seconds with three
// decimals, e.g. "1511852109.126" (§2.4).
func FormatTagTime(ms int64) string {
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}

// StreamInfo is DescribeStream's payload (§3).
type StreamInfo struct {
	CreationTime         *Timestamp `json:"CreationTime,omitempty"`
	DataRetentionInHours int        `json:"DataRetentionInHours"`
	DeviceName           string     `json:"DeviceName,omitempty"`
	KmsKeyID             string     `json:"KmsKeyId,omitempty"`
	MediaType            string     `json:"MediaType,omitempty"`
	Status               string     `json:"Status"`
	StreamARN            string     `json:"StreamARN"`
	StreamName           string     `json:"StreamName"`
	Version              string     `json:"Version"`
}

// StreamRef names a stream by name or ARN (exactly one).
type StreamRef struct {
	StreamName string `json:"StreamName,omitempty"`
	StreamARN  string `json:"StreamARN,omitempty"`
}

// CreateStreamInput is CreateStream's request body.
type CreateStreamInput struct {
	StreamName           string            `json:"StreamName"`
	DeviceName           string            `json:"DeviceName,omitempty"`
	MediaType            string            `json:"MediaType,omitempty"`
	KmsKeyID             string            `json:"KmsKeyId,omitempty"`
	DataRetentionInHours int               `json:"DataRetentionInHours,omitempty"`
	Tags                 map[string]string `json:"Tags,omitempty"`
}

// CreateStreamOutput is CreateStream's response.
type CreateStreamOutput struct {
	StreamARN string `json:"StreamARN"`
}

// DescribeStreamOutput is DescribeStream's response.
type DescribeStreamOutput struct {
	StreamInfo StreamInfo `json:"StreamInfo"`
}

// ListStreamsInput is ListStreams' request body.
type ListStreamsInput struct {
	MaxResults          int    `json:"MaxResults,omitempty"`
	NextToken           string `json:"NextToken,omitempty"`
	StreamNameCondition *struct {
		ComparisonOperator string `json:"ComparisonOperator,omitempty"`
		ComparisonValue    string `json:"ComparisonValue,omitempty"`
	} `json:"StreamNameCondition,omitempty"`
}

// ListStreamsOutput is ListStreams' response.
type ListStreamsOutput struct {
	StreamInfoList []StreamInfo `json:"StreamInfoList"`
	NextToken      string       `json:"NextToken,omitempty"`
}

// DeleteStreamInput is DeleteStream's request body.
type DeleteStreamInput struct {
	StreamARN      string `json:"StreamARN"`
	CurrentVersion string `json:"CurrentVersion,omitempty"`
}

// GetDataEndpointInput is GetDataEndpoint's request body.
type GetDataEndpointInput struct {
	StreamRef
	APIName string `json:"APIName"`
}

// GetDataEndpointOutput is GetDataEndpoint's response.
type GetDataEndpointOutput struct {
	DataEndpoint string `json:"DataEndpoint"`
}

// TagStreamInput is TagStream's request body.
type TagStreamInput struct {
	StreamRef
	Tags map[string]string `json:"Tags"`
}

// ListTagsForStreamInput is ListTagsForStream's request body.
type ListTagsForStreamInput struct {
	StreamRef
	NextToken string `json:"NextToken,omitempty"`
}

// ListTagsForStreamOutput is ListTagsForStream's response.
type ListTagsForStreamOutput struct {
	Tags      map[string]string `json:"Tags"`
	NextToken string            `json:"NextToken,omitempty"`
}

// Retention change operations for UpdateDataRetention.
const (
	RetentionIncrease = "INCREASE_DATA_RETENTION"
	RetentionDecrease = "DECREASE_DATA_RETENTION"
)

// UpdateDataRetentionInput is UpdateDataRetention's request body.
type UpdateDataRetentionInput struct {
	StreamRef
	CurrentVersion             string `json:"CurrentVersion"`
	Operation                  string `json:"Operation"`
	DataRetentionChangeInHours int    `json:"DataRetentionChangeInHours"`
}

// StartSelector types for GetMedia (§3).
const (
	StartNow               = "NOW"
	StartEarliest          = "EARLIEST"
	StartFragmentNumber    = "FRAGMENT_NUMBER"
	StartServerTimestamp   = "SERVER_TIMESTAMP"
	StartProducerTimestamp = "PRODUCER_TIMESTAMP"
	StartContinuationToken = "CONTINUATION_TOKEN"
)

// StartSelector says where GetMedia starts.
type StartSelector struct {
	StartSelectorType   string     `json:"StartSelectorType"`
	AfterFragmentNumber string     `json:"AfterFragmentNumber,omitempty"`
	StartTimestamp      *Timestamp `json:"StartTimestamp,omitempty"`
	ContinuationToken   string     `json:"ContinuationToken,omitempty"`
}

// GetMediaInput is GetMedia's request body.
type GetMediaInput struct {
	StreamRef
	StartSelector StartSelector `json:"StartSelector"`
}

// Fragment selector types for ListFragments.
const (
	SelectProducerTimestamp = "PRODUCER_TIMESTAMP"
	SelectServerTimestamp   = "SERVER_TIMESTAMP"
)

// FragmentSelector filters ListFragments by a timestamp range (inclusive).
type FragmentSelector struct {
	FragmentSelectorType string `json:"FragmentSelectorType"`
	TimestampRange       struct {
		StartTimestamp Timestamp `json:"StartTimestamp"`
		EndTimestamp   Timestamp `json:"EndTimestamp"`
	} `json:"TimestampRange"`
}

// ListFragmentsInput is ListFragments' request body.
type ListFragmentsInput struct {
	StreamRef
	FragmentSelector *FragmentSelector `json:"FragmentSelector,omitempty"`
	MaxResults       int               `json:"MaxResults,omitempty"`
	NextToken        string            `json:"NextToken,omitempty"`
}

// Fragment describes one stored fragment.
type Fragment struct {
	FragmentNumber               string    `json:"FragmentNumber"`
	FragmentSizeInBytes          int64     `json:"FragmentSizeInBytes"`
	ProducerTimestamp            Timestamp `json:"ProducerTimestamp"`
	ServerTimestamp              Timestamp `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64     `json:"FragmentLengthInMilliseconds"`
}

// ListFragmentsOutput is ListFragments' response.
type ListFragmentsOutput struct {
	Fragments []Fragment `json:"Fragments"`
	NextToken *string    `json:"NextToken"`
}

// GetMediaForFragmentListInput is GetMediaForFragmentList's request body.
type GetMediaForFragmentListInput struct {
	StreamRef
	Fragments []string `json:"Fragments"`
}

// ErrorBody is the JSON body of an API error.
type ErrorBody struct {
	Message string `json:"Message"`
}
