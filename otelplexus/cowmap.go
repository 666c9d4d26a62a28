package otelplexus

import (
	"maps"
	"sync"
	"sync/atomic"
)

// cowMap is a map read on every call without a lock: readers load an
// immutable map, and a writer, rare (once per key: a method and side, or
// a status code), copies it under a mutex. A sync.Map would box each
// struct key into an interface, an allocation on every call.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// get returns k's value, making it with mk the first time.
func (c *cowMap[K, V]) get(k K, mk func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := map[K]V{}
	if old := c.m.Load(); old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
		n = maps.Clone(*old)
	}
	v := mk()
	n[k] = v
	c.m.Store(&n)
	return v
}
