package kvsapi

import (
	"fmt"
	"strconv"
	"strings"
)

// ValidStreamName reports whether s matches [a-zA-Z0-9_.-]{1,256}.
func ValidStreamName(s string) bool {
	if len(s) == 0 || len(s) > MaxStreamNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// StreamARN builds arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creationMillis>.
func StreamARN(region, account, name string, creationMillis int64) string {
	return fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/%d", region, account, name, creationMillis)
}

// ParseStreamARN extracts the stream name and creation time from a stream ARN.
func ParseStreamARN(arn string) (name string, creationMillis int64, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesisvideo" {
		return "", 0, fmt.Errorf("not a Kinesis Video stream ARN: %q", arn)
	}
	res := strings.Split(parts[5], "/")
	if len(res) != 3 || res[0] != "stream" || !ValidStreamName(res[1]) {
		return "", 0, fmt.Errorf("not a Kinesis Video stream ARN: %q", arn)
	}
	ms, err := strconv.ParseInt(res[2], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("stream ARN %q: creation time: %w", arn, err)
	}
	return res[1], ms, nil
}
