package bus

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// TestValidate: what publishers and subscribers may use, and the reason
// given for what they may not.
func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxSubjectLen+1)
	many := strings.Repeat("a.", MaxTokens) + "a"
	for _, c := range []struct {
		s            string
		subject, pat string // "" valid, else a fragment of the error
	}{
		{s: "a"},
		{s: "orders.eu.created"},
		{s: "ünïcode.ok"},
		{s: "a.*", subject: "wildcard", pat: ""},
		{s: "a.>", subject: "wildcard", pat: ""},
		{s: ">", subject: "wildcard", pat: ""},
		{s: "*.*.>", subject: "wildcard", pat: ""},
		{s: "a.>.b", subject: "wildcard", pat: "last token"},
		{s: "", subject: "empty subject", pat: "empty pattern"},
		{s: "a..b", subject: "empty token", pat: "empty token"},
		{s: ".a", subject: "empty token", pat: "empty token"},
		{s: "a.", subject: "empty token", pat: "empty token"},
		{s: "a b", subject: "space", pat: "space"},
		{s: "a\tb", subject: "control", pat: "control"},
		{s: "a\x7f", subject: "control", pat: "control"},
		{s: "a*", subject: "whole tokens", pat: "whole tokens"},
		{s: "a.b>", subject: "whole tokens", pat: "whole tokens"},
		{s: long, subject: "longer than 255", pat: "longer than 255"},
		{s: many, subject: "more than 32", pat: "more than 32"},
		{s: strings.Repeat("a.", MaxTokens-1) + "a"},
	} {
		check := func(err error, want string) {
			if want == "" {
				require.NoError(t, err, "%q", c.s)
				return
			}
			require.ErrorIs(t, err, plexus.ErrInvalidArgument, "%q", c.s)
			require.Contains(t, err.Error(), want, "%q", c.s)
		}
		check(ValidateSubject(c.s), c.subject)
		check(ValidatePattern(c.s), c.pat)
	}
}

// TestMatch: the wildcards' meaning, token by token.
func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.b", "a.b.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"*.b.>", "a.b.c", true},
		{"*.b.>", "a.b", false},
		{"a.*.c", "a.x.c", true},
		{"a.*.c", "a.x.d", false},
		{"a.b", "a.*", false}, // a wildcard subject is no subject
		{"a.>.b", "a.x.b", false},
	} {
		require.Equal(t, c.want, Match(c.pattern, c.subject), "%q ~ %q", c.pattern, c.subject)
	}
}

// TestSublist: insert, match, remove, and the trie pruned back to empty.
func TestSublist(t *testing.T) {
	var l sublist[int]
	patterns := []string{"a.b", "a.*", "a.>", ">", "*.b", "a.b.c", "a.b"}
	for i, p := range patterns {
		l.insert(mustParse(t, p, true), i)
	}
	l.insert(mustParse(t, "a.b", true), 0) // again: no duplicate
	require.Equal(t, len(patterns), l.count)
	require.ElementsMatch(t, []int{0, 1, 2, 3, 4, 6}, l.match(mustParse(t, "a.b", false), nil))
	require.ElementsMatch(t, []int{2, 3, 5}, l.match(mustParse(t, "a.b.c", false), nil))
	require.ElementsMatch(t, []int{3}, l.match(mustParse(t, "a", false), nil))
	require.False(t, l.remove(mustParse(t, "a.b", true), 1), "not under that pattern")
	for i, p := range patterns {
		require.True(t, l.remove(mustParse(t, p, true), i), p)
	}
	require.Zero(t, l.count)
	require.True(t, l.root.empty(), "pruned")
}

func mustParse(t testing.TB, s string, pattern bool) []string {
	t.Helper()
	tokens, err := parse(s, pattern)
	require.NoError(t, err)
	return tokens
}

// TestTokensOfKeepsLast: the last subject published is split once; another
// subject is split anew (and kept), and an invalid one is refused and not
// kept.
func TestTokensOfKeepsLast(t *testing.T) {
	b, err := New(Config{})
	require.NoError(t, err)
	defer b.Close()
	a1, err := b.tokensOf("doc.1.saved")
	require.NoError(t, err)
	require.Equal(t, []string{"doc", "1", "saved"}, a1)
	a2, err := b.tokensOf("doc.1.saved")
	require.NoError(t, err)
	require.Equal(t, uintptr(unsafe.Pointer(unsafe.SliceData(a1))), uintptr(unsafe.Pointer(unsafe.SliceData(a2))), "split once")
	c, err := b.tokensOf("doc.2")
	require.NoError(t, err)
	require.Equal(t, []string{"doc", "2"}, c)
	_, err = b.tokensOf("doc..x")
	require.Error(t, err)
	c2, err := b.tokensOf("doc.2")
	require.NoError(t, err)
	require.Equal(t, uintptr(unsafe.Pointer(unsafe.SliceData(c))), uintptr(unsafe.Pointer(unsafe.SliceData(c2))), "an invalid subject is not kept")
}
