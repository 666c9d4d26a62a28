//go:build linux

package handshake

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// TestReplyHostServicesByProtocol: the host services travel from protocol
// 3 on, after the services; a protocol 2 REPLY is laid out as before, so
// that a new host reads an older plugin's REPLY as it always did.
func TestReplyHostServicesByProtocol(t *testing.T) {
	v3 := sampleReplyV3()
	b, err := v3.Marshal()
	require.NoError(t, err)
	m, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, v3, m.Reply)

	// Without the field: a protocol 2 REPLY, byte for byte the old layout.
	v2 := sampleReply()
	v2.Protocol = 2
	old, err := v2.Marshal()
	require.NoError(t, err)
	m, err = Decode(old)
	require.NoError(t, err)
	require.Equal(t, v2, m.Reply)
	require.Nil(t, m.Reply.HostServices)

	// A protocol 3 REPLY that needs nothing carries an empty list: its
	// count, two bytes, after the old layout.
	none := sampleReply()
	none.Protocol = HostServicesProtocol
	b, err = none.Marshal()
	require.NoError(t, err)
	require.Len(t, b, len(old)+2)
	require.Equal(t, []byte{0, 0}, b[len(old):])
	m, err = Decode(b)
	require.NoError(t, err)
	require.Empty(t, m.Reply.HostServices)

	// Protocol 2 cannot carry them: refused on the way out, and a
	// protocol 2 REPLY with the field appended has trailing bytes.
	v2.HostServices = v3.HostServices
	_, err = v2.Marshal()
	require.ErrorContains(t, err, "host services travel from link protocol 3 on, the reply's is 2")
	b, err = v3.Marshal()
	require.NoError(t, err)
	b[6], b[7] = 2, 0 // protocol field, little-endian
	_, err = Decode(b)
	require.ErrorContains(t, err, "trailing bytes")

	// The field is checked like the services.
	bad := sampleReplyV3()
	bad.HostServices[0].Methods[0].ID++
	_, err = bad.Marshal()
	require.ErrorContains(t, err, "test.Host.Greet has ID")
	dup := sampleReplyV3()
	dup.HostServices = append(dup.HostServices, dup.HostServices[0])
	_, err = dup.Marshal()
	require.ErrorContains(t, err, `host service "test.Host" listed twice`)

	good, err := sampleReplyV3().Marshal()
	require.NoError(t, err)
	for i := range good {
		_, err := Decode(good[:i])
		require.Error(t, err, "prefix of %d bytes", i)
	}
}

// TestHostServicesSeed: the fuzz seed with the field is the encoding of
// sampleReplyV3, so that the corpus covers it as the code writes it.
func TestHostServicesSeed(t *testing.T) {
	want, err := sampleReplyV3().Marshal()
	require.NoError(t, err)
	seed, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecode", "reply-host-services"))
	require.NoError(t, err)
	head, lit, ok := strings.Cut(strings.TrimSpace(string(seed)), "\n")
	require.True(t, ok)
	require.Equal(t, "go test fuzz v1", head)
	lit, ok = strings.CutPrefix(lit, "[]byte(")
	require.True(t, ok)
	lit, ok = strings.CutSuffix(lit, ")")
	require.True(t, ok)
	got, err := strconv.Unquote(lit)
	require.NoError(t, err)
	require.Equal(t, want, []byte(got))
}

func TestCheckHostServices(t *testing.T) {
	id := func(m string) uint64 { return plexus.MethodID("test.Host", m) }
	need := []Service{{Name: "test.Host", Methods: []Method{{Name: "Greet", ID: id("Greet"), Signature: 0xabcd}}}}
	served := []Service{{Name: "other.Svc"}, {Name: "test.Host", Methods: []Method{
		{Name: "Greet", ID: id("Greet"), Signature: 0xabcd},
		{Name: "Extra", ID: id("Extra"), Signature: 1},
	}}}
	require.NoError(t, CheckHostServices(1, need, served), "what the plugin does not call is allowed")
	require.NoError(t, CheckHostServices(1, nil, nil), "a plugin that calls nothing links with a host that serves nothing")

	served[1].Methods[0].Signature = 0x1234
	err := CheckHostServices(1, need, served)
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "plugin version 1: host method test.Host.Greet has signature hash 0x0000000000001234, plugin expects 0x000000000000abcd")

	// 0 on either side: not described, so only present.
	served[1].Methods[0].Signature = 0
	require.NoError(t, CheckHostServices(1, need, served))
	served[1].Methods[0].Signature = 0x1234
	need[0].Methods[0].Signature = 0
	require.NoError(t, CheckHostServices(1, need, served))

	err = CheckHostServices(3, []Service{{Name: "test.Host", Methods: []Method{{Name: "Nope", ID: id("Nope")}}}}, served)
	require.ErrorContains(t, err, "plugin version 3: host service test.Host has no method Nope, which the plugin calls")

	err = CheckHostServices(2, []Service{{Name: "render.Values"}}, served)
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "plugin version 2 calls host service render.Values, which the host does not serve (it serves other.Svc, test.Host)")
	err = CheckHostServices(2, []Service{{Name: "render.Values"}}, nil)
	require.ErrorContains(t, err, "which the host does not serve (it serves none)")

	many := make([]Service, 10)
	for i := range many {
		many[i].Name = "s.S" + string(rune('a'+i))
	}
	err = CheckHostServices(2, []Service{{Name: "render.Values"}}, many)
	require.ErrorContains(t, err, "(it serves s.Sa, s.Sb, s.Sc, s.Sd, s.Se, s.Sf, s.Sg, s.Sh and 2 more)")

	// The plugin services' check keeps its exact rule: 0 is a hash
	// like any other there.
	err = CheckServices(2, []Service{{Name: "test.Host", Methods: []Method{{Name: "Greet", ID: id("Greet"), Signature: 0}}}}, served)
	require.ErrorContains(t, err, "has signature hash 0x0000000000001234, host expects 0x0000000000000000")
}

// TestConversationHostServices: the host's check of the plugin's REPLY
// refuses a plugin that calls host services the host serves otherwise;
// both sides end with the words of the check.
func TestConversationHostServices(t *testing.T) {
	served := []Service{{Name: "test.Host", Methods: []Method{
		{Name: "Greet", ID: plexus.MethodID("test.Host", "Greet"), Signature: 0x9999},
		{Name: "Raw", ID: plexus.MethodID("test.Host", "Raw")},
	}}}
	check := func(r *Reply) error { return CheckHostServices(r.Version, r.HostServices, served) }
	answer := func(h *Hello) (*Reply, error) {
		p, err := NegotiateProtocol(h.MinProtocol, h.MaxProtocol, MinProtocol, MaxProtocol)
		if err != nil {
			return nil, err
		}
		r := sampleReplyV3()
		r.Protocol = p
		return r, nil
	}
	hello := sampleHello()
	hello.MinProtocol, hello.MaxProtocol = MinProtocol, MaxProtocol
	hErr, pErr := converse(t, hello, check, answer)
	require.True(t, errors.Is(hErr, plexus.ErrVersionMismatch), "%v", hErr)
	require.ErrorContains(t, hErr, "host method test.Host.Greet has signature hash 0x0000000000009999, plugin expects 0x000000000000abcd")
	require.ErrorContains(t, pErr, "host refused the link: plugin version 2: host method test.Host.Greet")

	served[0].Methods[0].Signature = 0xabcd
	hErr, pErr = converse(t, hello, check, answer)
	require.NoError(t, hErr)
	require.NoError(t, pErr)
}
