package kvsapi

// Reserved Matroska SimpleTag names (§2.4). Producers may not use the AWS prefix
// for their own metadata.
const (
	TagPrefix            = "AWS_KINESISVIDEO_"
	TagEndOfFragment     = "AWS_KINESISVIDEO_END_OF_FRAGMENT"
	TagNotification      = "AWS_KINESISVIDEO_NOTIFICATION"
	TagImageGeneration   = "AWS_KINESISVIDEO_IMAGE_GENERATION"
	TagImagePrefix       = "AWS_KINESISVIDEO_IMAGE_PREFIX"
	TagFragmentNumber    = "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
	TagServerTimestamp   = "AWS_KINESISVIDEO_SERVER_TIMESTAMP"
	TagProducerTimestamp = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"
	TagMillisBehindNow   = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"
	TagContinuationToken = "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
	TagErrorCode         = "AWS_KINESISVIDEO_ERROR_CODE"
	TagErrorID           = "AWS_KINESISVIDEO_ERROR_ID"
)

// ProducerEventTag reports whether name is one of the producer-side event
// markers the service accepts despite the reserved prefix.
func ProducerEventTag(name string) bool {
	switch name {
	case TagEndOfFragment, TagNotification, TagImageGeneration, TagImagePrefix:
		return true
	}
	return false
}
