package shmlink

// Stats returns a snapshot of the link (see the Stats type). It is
// read-only and safe to call from any goroutine, concurrently with
// traffic, before or after Close: it holds a reference to the segment
// while it reads it (as Send does), so the segment cannot be unmapped
// under it, and after Close it reads nothing and returns Stats{Closed:
// true}. It takes none of the locks every frame takes: the rings and
// pools are read with atomic loads; the blob paths' locks, which only
// frames above the largest slot take, it holds for a count. It loads one
// word per slot of each pool, tens of microseconds with the default
// geometry: meant for a look now and then (plexus inspect's once a
// second), not for every call.
func (t *Transport) Stats() Stats {
	if !t.state.acquire() {
		return Stats{Closed: true}
	}
	defer t.state.unref()
	var st Stats
	if f := t.state.fault.Load(); f != nil {
		st.Fault = f.Error()
	}
	st.TX, st.RX = t.ep.Rings()
	st.Own, st.Peer = t.own.Use(), t.peer.Use()
	slots := 0
	for i := range t.ownHeld {
		if t.ownHeld[i].Load() != 0 {
			slots++
		}
	}
	st.Blobs = t.blob.snapshot()
	st.Leases = slots + int(max(t.small.out.Load(), 0)) + st.Blobs.Leases
	st.Held = int(max(t.held.Load(), 0))
	return st
}

// snapshot counts the blob state for Transport.Stats, each part under its
// own lock, briefly.
func (bs *blobs) snapshot() BlobStats {
	var st BlobStats
	c := &bs.cache
	c.mu.Lock()
	for size, l := range c.free {
		st.Pooled += len(l)
		st.PooledBytes += int64(size) * int64(len(l))
	}
	for _, b := range c.known {
		if b.state == bufPeer {
			st.WithPeer++
		}
	}
	st.Bytes = c.total
	c.mu.Unlock()

	st.Leases = int(max(bs.nleases.Load(), 0))

	pb := &bs.peer
	pb.mu.Lock()
	st.PeerMapped, st.PeerBytes = len(pb.bufs), pb.total
	pb.mu.Unlock()

	bs.mapMu.Lock()
	st.OneShotBytes = bs.mapBytes
	bs.mapMu.Unlock()
	st.Received = int(max(bs.nout.Load(), 0))

	st.Created = bs.stats.created.Load()
	st.Reused = bs.stats.reused.Load()
	st.Evicted = bs.stats.evicted.Load()
	st.OneShot = bs.stats.oneShot.Load()
	st.Shared = bs.stats.shared.Load()
	st.Copied = bs.stats.copied.Load()
	return st
}
