package buslink

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

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

// batchMsg adapts the two halves of a batch's wire form (batchOut, sent
// by the host; batchIn, decoded by the subscriber) to wireMsg.
type batchMsg struct{ batchOut }

func (m *batchMsg) UnmarshalMsg(b []byte) ([]byte, error) {
	var in batchIn
	if _, err := in.UnmarshalMsg(b); err != nil {
		return nil, err
	}
	m.recs = recsOf(&in)
	return nil, nil
}

// recsOf turns a received batch back into the records sent.
func recsOf(in *batchIn) []delivery {
	recs := make([]delivery, 0, len(in.out))
	for i, d := range in.out {
		r := delivery{tag: d.tag, seq: d.Seq, subject: d.Subject, header: d.Header, data: d.Data}
		if i == len(in.out)-1 {
			r.size = in.large
		}
		if d.Redelivered {
			r.flags |= flagRedelivered
		}
		if d.Replayed {
			r.flags |= flagReplayed
		}
		if r.size > 0 {
			r.flags |= flagLarge
		}
		recs = append(recs, r)
	}
	return recs
}

// within reports whether p lies in b's memory.
func within(p, b []byte) bool {
	if len(p) == 0 || len(b) == 0 {
		return false
	}
	a, lo := uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&b[0]))
	return a >= lo && a < lo+uintptr(len(b))
}

func FuzzDecodeBatch(f *testing.F) {
	addSeeds(f, "FuzzDecodeBatch")
	f.Fuzz(func(t *testing.T, b []byte) {
		var in batchIn
		if _, err := in.UnmarshalMsg(b); err != nil {
			if len(in.out) != 0 {
				t.Fatalf("a refused batch left %d deliveries", len(in.out))
			}
			return
		}
		if len(in.out) == 0 || len(in.out) > MaxBatch {
			t.Fatalf("accepted a batch of %d", len(in.out))
		}
		for i, d := range in.out {
			if d.tag != uint64(i+1) || bus.ValidateSubject(d.Subject) != nil || checkHeader(d.Header) != nil {
				t.Fatalf("accepted an invalid delivery %d: %#v", i, d)
			}
			if last := i == len(in.out)-1; last && in.large > 0 && (len(d.Data) > 0 || in.large > maxLargeSize) {
				t.Fatalf("accepted a large delivery with %d bytes and size %d", len(d.Data), in.large)
			}
			if within(d.Data, b) {
				t.Fatal("the data is a view of the payload, which is released after Recv")
			}
		}
		if in.tag != uint64(len(in.out)) || in.subject != in.out[len(in.out)-1].Subject {
			t.Fatalf("carried tag %d and subject %q out of %d deliveries", in.tag, in.subject, len(in.out))
		}
		want := recsOf(&in)
		// Decoded after a batch of the same subject (which shares its
		// string), and after one of another, it is the same batch; after
		// another tag it is refused.
		for _, prev := range []string{in.out[0].Subject, "other.subject"} {
			again := batchIn{subject: prev}
			if _, err := again.UnmarshalMsg(b); err != nil || !reflect.DeepEqual(recsOf(&again), want) {
				t.Fatalf("decoded after %q: %v", prev, err)
			}
		}
		if _, err := (&batchIn{tag: 1}).UnmarshalMsg(b); err == nil {
			t.Fatal("accepted tags from 1 after tag 1")
		}
		roundTrip(t, &batchMsg{batchOut{recs: want}}, &batchMsg{})
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
		"FuzzDecodeBatch": {
			&batchMsg{batchOut{recs: []delivery{{tag: 1, seq: 42, subject: "a.b", data: []byte("x")}}}},
			&batchMsg{batchOut{recs: []delivery{
				{tag: 1, seq: 3, subject: "a", header: h, flags: flagRedelivered | flagReplayed},
				{tag: 2, seq: 4, subject: "a", data: []byte("yz")},
				{tag: 3, seq: 7, subject: "a.c", data: []byte{}, flags: flagReplayed},
			}}},
			&batchMsg{batchOut{recs: []delivery{
				{tag: 1, seq: 4, subject: "big.0", data: []byte("small")},
				{tag: 2, seq: 5, subject: "big.0", header: h, flags: flagLarge | flagRedelivered, size: 16 << 20},
			}}},
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
