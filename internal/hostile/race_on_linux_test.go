//go:build race

package hostile

// raceEnabled: the race detector's own memory (per goroutine, and shadow
// memory it never gives back) is in every process's RssAnon.
const raceEnabled = true
