package buslink

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
)

// Every decoder of a message read from the peer is fuzzed: it never
// panics, what it accepts is valid (subjects, patterns, headers within
// the metadata limits, known enums and flags), re-encodes within its
// Msgsize, and decodes again to the same value.

// wireMsg is a message both encoded here and decoded from the peer.
type wireMsg interface {
	plexus.Marshaler
	plexus.Unmarshaler
}

// roundTrip re-encodes m, decodes the encoding into fresh, and requires
// the same value.
func roundTrip(t *testing.T, m, fresh wireMsg) {
	b, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatalf("re-encoding %#v: %v", m, err)
	}
	if len(b) > m.Msgsize() {
		t.Fatalf("encoding of %d bytes exceeds Msgsize %d", len(b), m.Msgsize())
	}
	if _, err := fresh.UnmarshalMsg(b); err != nil {
		t.Fatalf("decoding the re-encoding of %#v: %v", m, err)
	}
	if !reflect.DeepEqual(m, fresh) {
		t.Fatalf("round trip changed %#v into %#v", m, fresh)
	}
}

// publishMsg adapts publishRequest's decode (which the handlers call
// directly) to wireMsg.
type publishMsg struct{ publishRequest }

func (m *publishMsg) UnmarshalMsg(b []byte) ([]byte, error) {
	return nil, m.decode(b, true)
}

func FuzzDecodePublishRequest(f *testing.F) {
	addSeeds(f, "FuzzDecodePublishRequest")
	f.Fuzz(func(t *testing.T, b []byte) {
		var view publishRequest
		if err := view.decode(b, false); err != nil {
			return
		}
		var m publishMsg
		if _, err := m.UnmarshalMsg(b); err != nil {
			t.Fatalf("a view decodes but a copy does not: %v", err)
		}
		if err := bus.ValidateSubject(m.subject); err != nil || checkHeader(m.header) != nil {
			t.Fatalf("accepted an invalid message %#v", m)
		}
		roundTrip(t, &m, &publishMsg{})
	})
}

func FuzzDecodePublishResult(f *testing.F) {
	addSeeds(f, "FuzzDecodePublishResult")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m publishResult
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if m.res.Delivered < 0 || m.res.Dropped < 0 {
			t.Fatalf("negative counts %+v", m.res)
		}
		roundTrip(t, &m, &publishResult{})
	})
}

func FuzzDecodeSubscribeRequest(f *testing.F) {
	addSeeds(f, "FuzzDecodeSubscribeRequest")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m subscribeRequest
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		o := m.opts
		if bus.ValidatePattern(m.pattern) != nil || o.Buffer < 0 || o.History < 0 || len(o.Queue) > MaxQueueLen ||
			o.Overflow > bus.End || o.QueuePolicy > bus.LeastLoaded {
			t.Fatalf("accepted an invalid request %#v", m)
		}
		roundTrip(t, &m, &subscribeRequest{})
	})
}

func FuzzDecodeSubscribed(f *testing.F) {
	addSeeds(f, "FuzzDecodeSubscribed")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m subscribed
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if m.id == 0 {
			t.Fatal("accepted subscription ID 0")
		}
		roundTrip(t, &m, &subscribed{})
	})
}

func FuzzDecodeDelivery(f *testing.F) {
	addSeeds(f, "FuzzDecodeDelivery")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m delivery
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if m.tag == 0 || m.flags&^flagsKnown != 0 || bus.ValidateSubject(m.subject) != nil || checkHeader(m.header) != nil {
			t.Fatalf("accepted an invalid delivery %#v", m)
		}
		if large := m.flags&flagLarge != 0; large != (m.size > 0) || (large && len(m.data) > 0) || m.size > maxLargeSize {
			t.Fatalf("accepted a large flag %v with size %d and %d bytes of data", large, m.size, len(m.data))
		}
		if len(b) > 0 && len(m.data) > 0 && &m.data[0] == &b[len(b)-1] {
			t.Fatal("the data is a view of the payload, which is released after Recv")
		}
		// Decoded after a delivery of the same subject (which shares its
		// string), and after one of another, it is the same delivery.
		for _, prev := range []string{m.subject, "other.subject"} {
			again := delivery{prev: prev}
			if _, err := again.UnmarshalMsg(b); err != nil || again.subject != m.subject || again.tag != m.tag {
				t.Fatalf("decoded after %q: %v, %#v", prev, err, again)
			}
		}
		roundTrip(t, &m, &delivery{})
	})
}

