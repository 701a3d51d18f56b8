package kvsapi

import "strconv"

// ErrorID is the numeric id of an ERROR ACK (§1.3).
type ErrorID int

// ACK error ids (§1.3).
const (
	ErrStreamRead               ErrorID = 4000
	ErrMaxFragmentSize          ErrorID = 4001
	ErrMaxFragmentDuration      ErrorID = 4002
	ErrMaxConnectionDuration    ErrorID = 4003
	ErrFragmentTimecodeLesser   ErrorID = 4004
	ErrMoreThanOneTrack         ErrorID = 4005
	ErrInvalidMKV               ErrorID = 4006
	ErrInvalidProducerTimestamp ErrorID = 4007
	ErrStreamNotActive          ErrorID = 4008
	ErrFragmentMetadataLimit    ErrorID = 4009
	ErrTrackNumberMismatch      ErrorID = 4010
	ErrFramesMissingForTrack    ErrorID = 4011
	ErrMoreThanAllowedTracks    ErrorID = 4012
	ErrKMSKeyAccessDenied       ErrorID = 4500
	ErrKMSKeyDisabled           ErrorID = 4501
	ErrKMSKeyValidation         ErrorID = 4502
	ErrKMSKeyUnavailable        ErrorID = 4503
	ErrKMSKeyInvalidUsage       ErrorID = 4504
	ErrKMSKeyInvalidState       ErrorID = 4505
	ErrKMSKeyNotFound           ErrorID = 4506
	ErrStreamDeleted            ErrorID = 4507
	ErrInternal                 ErrorID = 5000
	ErrArchival                 ErrorID = 5001
)

type errorInfo struct {
	code      string
	retriable bool // the PIC resends the fragment after reconnecting
}

var errorTable = map[ErrorID]errorInfo{
	ErrStreamRead:               {"STREAM_READ_ERROR", true},
	ErrMaxFragmentSize:          {"MAX_FRAGMENT_SIZE_REACHED", false},
	ErrMaxFragmentDuration:      {"MAX_FRAGMENT_DURATION_REACHED", false},
	ErrMaxConnectionDuration:    {"MAX_CONNECTION_DURATION_REACHED", true},
	ErrFragmentTimecodeLesser:   {"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS", false},
	ErrMoreThanOneTrack:         {"MORE_THAN_ONE_TRACK_FOUND", false},
	ErrInvalidMKV:               {"INVALID_MKV_DATA", false},
	ErrInvalidProducerTimestamp: {"INVALID_PRODUCER_TIMESTAMP", false},
	ErrStreamNotActive:          {"STREAM_NOT_ACTIVE", false},
	ErrFragmentMetadataLimit:    {"FRAGMENT_METADATA_LIMIT_REACHED", false},
	ErrTrackNumberMismatch:      {"TRACK_NUMBER_MISMATCH", false},
	ErrFramesMissingForTrack:    {"FRAMES_MISSING_FOR_TRACK", false},
	ErrMoreThanAllowedTracks:    {"MORE_THAN_ALLOWED_TRACKS_FOUND", false},
	ErrKMSKeyAccessDenied:       {"KMS_KEY_ACCESS_DENIED", false},
	ErrKMSKeyDisabled:           {"KMS_KEY_DISABLED", false},
	ErrKMSKeyValidation:         {"KMS_KEY_VALIDATION_ERROR", false},
	ErrKMSKeyUnavailable:        {"KMS_KEY_UNAVAILABLE", false},
	ErrKMSKeyInvalidUsage:       {"KMS_KEY_INVALID_USAGE", false},
	ErrKMSKeyInvalidState:       {"KMS_KEY_INVALID_STATE", false},
	ErrKMSKeyNotFound:           {"KMS_KEY_NOT_FOUND", false},
	ErrStreamDeleted:            {"STREAM_DELETED", false},
	ErrInternal:                 {"INTERNAL_ERROR", true},
	ErrArchival:                 {"ARCHIVAL_ERROR", true},
}

// Code is the ErrorCode string that travels with the id.
func (id ErrorID) Code() string {
	if e, ok := errorTable[id]; ok {
		return e.code
	}
	return "UNKNOWN_ERROR"
}

// Retriable reports whether the KVS producer SDK resends the fragment after an
// ERROR with this id; unknown ids are retriable, as in the PIC.
func (id ErrorID) Retriable() bool {
	if e, ok := errorTable[id]; ok {
		return e.retriable
	}
	return true
}

func (id ErrorID) String() string { return strconv.Itoa(int(id)) + " " + id.Code() }

// Exception is an HTTP-level API error (§1.4): the name goes in the
// x-amzn-ErrorType header, the message in the JSON body.
type Exception struct {
	Status  int
	Type    string
	Message string
}

func (e *Exception) Error() string { return e.Type + ": " + e.Message }

// Exception types used by the control and data planes.
const (
	ExcResourceNotFound        = "ResourceNotFoundException"
	ExcResourceInUse           = "ResourceInUseException"
	ExcInvalidArgument         = "InvalidArgumentException"
	ExcClientLimitExceeded     = "ClientLimitExceededException"
	ExcConnectionLimitExceeded = "ConnectionLimitExceededException"
	ExcNotAuthorized           = "NotAuthorizedException"
	ExcTagsPerResourceExceeded = "TagsPerResourceExceededLimitException"
	ExcVersionMismatch         = "VersionMismatchException"
	ExcInvalidResourceFormat   = "InvalidResourceFormatException"
	ExcAccountStreamLimit      = "AccountStreamLimitExceededException"
	ExcRequestEntityTooLarge   = "RequestEntityTooLargeException"
	ExcInternalFailure         = "InternalFailure"
	ExcServiceUnavailable      = "ServiceUnavailable"
)
