//go:build !linux

package main

import "time"

// cpuTime is not measured here: -1 (see cputime_linux.go).
func cpuTime(int) time.Duration { return -1 }
