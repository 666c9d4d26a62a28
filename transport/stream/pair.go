package stream

// Pair returns the two ends of a link over an AF_UNIX socketpair (on
// Windows, which has none, a loopback TCP connection), for tests and for
// wiring both ends inside one process.
func Pair(cfg Config) (a, b *Transport, err error) {
	ca, cb, err := socketPair()
	if err != nil {
		return nil, nil, err
	}
	return New(ca, cfg), New(cb, cfg), nil
}
