package main

import (
	"bytes"
	"io"
	"sync"
)

// console puts whole lines from several sources onto one writer: the
// host's own messages, its spans (written by the goroutines of the calls)
// and the plugin's spans (copied from its stdout in whatever pieces the
// pipe gives), which would otherwise mix within a line and break the JSON
// of a span.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

// source returns a writer for one source: what it is given is held until
// a line is complete, then written with the source's other whole lines at
// once. A last line without its newline stays held.
func (c *console) source() io.Writer { return &lineWriter{c: c} }

type lineWriter struct {
	c   *console
	mu  sync.Mutex
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	i := bytes.LastIndexByte(l.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	l.c.mu.Lock()
	_, err := l.c.w.Write(l.buf[:i+1])
	l.c.mu.Unlock()
	l.buf = append(l.buf[:0], l.buf[i+1:]...)
	return len(p), err
}
