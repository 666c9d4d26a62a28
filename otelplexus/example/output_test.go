package main

import (
	"encoding/json"
	"regexp"
	"strings"
)

// span is what the tests read of a stdouttrace JSON line.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ SpanID string }
	SpanKind    int // 2 server, 3 client
	Status      struct{ Code, Description string }
	Resource    []struct {
		Key   string
		Value struct{ Value any }
	}
}

const (
	kindServer = 2
	kindClient = 3
)

// service is the span's resource's service.name: which process made it.
func (s span) service() string {
	for _, kv := range s.Resource {
		if kv.Key == "service.name" {
			v, _ := kv.Value.Value.(string)
			return v
		}
	}
	return ""
}

// spans decodes the output's span lines (those that are JSON objects).
func spans(out string) ([]span, error) {
	var all []span
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var s span
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			return nil, err
		}
		all = append(all, s)
	}
	return all, nil
}

// sampleLine is a Prometheus sample as the example prints it, indented:
// name{labels} value.
var sampleLine = regexp.MustCompile(`^\s+(\w+)\{(.*)\} (\S+)$`)

var labelPair = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// sample returns the value of the printed sample called name whose labels
// include want, and whether there is one.
func sample(out, name string, want map[string]string) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		m := sampleLine.FindStringSubmatch(l)
		if m == nil || m[1] != name {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = p[2]
		}
		ok := true
		for k, v := range want {
			ok = ok && labels[k] == v
		}
		if ok {
			return m[3], true
		}
	}
	return "", false
}
