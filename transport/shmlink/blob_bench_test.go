//go:build linux

package shmlink

import (
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// bulkBlobs is bulk for payloads above the slot size, measured in steady
// state: a stream of large frames reuses the blob buffers the first ones
// created, so those first frames (warm of them, each its own wait for the
// acknowledgement) run before the timer starts; their cost is reported
// apart as cold_ms, the time of the very first Send, which makes a buffer
// and pre-faults it. Besides MB/s (b.SetBytes) it reports GB/s, and per
// frame the buffers made (fresh/op: new recycled buffers plus one-shot
// memfds), which is 0 in steady state.
func bulkBlobs(b *testing.B, size, window, warm int, send func(tr *Transport, d *wire.Desc, src []byte) error) {
	tr := benchLink(b, "shm-bench-sink", shm.Config{}, map[string]string{"ACK": "1"})
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	var d wire.Desc
	var f transport.Frame
	inFlight := 0
	step := func() time.Duration {
		if inFlight == window {
			if err := tr.Recv(&f); err != nil {
				b.Fatal(err)
			}
			tr.Release(&f)
			inFlight--
		}
		t0 := time.Now()
		d.Reset()
		d.SetKind(kindData)
		if err := send(tr, &d, src); err != nil {
			b.Fatal(err)
		}
		inFlight++
		return time.Since(t0)
	}
	var cold time.Duration
	for i := range warm {
		if dt := step(); i == 0 {
			cold = dt
		}
	}
	st := &tr.blob.stats
	fresh0 := st.created.Load() + st.oneShot.Load()
	lat := newLatencies(0)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		dt := step()
		if lat.sample(i) {
			lat.d = append(lat.d, dt)
		}
	}
	for inFlight > 0 {
		if err := tr.Recv(&f); err != nil {
			b.Fatal(err)
		}
		tr.Release(&f)
		inFlight--
	}
	b.StopTimer()
	stopSink(b, tr, b.N+warm)
	lat.report(b)
	b.ReportMetric(float64(b.N)*float64(size)/b.Elapsed().Seconds()/1e9, "GB/s")
	b.ReportMetric(float64(st.created.Load()+st.oneShot.Load()-fresh0)/float64(b.N), "fresh/op")
	b.ReportMetric(float64(cold)/1e6, "cold_ms")
}

// sendFilled writes the payload into a buffer from Alloc without reading a
// source (the fastest producer there is: a fill), then sends it.
func sendFilled(tr *Transport, d *wire.Desc, src []byte) error {
	buf, err := tr.Alloc(len(src))
	if err != nil {
		return err
	}
	clear(buf)
	buf[0] = 1
	return tr.Send(d, buf)
}
