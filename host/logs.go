package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// maxEntry bounds one forwarded entry: a longer line is forwarded in
// pieces of this size (each marked "partial") rather than held in memory
// without limit, and so is a longer panic trace.
const maxEntry = 1 << 20

// forward copies one of the plugin's output streams into log until r ends.
// A line that is an hclog JSON entry keeps its level, message and fields;
// other lines are logged at plain (Info for stdout, Debug for stderr, as
// go-plugin does). From a line starting "panic: " or "fatal error: " on,
// the rest of the stream is the Go runtime's crash report: it is logged
// as one Error entry with the trace in the "stack" field. If raw is set it
// receives the stream's bytes as read, before any of this; if tail is set
// it keeps the stream's last lines (see tailBuf).
func forward(r io.Reader, log hclog.Logger, stream string, plain hclog.Level, raw io.Writer, tail *tailBuf) {
	if raw != nil {
		r = io.TeeReader(r, raw)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	var crash *bytes.Buffer
	var crashMsg string
	flushCrash := func() {
		if crash != nil {
			log.Error(crashMsg, "stream", stream, "stack", strings.TrimRight(crash.String(), "\n"))
			crash = nil
		}
	}
	defer flushCrash()
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		full := err == nil || (len(line) > 0 && err != bufio.ErrBufferFull)
		if !full && len(line) < maxEntry && errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !full && endsNext(br) {
			// The piece is the line's last: its end of line comes next
			// (a line of a multiple of maxEntry bytes). Without this look
			// the piece would be marked partial and the end of line
			// forwarded as an empty entry of its own.
			full, err = true, nil
		}
		if len(line) > 0 {
			partial := !full
			text := strings.TrimRight(string(line), "\r\n")
			line = line[:0]
			if tail != nil {
				tail.add(text, crash != nil)
			}
			switch {
			case crash != nil:
				crash.WriteString(text)
				crash.WriteByte('\n')
				if crash.Len() >= maxEntry {
					flushCrash()
				}
			case !partial && stream == "stderr" && (strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ")):
				crash, crashMsg = new(bytes.Buffer), "plugin crashed: "+text
			default:
				logLine(log, text, stream, plain, partial)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// logLine logs one line, as an hclog JSON entry if it is one.
func logLine(log hclog.Logger, text, stream string, plain hclog.Level, partial bool) {
	if !partial && strings.HasPrefix(text, "{") {
		var e map[string]any
		if json.Unmarshal([]byte(text), &e) == nil {
			lvl, _ := e["@level"].(string)
			msg, ok := e["@message"].(string)
			if level := hclog.LevelFromString(lvl); ok && level != hclog.NoLevel {
				log.Log(level, msg, fields(e)...)
				return
			}
		}
	}
	if partial {
		log.Log(plain, text, "stream", stream, "partial", true)
		return
	}
	log.Log(plain, text, "stream", stream)
}

// fields turns an entry's fields into hclog's key/value list, in key
// order. hclog's own keys are dropped except @module (the plugin's logger
// name), kept as "module".
func fields(e map[string]any) []any {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		switch k {
		case "@level", "@message", "@timestamp", "@caller":
		case "@module":
			out = append(out, "module", e[k])
		default:
			out = append(out, k, e[k])
		}
	}
	return out
}

// Bounds of a tailBuf: the lines a start error quotes are few and short,
// enough to show a plugin's last words without burying the error.
const (
	tailLines    = 20
	tailBytes    = 4 << 10
	tailLineSize = 1 << 10
)

// tailBuf keeps the last lines (at most tailLines, tailBytes in all, each
// cut at tailLineSize) a plugin wrote to its stderr, for the error of a
// start that failed: the forwarded log may be filtered (plain stderr lines
// are Debug entries), the error is not. hclog JSON entries are kept as
// "[LEVEL] message: key=value ...". The first line of a Go crash report
// ("panic: ...") is kept apart, since the trace after it fills the tail.
type tailBuf struct {
	mu    sync.Mutex
	lines []string
	size  int
	crash string
}

// add records one line; inCrash says that it belongs to a crash report
// already started.
func (t *tailBuf) add(text string, inCrash bool) {
	text = tailText(text)
	if len(text) > tailLineSize {
		text = text[:tailLineSize] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !inCrash && t.crash == "" && (strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ")) {
		t.crash = text
	}
	t.lines = append(t.lines, text)
	t.size += len(text)
	for len(t.lines) > tailLines || t.size > tailBytes {
		t.size -= len(t.lines[0])
		t.lines = t.lines[1:]
	}
}

// text returns the kept lines, each on its own line after a tab, with the
// crash report's first line ahead of them if it is no longer among them;
// "" if the plugin wrote nothing. Lines containing omit (if not empty),
// which the caller says already, are left out.
func (t *tailBuf) text(omit string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if t.crash != "" && !slices.Contains(t.lines, t.crash) {
		b.WriteString("\n\t" + t.crash + "\n\t...")
	}
	for _, l := range t.lines {
		if omit == "" || !strings.Contains(l, omit) {
			b.WriteString("\n\t" + l)
		}
	}
	return b.String()
}

// hasLine reports whether a kept line starts with prefix.
func (t *tailBuf) hasLine(prefix string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.ContainsFunc(t.lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// tailText renders a line for a tailBuf: an hclog JSON entry as
// "[LEVEL] message: key=value ...", any other line as it is.
func tailText(text string) string {
	if !strings.HasPrefix(text, "{") {
		return text
	}
	var e map[string]any
	if json.Unmarshal([]byte(text), &e) != nil {
		return text
	}
	lvl, _ := e["@level"].(string)
	msg, ok := e["@message"].(string)
	if !ok || hclog.LevelFromString(lvl) == hclog.NoLevel {
		return text
	}
	var b strings.Builder
	b.WriteString("[" + strings.ToUpper(lvl) + "] " + msg)
	f := fields(e)
	for i := 0; i+1 < len(f); i += 2 {
		if i == 0 {
			b.WriteString(":")
		}
		fmt.Fprintf(&b, " %v=%q", f[i], fmt.Sprint(f[i+1]))
	}
	return b.String()
}

// endsNext consumes an end of line ("\n" or "\r\n") that comes next in
// br, and reports whether it did. It may wait for the plugin's next
// write: a piece cut at maxEntry is held until then, or until the stream
// ends, so that it is marked partial only if the line goes on.
func endsNext(br *bufio.Reader) bool {
	b, _ := br.Peek(1)
	if len(b) == 1 && b[0] == '\r' {
		b, _ = br.Peek(2)
	}
	switch {
	case len(b) >= 1 && b[0] == '\n':
		_, _ = br.Discard(1)
		return true
	case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
		_, _ = br.Discard(2)
		return true
	}
	return false
}
