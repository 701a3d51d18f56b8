package ingest

import (
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/camstorm/camstorm/internal/kvsapi"
)

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.CreateStreamInput
	if e := s.decodeJSON(w, r, &in); e != nil {
		writeError(w, e)
		return
	}
	if !s.authorize(w, r, Access{Action: ActionCreateStream, Resource: s.streamResource(kvsapi.StreamRef{StreamName: in.StreamName})}) {
		return
	}
	st, e := s.streams.create(r.Context(), in)
	if e != nil {
		writeError(w, e)
		return
	}
	s.cfg.Logf("ingest: created stream %s (retention %dh)", in.StreamName, in.DataRetentionInHours)
	writeJSON(w, kvsapi.CreateStreamOutput{StreamARN: st.record().ARN})
}

func (s *Server) describeStream(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.StreamRef
	st, ok := s.streamRequest(w, r, ActionDescribeStream, &in, &in)
	if !ok {
		return
	}
	writeJSON(w, kvsapi.DescribeStreamOutput{StreamInfo: st.info()})
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.ListStreamsInput
	if e := s.decodeJSON(w, r, &in); e != nil {
		writeError(w, e)
		return
	}
	if !s.authorize(w, r, Access{Action: ActionListStreams, Resource: "*"}) {
		return
	}
	max := in.MaxResults
	switch {
	case max == 0:
		max = 10000
	case max < 1 || max > 10000:
		writeError(w, invalidArgument("MaxResults must be between 1 and 10000"))
		return
	}
	prefix := ""
	if c := in.StreamNameCondition; c != nil {
		if c.ComparisonOperator != "" && c.ComparisonOperator != "BEGINS_WITH" {
			writeError(w, invalidArgument("ComparisonOperator must be BEGINS_WITH"))
			return
		}
		prefix = c.ComparisonValue
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			writeError(w, invalidArgument("NextToken is not one this service issued"))
			return
		}
		after = string(b)
	}
	list, next := s.streams.list(after, prefix, max)
	out := kvsapi.ListStreamsOutput{StreamInfoList: make([]kvsapi.StreamInfo, 0, len(list))}
	for _, st := range list {
		out.StreamInfoList = append(out.StreamInfoList, st.info())
	}
	if next != "" {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	writeJSON(w, out)
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.DeleteStreamInput
	if e := s.decodeJSON(w, r, &in); e != nil {
		writeError(w, e)
		return
	}
	if in.StreamARN == "" {
		writeError(w, invalidArgument("StreamARN is required"))
		return
	}
	if !s.authorize(w, r, Access{Action: ActionDeleteStream, Resource: in.StreamARN}) {
		return
	}
	st, e := s.streams.resolve(kvsapi.StreamRef{StreamARN: in.StreamARN})
	if e != nil {
		writeError(w, e)
		return
	}
	if in.CurrentVersion != "" && in.CurrentVersion != st.record().Version {
		writeError(w, &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcVersionMismatch,
			Message: "CurrentVersion does not match the stream's version; describe the stream and retry"})
		return
	}
	if e := s.streams.remove(r.Context(), st); e != nil {
		writeError(w, e)
		return
	}
	s.streamDeleted(st.record().Name)
	s.cfg.Logf("ingest: deleted stream %s", st.record().Name)
	writeJSON(w, struct{}{})
}

func (s *Server) getDataEndpoint(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.GetDataEndpointInput
	if e := s.decodeJSON(w, r, &in); e != nil {
		writeError(w, e)
		return
	}
	if !slices.Contains(kvsapi.APINames, in.APIName) {
		writeError(w, invalidArgument("APIName must be one of %v", kvsapi.APINames))
		return
	}
	if !s.authorize(w, r, Access{Action: ActionGetDataEndpoint, Resource: s.streamResource(in.StreamRef)}) {
		return
	}
	if _, e := s.streams.resolve(in.StreamRef); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, kvsapi.GetDataEndpointOutput{DataEndpoint: s.cfg.DataEndpoint})
}

func (s *Server) tagStream(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.TagStreamInput
	st, ok := s.streamRequest(w, r, ActionTagStream, &in, &in.StreamRef)
	if !ok {
		return
	}
	if len(in.Tags) == 0 {
		writeError(w, invalidArgument("Tags must hold at least one tag"))
		return
	}
	e := s.streams.update(r.Context(), st, func(rec *streamRecord) *kvsapi.Exception {
		added := 0
		for k := range in.Tags {
			if _, ok := rec.Tags[k]; !ok {
				added++
			}
		}
		if e := validateTags(in.Tags, len(rec.Tags)+added-len(in.Tags)); e != nil {
			return e
		}
		if rec.Tags == nil {
			rec.Tags = map[string]string{}
		}
		for k, v := range in.Tags {
			rec.Tags[k] = v
		}
		return nil
	})
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) listTagsForStream(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.ListTagsForStreamInput
	st, ok := s.streamRequest(w, r, ActionListTagsForStream, &in, &in.StreamRef)
	if !ok {
		return
	}
	tags := st.record().Tags
	if tags == nil {
		tags = map[string]string{}
	}
	writeJSON(w, kvsapi.ListTagsForStreamOutput{Tags: tags})
}

func (s *Server) updateDataRetention(w http.ResponseWriter, r *http.Request) {
	var in kvsapi.UpdateDataRetentionInput
	st, ok := s.streamRequest(w, r, ActionUpdateDataRetention, &in, &in.StreamRef)
	if !ok {
		return
	}
	if in.DataRetentionChangeInHours < 1 {
		writeError(w, invalidArgument("DataRetentionChangeInHours must be at least 1"))
		return
	}
	e := s.streams.update(r.Context(), st, func(rec *streamRecord) *kvsapi.Exception {
		if in.CurrentVersion != rec.Version {
			return &kvsapi.Exception{Status: http.StatusBadRequest, Type: kvsapi.ExcVersionMismatch,
				Message: "CurrentVersion does not match the stream's version; describe the stream and retry"}
		}
		switch in.Operation {
		case kvsapi.RetentionIncrease:
			if rec.RetentionHours+in.DataRetentionChangeInHours > kvsapi.MaxRetentionHours {
				return invalidArgument("retention cannot exceed %d hours", kvsapi.MaxRetentionHours)
			}
			rec.RetentionHours += in.DataRetentionChangeInHours
		case kvsapi.RetentionDecrease:
			if in.DataRetentionChangeInHours > rec.RetentionHours {
				return invalidArgument("cannot decrease retention of %d hours by %d", rec.RetentionHours, in.DataRetentionChangeInHours)
			}
			rec.RetentionHours -= in.DataRetentionChangeInHours
		default:
			return invalidArgument("Operation must be %s or %s", kvsapi.RetentionIncrease, kvsapi.RetentionDecrease)
		}
		return nil
	})
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, struct{}{})
}
