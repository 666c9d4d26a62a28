package otelplexus

import "github.com/plexus-ipc/plexus"

// carrier lets a propagator read and write call metadata. Propagators
// write lower-case keys ("traceparent"), which plexus metadata keeps as
// they are; Get looks the key up as given for the same reason.
type carrier plexus.Metadata

func (c carrier) Get(key string) string { return c[key] }

func (c carrier) Set(key, value string) { c[key] = value }

func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
