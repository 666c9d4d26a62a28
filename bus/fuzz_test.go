package bus

import (
	"slices"
	"strings"
	"testing"
)

// FuzzSubject: validation never panics; a valid subject is a valid
// pattern that matches itself, and '>' matches it; the trie agrees.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"a", "a.b.c", "a.*", "a.>", "", "a..b", "a b", ">", "a.>.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		perr := ValidatePattern(s)
		if err := ValidateSubject(s); err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("subject %q is no pattern: %v", s, perr)
		}
		if !Match(s, s) {
			t.Fatalf("%q does not match itself", s)
		}
		if !Match(">", s) {
			t.Fatalf("'>' does not match %q", s)
		}
		tokens := strings.Split(s, ".")
		if !Match(strings.Repeat("*.", len(tokens)-1)+"*", s) {
			t.Fatalf("'*' per token does not match %q", s)
		}
		var l sublist[int]
		l.insert(tokens, 1)
		if got := l.match(tokens, nil); !slices.Equal(got, []int{1}) {
			t.Fatalf("trie: %q does not match itself: %v", s, got)
		}
	})
}

// FuzzMatch: the trie returns exactly the patterns a brute-force
// matcher accepts. patterns holds several patterns, one per line.
func FuzzMatch(f *testing.F) {
	f.Add("a.b\na.*\na.>\n>\n*.b\nx", "a.b")
	f.Add("*.*\n*.>\na.b.c", "a.b.c")
	f.Add("a.>\na", "a")
	f.Fuzz(func(t *testing.T, patterns, subject string) {
		subj, err := parse(subject, false)
		if err != nil {
			return
		}
		var l sublist[int]
		var want []int
		lines := strings.Split(patterns, "\n")
		for i, p := range lines {
			tokens, err := parse(p, true)
			if err != nil {
				continue
			}
			l.insert(tokens, i)
			if refMatch(p, subject) {
				want = append(want, i)
			}
		}
		got := l.match(subj, nil)
		slices.Sort(got)
		// Equal patterns share a trie node: want one entry per line.
		if !slices.Equal(got, want) {
			t.Fatalf("subject %q, patterns %q: trie %v, reference %v", subject, lines, got, want)
		}
		for i, p := range lines {
			if ValidatePattern(p) == nil && !l.remove(strings.Split(p, "."), i) {
				t.Fatalf("remove %q failed", p)
			}
		}
		if l.count != 0 || !l.root.empty() {
			t.Fatalf("trie not empty after removing everything")
		}
	})
}

// refMatch is matching written the obvious way, recursively, on the
// strings, independent of the package's matchTokens.
func refMatch(pattern, subject string) bool {
	if pattern == ">" {
		return subject != ""
	}
	ph, prest, pmore := strings.Cut(pattern, ".")
	sh, srest, smore := strings.Cut(subject, ".")
	if ph != "*" && ph != sh {
		return false
	}
	if !pmore || !smore {
		return pmore == smore
	}
	return refMatch(prest, srest)
}
