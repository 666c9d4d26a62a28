package host_test

import "os"

// hostMain is the intermediate host of the host-death test (filled in
// with that test).
func hostMain() int { _ = os.Getpid(); return 0 }
