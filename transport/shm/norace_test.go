//go:build !race && linux

package shm

const raceEnabled = false
