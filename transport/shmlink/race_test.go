//go:build race && linux

package shmlink

const raceEnabled = true
