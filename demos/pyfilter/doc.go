// Command pyfilter is a Go host with a Python plugin: the plugin
// (plugin.py) implements the Filter service of package filter through
// the base class that `plexus gen -python` writes (filter/filter_plexus.py),
// and reads the images in place from the link's shared memory (numpy
// wraps the memoryview without a copy). The host calls it with every call
// shape: unary on a whole image, a server stream of progress, a client
// stream of tiles, a bidirectional stream of tiles, and a notification;
// it checks each result against the same filter computed in Go and prints
// the timings.
//
//	python/install-deps.sh   # python3, python3-msgpack, python3-numpy, libatomic1
//	go run ./demos/pyfilter [-size 1280x960] [-op blur] [-tile 64]
package main
