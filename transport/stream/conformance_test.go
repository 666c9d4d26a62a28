package stream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
	"github.com/plexus-ipc/plexus/transport/stream/streamtls"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
)

func TestConformance(t *testing.T) {
	t.Run("socketpair", func(t *testing.T) {
		transporttest.Run(t, socketPair, transporttest.Options{ZeroAllocs: true})
	})
	t.Run("unix", func(t *testing.T) {
		transporttest.Run(t, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
			ln, err := streamnet.Listen("unix", filepath.Join(t.TempDir(), "s"), stream.Config{MaxPayload: max})
			require.NoError(t, err)
			return viaListener(t, ln, func(ctx context.Context) (*stream.Transport, error) {
				return streamnet.Dial(ctx, "unix", ln.Addr().String(), stream.Config{MaxPayload: max})
			})
		}, transporttest.Options{ZeroAllocs: true})
	})
	t.Run("tcp", func(t *testing.T) {
		transporttest.Run(t, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
			ln, err := streamnet.Listen("tcp", "127.0.0.1:0", stream.Config{MaxPayload: max})
			require.NoError(t, err)
			return viaListener(t, ln, func(ctx context.Context) (*stream.Transport, error) {
				return streamnet.Dial(ctx, "tcp", ln.Addr().String(), stream.Config{MaxPayload: max})
			})
		}, transporttest.Options{ZeroAllocs: true})
	})
	t.Run("tls", func(t *testing.T) {
		server, client := tlsConfigs(t)
		transporttest.Run(t, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
			ln, err := streamtls.Listen("127.0.0.1:0", server, stream.Config{MaxPayload: max})
			require.NoError(t, err)
			return viaListener(t, ln, func(ctx context.Context) (*stream.Transport, error) {
				return streamtls.Dial(ctx, ln.Addr().String(), client, stream.Config{MaxPayload: max})
			})
		}, transporttest.Options{}) // crypto/tls allocates once per record read
	})
}

func socketPair(t *testing.T, max int) (transport.Transport, transport.Transport) {
	a, b, err := stream.Pair(stream.Config{MaxPayload: max})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// viaListener accepts one link while dial connects the other end, then
// closes the listener: the suite needs only the pair.
func viaListener(t *testing.T, ln *streamnet.Listener, dial func(context.Context) (*stream.Transport, error)) (transport.Transport, transport.Transport) {
	t.Helper()
	defer ln.Close()
	type accepted struct {
		tr  *stream.Transport
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		tr, err := ln.Accept()
		ch <- accepted{tr, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := dial(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	var acc accepted
	select {
	case acc = <-ch:
	case <-ctx.Done():
		t.Fatal("Accept did not return")
	}
	require.NoError(t, acc.err)
	t.Cleanup(func() { _ = acc.tr.Close() })
	return a, acc.tr
}

var (
	certOnce sync.Once
	testCert tls.Certificate
	certPool *x509.CertPool
	certErr  error
)

// tlsConfigs returns a server config with a self-signed ECDSA certificate
// for 127.0.0.1 and a client config that trusts exactly that certificate.
func tlsConfigs(t *testing.T) (server, client *tls.Config) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "plexus test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			certErr = err
			return
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		certPool = x509.NewCertPool()
		certPool.AddCert(leaf)
	})
	require.NoError(t, certErr)
	server = &tls.Config{Certificates: []tls.Certificate{testCert}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: certPool, MinVersion: tls.VersionTLS13}
	return server, client
}
