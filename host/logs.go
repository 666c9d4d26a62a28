package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"

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
// as one Error entry with the trace in the "stack" field.
func forward(r io.Reader, log hclog.Logger, stream string, plain hclog.Level) {
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
		if len(line) > 0 {
			partial := !full
			text := strings.TrimRight(string(line), "\r\n")
			line = line[:0]
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
