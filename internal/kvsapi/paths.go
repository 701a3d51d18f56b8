package kvsapi

// Operation paths (§3): every call is a POST with a JSON body.
const (
	PathCreateStream            = "/createStream"
	PathDescribeStream          = "/describeStream"
	PathListStreams             = "/listStreams"
	PathDeleteStream            = "/deleteStream"
	PathGetDataEndpoint         = "/getDataEndpoint"
	PathTagStream               = "/tagStream"
	PathListTagsForStream       = "/listTagsForStream"
	PathUpdateDataRetention     = "/updateDataRetention"
	PathPutMedia                = "/putMedia"
	PathGetMedia                = "/getMedia"
	PathListFragments           = "/listFragments"
	PathGetMediaForFragmentList = "/getMediaForFragmentList"
)

// PutMedia request headers (§1.1) and common response headers (§1.4).
const (
	HeaderStreamName           = "x-amzn-stream-name"
	HeaderStreamARN            = "x-amzn-stream-arn"
	HeaderFragmentTimecodeType = "x-amzn-fragment-timecode-type"
	HeaderProducerStartTime    = "x-amzn-producer-start-timestamp"
	HeaderAckRequired          = "x-amzn-fragment-acknowledgment-required"
	HeaderErrorType            = "x-amzn-ErrorType"
	HeaderRequestID            = "x-amzn-RequestId"
	TimecodeTypeAbsolute       = "ABSOLUTE"
	TimecodeTypeRelative       = "RELATIVE"
	MediaContentType           = "video/webm"
	JSONContentType            = "application/json"
)

// APIName values accepted by GetDataEndpoint.
var APINames = []string{
	"PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
	"GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES",
}
