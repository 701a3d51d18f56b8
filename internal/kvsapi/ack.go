package kvsapi

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// EventType is the kind of a PutMedia acknowledgement (§1.2).
type EventType string

const (
	EventBuffering EventType = "BUFFERING"
	EventReceived  EventType = "RECEIVED"
	EventPersisted EventType = "PERSISTED"
	EventError     EventType = "ERROR"
	EventIdle      EventType = "IDLE"
)

// Ack is one line of the PutMedia response body. On the wire it is a bare JSON
// object (no Acknowledgement wrapper) followed by a line break.
type Ack struct {
	EventType        EventType `json:"EventType"`
	FragmentTimecode int64     `json:"FragmentTimecode"`
	FragmentNumber   string    `json:"FragmentNumber"`
	ErrorID          ErrorID   `json:"ErrorId,omitempty"`
	ErrorCode        string    `json:"ErrorCode,omitempty"`
	// HasTimecode is false for IDLE and for errors raised before a fragment
	// timecode was known; FragmentTimecode is then omitted from the line.
	HasTimecode bool `json:"-"`
}

// AppendJSON appends the ACK's wire form, including the trailing "\r\n", to dst
// without allocating when dst has room. The line is far below MaxAckLineLen.
func (a Ack) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"EventType":"`...)
	dst = append(dst, a.EventType...)
	dst = append(dst, '"')
	if a.HasTimecode {
		dst = append(dst, `,"FragmentTimecode":`...)
		dst = strconv.AppendInt(dst, a.FragmentTimecode, 10)
	}
	if a.EventType != EventIdle {
		dst = append(dst, `,"FragmentNumber":"`...)
		dst = append(dst, a.FragmentNumber...) // digits only, no escaping needed
		dst = append(dst, '"')
	}
	if a.EventType == EventError {
		dst = append(dst, `,"ErrorCode":"`...)
		dst = append(dst, a.ErrorID.Code()...)
		dst = append(dst, `","ErrorId":`...)
		dst = strconv.AppendInt(dst, int64(a.ErrorID), 10)
	}
	return append(dst, "}\r\n"...)
}

// ParseAck decodes one ACK line as a producer would: an ERROR without an
// ErrorId is rejected, as the PIC does (§1.2).
func ParseAck(line []byte) (Ack, error) {
	var raw struct {
		EventType        EventType
		FragmentTimecode *int64
		FragmentNumber   string
		ErrorID          ErrorID `json:"ErrorId"`
		ErrorCode        string
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return Ack{}, fmt.Errorf("kvsapi: malformed ACK %q: %w", line, err)
	}
	a := Ack{EventType: raw.EventType, FragmentNumber: raw.FragmentNumber, ErrorID: raw.ErrorID, ErrorCode: raw.ErrorCode}
	if raw.FragmentTimecode != nil {
		a.FragmentTimecode, a.HasTimecode = *raw.FragmentTimecode, true
	}
	switch a.EventType {
	case EventBuffering, EventReceived, EventPersisted, EventIdle:
	case EventError:
		if a.ErrorID == 0 {
			return Ack{}, fmt.Errorf("kvsapi: ERROR ACK without ErrorId: %q", line)
		}
	default:
		return Ack{}, fmt.Errorf("kvsapi: unknown ACK EventType %q", a.EventType)
	}
	return a, nil
}
