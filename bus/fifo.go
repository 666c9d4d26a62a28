package bus

// item is an envelope in a buffer, with how it got there.
type item struct {
	env         *envelope
	redelivered bool
	replayed    bool
}

// fifo is a growable ring of items. Callers bound it: it grows only up to
// the most its subscription may hold, and never shrinks.
type fifo struct {
	buf  []item
	head int
	n    int
}

func (f *fifo) push(it item) {
	if f.n == len(f.buf) {
		f.grow()
	}
	f.buf[(f.head+f.n)%len(f.buf)] = it
	f.n++
}

func (f *fifo) pop() item {
	it := f.buf[f.head]
	f.buf[f.head] = item{}
	f.head = (f.head + 1) % len(f.buf)
	f.n--
	return it
}

func (f *fifo) grow() {
	nb := make([]item, max(8, 2*len(f.buf)))
	for i := 0; i < f.n; i++ {
		nb[i] = f.buf[(f.head+i)%len(f.buf)]
	}
	f.buf, f.head = nb, 0
}

// drain removes and returns every item, oldest first, and frees the ring.
func (f *fifo) drain() []item {
	out := make([]item, 0, f.n)
	for f.n > 0 {
		out = append(out, f.pop())
	}
	f.buf, f.head = nil, 0
	return out
}

// signal is a broadcast without a goroutine: waiters take the channel,
// notify closes it. Guarded by its owner's mutex.
type signal struct{ ch chan struct{} }

func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
