//go:build !race

package buslink_test

const raceEnabled = false
