//go:build linux

package handshake

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake/handshaketest"
	"github.com/plexus-ipc/plexus/internal/sockconn"
)

func TestRoundTrip(t *testing.T) {
	h := sampleHello()
	b, err := h.Marshal()
	require.NoError(t, err)
	m, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, TypeHello, m.Type)
	require.Equal(t, h, m.Hello)

	r := sampleReply()
	b, err = r.Marshal()
	require.NoError(t, err)
	m, err = Decode(b)
	require.NoError(t, err)
	require.Equal(t, r, m.Reply)

	m, err = Decode((&Reject{Code: plexus.VersionMismatch, Message: "no"}).Marshal())
	require.NoError(t, err)
	require.Equal(t, &Reject{Code: plexus.VersionMismatch, Message: "no"}, m.Reject)

	m, err = Decode(MarshalAccept())
	require.NoError(t, err)
	require.Equal(t, TypeAccept, m.Type)
}

func TestDecodeRefuses(t *testing.T) {
	good, err := sampleReply().Marshal()
	require.NoError(t, err)
	for i := range good {
		_, err := Decode(good[:i])
		require.Error(t, err, "prefix of %d bytes", i)
	}
	_, err = Decode(append(append([]byte{}, good...), 0))
	require.ErrorContains(t, err, "trailing")

	bad := sampleReply()
	bad.Services[0].Methods[1].ID++
	_, err = bad.Marshal()
	require.ErrorContains(t, err, "test.Echo.Sum has ID")

	dup := sampleReply()
	dup.Services[1].Name = "test.Echo"
	_, err = dup.Marshal()
	require.ErrorContains(t, err, "listed twice")

	h := sampleHello()
	h.Versions = []uint32{2, 2}
	_, err = h.Marshal()
	require.ErrorContains(t, err, "strictly increasing")
	h = sampleHello()
	h.Limits.ChannelWindow = 1
	_, err = h.Marshal()
	require.ErrorContains(t, err, "channel window")

	b := (&Reject{Code: plexus.Internal, Message: "x"}).Marshal()
	b[5] = 1
	_, err = Decode(b)
	require.ErrorContains(t, err, "reserved")
	b[0] = 'Q'
	_, err = Decode(b)
	require.ErrorContains(t, err, "magic")
}

func TestNegotiate(t *testing.T) {
	p, err := NegotiateProtocol(1, 3, 2, 5)
	require.NoError(t, err)
	require.Equal(t, uint16(3), p)
	_, err = NegotiateProtocol(1, 2, 3, 4)
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch))
	require.ErrorContains(t, err, "host speaks 1..2, plugin speaks 3..4")

	v, err := NegotiateVersion([]uint32{1, 2, 5, 9}, []uint32{2, 3, 5, 7})
	require.NoError(t, err)
	require.Equal(t, uint32(5), v)
	_, err = NegotiateVersion([]uint32{1, 2}, []uint32{3, 4})
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch))
	require.ErrorContains(t, err, "host supports [1 2], plugin supports [3 4]")
}

func TestCheckServices(t *testing.T) {
	got := sampleReply().Services
	want := []Service{{Name: "test.Echo", Methods: []Method{{Name: "Echo", ID: plexus.MethodID("test.Echo", "Echo"), Signature: 0xfeed}}}}
	require.NoError(t, CheckServices(2, want, got))
	want[0].Methods[0].Signature = 0xbeef
	err := CheckServices(2, want, got)
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch))
	require.ErrorContains(t, err, "method test.Echo.Echo has signature hash 0x000000000000feed, host expects 0x000000000000beef")
	err = CheckServices(2, []Service{{Name: "other.Svc"}}, got)
	require.ErrorContains(t, err, "does not serve service other.Svc")
	err = CheckServices(2, []Service{{Name: "test.Echo", Methods: []Method{{Name: "Nope"}}}}, got)
	require.ErrorContains(t, err, "has no method Nope")
}