func FuzzDecodeLargeRequest(f *testing.F) {
	addSeeds(f, "FuzzDecodeLargeRequest")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m largeRequest
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if bus.ValidateSubject(m.subject) != nil || checkHeader(m.header) != nil || m.size == 0 || m.size > maxLargeSize {
			t.Fatalf("accepted an invalid request %#v", m)
		}
		roundTrip(t, &m, &largeRequest{})
	})
}

func FuzzDecodeAck(f *testing.F) {
	addSeeds(f, "FuzzDecodeAck")
	f.Fuzz(func(t *testing.T, b []byte) {
		var m ack
		if _, err := m.UnmarshalMsg(b); err != nil {
			return
		}
		if len(m.tags) > MaxAckTags {
			t.Fatalf("accepted %d tags", len(m.tags))
		}
		if len(m.tags) == 0 {
			m.tags = nil
		}
		fresh := &ack{}
		roundTrip(t, &m, fresh)
	})
}

// seeds are valid encodings, written to testdata/fuzz by
// TestWriteFuzzSeeds; the corpus there also holds malformed inputs.
func seeds() map[string][]wireMsg {
	h := plexus.Metadata{"trace-id": "abc", "k": ""}
	return map[string][]wireMsg{
		"FuzzDecodePublishRequest": {
			&publishMsg{publishRequest{subject: "sensor.kitchen.temp", data: []byte("21.5")}},
			&publishMsg{publishRequest{subject: "a", header: h, data: []byte{}}},
		},
		"FuzzDecodePublishResult": {&publishResult{res: bus.PublishResult{Delivered: 3, Dropped: 1}}},
		"FuzzDecodeSubscribeRequest": {
			&subscribeRequest{pattern: "sensor.*.temp"},
			&subscribeRequest{pattern: "jobs.>", opts: bus.SubOptions{Queue: "workers", QueuePolicy: bus.LeastLoaded, Buffer: 64, Overflow: bus.End}},
			&subscribeRequest{pattern: ">", opts: bus.SubOptions{History: bus.AllHistory, Overflow: bus.DropOldest}},
		},
		"FuzzDecodeSubscribed": {&subscribed{id: 7}},
		"FuzzDecodeDelivery": {
			&delivery{tag: 1, seq: 42, subject: "a.b", data: []byte("x")},
			&delivery{tag: 9, seq: 3, subject: "a", header: h, flags: flagRedelivered | flagReplayed},
			&delivery{tag: 2, seq: 5, subject: "big.0", header: h, data: []byte{}, flags: flagLarge | flagRedelivered, size: 16 << 20},
		},
		"FuzzDecodeLargeRequest": {
			&largeRequest{subject: "big.0", size: 16 << 20},
			&largeRequest{subject: "a", header: h, size: LargeData + 1},
		},
		"FuzzDecodeAck": {&ack{upTo: 5}, &ack{upTo: 0, tags: []uint64{7, 9, 12}}, &ack{upTo: 3, tags: []uint64{5}}},
	}
}

// addSeeds adds the valid encodings; the files under testdata/fuzz are
// added by the fuzzing engine itself.
func addSeeds(f *testing.F, name string) {
	for _, m := range seeds()[name] {
		b, err := m.MarshalMsg(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// TestWriteFuzzSeeds rewrites the valid seeds under testdata/fuzz when
// BUSLINK_WRITE_SEEDS is set (Go's corpus format, one file per input).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("BUSLINK_WRITE_SEEDS") == "" {
		t.Skip("set BUSLINK_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	for name, ms := range seeds() {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			b, err := m.MarshalMsg(nil)
			if err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("valid%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