func TestEnv(t *testing.T) {
	e := Env{FirstFD: 3, LastFD: 8, MinProtocol: 1, MaxProtocol: 2, Versions: []uint32{1, 4}, HostPID: 4242}
	got, err := ParseEnv(e.String())
	require.NoError(t, err)
	require.Equal(t, e, got)
	for _, bad := range []string{"", "fds=3-8", "fds=3-8;proto=1-1;versions=1;host=2;x=1",
		"fds=1-6;proto=1-1;versions=1;host=9", "fds=3-8;proto=0-1;versions=1;host=9",
		"fds=3-8;proto=1-1;versions=2,1;host=9", "fds=3-8;fds=3-8;proto=1-1;versions=1;host=9",
		"fds=8-3;proto=1-1;versions=1;host=9", strings.Repeat("x", 5000)} {
		_, err := ParseEnv(bad)
		require.Error(t, err, bad)
	}

	// A socket link on an inherited descriptor.
	sock := Env{FirstFD: 3, LastFD: 3, MinProtocol: 2, MaxProtocol: 3, Versions: []uint32{1}, HostPID: 4242, Link: LinkSocket}
	require.Equal(t, "fds=3-3;proto=2-3;versions=1;host=4242;link=socket", sock.String())
	got, err = ParseEnv(sock.String())
	require.NoError(t, err)
	require.Equal(t, sock, got)

	// A socket link the plugin dials back on: no descriptors.
	const nonce = "0123456789abcdef0123456789abcdef"
	dial := Env{MinProtocol: 2, MaxProtocol: 3, Versions: []uint32{1}, HostPID: 4242, Link: LinkSocket,
		Dial: "unix:/tmp/x/s", Nonce: nonce}
	require.Equal(t, "dial=unix:/tmp/x/s;nonce="+nonce+";proto=2-3;versions=1;host=4242;link=socket", dial.String())
	got, err = ParseEnv(dial.String())
	require.NoError(t, err)
	require.Equal(t, dial, got)
	require.Zero(t, got.FirstFD)
	require.Zero(t, got.LastFD)
	// The order of the fields does not matter.
	got, err = ParseEnv("link=socket;host=4242;versions=1;proto=2-3;nonce=" + nonce + ";dial=unix:/tmp/x/s")
	require.NoError(t, err)
	require.Equal(t, dial, got)

	const rest = ";proto=2-3;versions=1;host=4242"
	for _, tc := range []struct{ env, why string }{
		{"dial=unix:/tmp/x/s" + rest + ";link=socket", `"dial" needs "nonce"`},
		{"fds=3-3;nonce=" + nonce + rest + ";link=socket", `"dial" needs "nonce"`},
		{"nonce=" + nonce + rest + ";link=socket", `field "fds" missing`},
		{"fds=3-3;dial=unix:/tmp/x/s;nonce=" + nonce + rest + ";link=socket", `both given`},
		{"dial=unix:/tmp/x/s;nonce=" + nonce + rest, `without link=socket`},
		{"fds=3-3" + rest + ";link=other", `unknown link "other"`},
		{"fds=3-3" + rest + ";link=", `unknown link ""`},
		{"fds=3-3" + rest + ";link=socket;link=socket", `given twice`},
		{"dial=unix:/tmp/x/s;nonce=" + nonce[:31] + rest + ";link=socket", `32 lower-case hex digits`},
		{"dial=unix:/tmp/x/s;nonce=" + nonce + "0" + rest + ";link=socket", `32 lower-case hex digits`},
		{"dial=unix:/tmp/x/s;nonce=" + strings.ToUpper(nonce) + rest + ";link=socket", `32 lower-case hex digits`},
		{"dial=unix:/tmp/x/s;nonce=" + nonce[:31] + "g" + rest + ";link=socket", `32 lower-case hex digits`},
		{"dial=ftp:x;nonce=" + nonce + rest + ";link=socket", `not unix:path or tcp:host:port`},
		{"dial=unix:;nonce=" + nonce + rest + ";link=socket", `not unix:path or tcp:host:port`},
		{"dial=/tmp/x/s;nonce=" + nonce + rest + ";link=socket", `not unix:path or tcp:host:port`},
	} {
		_, err := ParseEnv(tc.env)
		require.ErrorContains(t, err, tc.why, tc.env)
	}
}

func seqpacket(t *testing.T) (*sockconn.Conn, *sockconn.Conn) { return handshaketest.Seqpacket(t) }

// converse runs both sides over a real SEQPACKET pair.
func converse(t *testing.T, hello *Hello, check func(*Reply) error, answer func(*Hello) (*Reply, error)) (hostErr, pluginErr error) {
	h, p := seqpacket(t)
	dl := time.Now().Add(5 * time.Second)
	done := make(chan error, 1)
	go func() { _, _, err := Plugin(Datagrams(p), dl, answer); done <- err }()
	_, hostErr = Host(Datagrams(h), dl, hello, check)
	return hostErr, <-done
}

func TestConversation(t *testing.T) {
	answer := func(h *Hello) (*Reply, error) {
		if h.Cookie != "plexus-test=1" {
			return nil, plexus.Errorf(plexus.Unauthenticated, "wrong cookie")
		}
		v, err := NegotiateVersion(h.Versions, []uint32{2, 3})
		if err != nil {
			return nil, err
		}
		r := sampleReply()
		r.Version = v
		return r, nil
	}
	hErr, pErr := converse(t, sampleHello(), nil, answer)
	require.NoError(t, hErr)
	require.NoError(t, pErr)

	bad := sampleHello()
	bad.Cookie = "nope"
	hErr, pErr = converse(t, bad, nil, answer)
	require.True(t, errors.Is(hErr, &plexus.Status{Code: plexus.Unauthenticated}), "%v", hErr)
	require.ErrorContains(t, hErr, "plugin refused the link: wrong cookie")
	require.ErrorContains(t, pErr, "wrong cookie")

	mism := sampleHello()
	mism.Versions = []uint32{7}
	hErr, pErr = converse(t, mism, nil, answer)
	require.True(t, errors.Is(hErr, plexus.ErrVersionMismatch))
	require.ErrorContains(t, hErr, "host supports [7], plugin supports [2 3]")
	require.True(t, errors.Is(pErr, plexus.ErrVersionMismatch))

	hErr, pErr = converse(t, sampleHello(), func(*Reply) error {
		return plexus.Errorf(plexus.VersionMismatch, "method x differs")
	}, answer)
	require.ErrorContains(t, hErr, "method x differs")
	require.True(t, errors.Is(pErr, plexus.ErrVersionMismatch))
	require.ErrorContains(t, pErr, "host refused the link: method x differs")
}

func TestPeerGone(t *testing.T) {
	h, p := seqpacket(t)
	p.Close()
	_, err := Host(Datagrams(h), time.Now().Add(time.Second), sampleHello(), nil)
	require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)

	h, _ = seqpacket(t)
	_, err = Host(Datagrams(h), time.Now().Add(50*time.Millisecond), sampleHello(), nil)
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
}
