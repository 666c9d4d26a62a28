package host_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"fmt"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/plugin/pluginnet"
	"github.com/plexus-ipc/plexus/transport/stream/streamtls"
)

// listenConfig is the test plugin serving hosts that attach, at
// HOSTTEST_LISTEN, with TLS from HOSTTEST_CERT and HOSTTEST_KEY if set; it
// prints the address it listens on as "LISTENING <addr>", and exits with
// plugin.ExitFailed if it cannot listen.
func listenConfig() plugin.ServeConfig {
	cfg := serveConfig()
	var server func(net.Conn) net.Conn
	if cert := os.Getenv("HOSTTEST_CERT"); cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, os.Getenv("HOSTTEST_KEY"))
		if err != nil {
			panic(err)
		}
		server = streamtls.Server(&tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS13})
	}
	ln, err := pluginnet.Listen(os.Getenv("HOSTTEST_LISTEN"), server)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(plugin.ExitFailed)
	}
	os.Stdout.WriteString("LISTENING " + ln.NetAddr().String() + "\n")
	cfg.Listener = ln
	return cfg
}

// testCA writes a self-signed certificate for 127.0.0.1 and its key into
// dir, and returns their paths and a pool that trusts the certificate.
func testCA(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "plexus test plugin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// servePlugin starts the test plugin, not as a host would but as a
// service manager would: a process of its own, listening at listen (with
// TLS if cert is set). It returns the process and the address it reports.
func servePlugin(t *testing.T, listen, cert, key string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(exe(t))
	cmd.Env = append(os.Environ(), modeEnv+"=listen", "HOSTTEST_LISTEN="+listen,
		"HOSTTEST_CERT="+cert, "HOSTTEST_KEY="+key, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(20 * time.Second):
		t.Fatal("the plugin did not report its address")
		return nil, ""
	}
}

// attachConfig is a client that attaches to the test plugin at a.
func attachConfig(t *testing.T, buf *logBuf, a *host.Attach) host.Config {
	cfg := config(t, buf)
	cfg.Path, cfg.Env, cfg.Link, cfg.Name = "", nil, host.LinkDefault, ""
	cfg.Attach = a
	return cfg
}

// TestAttachTLS: a host attaches over TCP with TLS to a plugin that a
// service manager (here, the test) runs; calls, the death of the plugin
// (SIGKILL: calls in flight fail with PeerDied) and its restart at the
// same address under the host (which links again, as its restart policy
// says), and Close, which ends the link and not the plugin, which then
// serves another host.
func TestAttachTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := testCA(t, dir)
	p1, addr := servePlugin(t, "tcp:127.0.0.1:0", cert, key)

	var buf logBuf
	cfg := attachConfig(t, &buf, &host.Attach{Network: "tcp", Address: addr, TLS: &tls.Config{RootCAs: pool}})
	cfg.Restart = host.RestartPolicy{MaxRestarts: 100, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	c := start(t, cfg)
	got, err := echo(context.Background(), c, "over TLS")
	require.NoError(t, err)
	require.Equal(t, "over TLS", got)
	require.Equal(t, uint64(p1.Process.Pid), callU64(t, c, pidID), "the attached plugin is the process the test started")
	require.Zero(t, c.Pid(), "the host owns no process")

	// A call in flight when the plugin is killed fails with PeerDied.
	blockErr := make(chan error, 1)
	go func() { blockErr <- c.Invoke(context.Background(), blockID, plexus.Raw("x"), nil) }()
	waitPending(t, c, 1)
	require.NoError(t, p1.Process.Signal(syscall.SIGKILL))
	select {
	case err := <-blockErr:
		require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not fail after the plugin was killed")
	}
	_ = p1.Wait()

	// Restarted at the same address by whoever runs it: the host links
	// again, and calls wait for that within their context.
	p2, addr2 := servePlugin(t, "tcp:"+addr, cert, key)
	require.Equal(t, addr, addr2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		var resp plexus.Raw
		return c.Invoke(ctx, pidID, plexus.Raw("x"), &resp) == nil && le64(resp) == uint64(p2.Process.Pid)
	}, 20*time.Second, 20*time.Millisecond, "the host linked again to the restarted plugin")
	require.GreaterOrEqual(t, c.Restarts(), 1)

	// Close ends the link, not the plugin: it serves the next host.
	require.NoError(t, c.Close())
	<-c.Exited()
	require.NoError(t, c.ExitErr())
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, p2.Process.Signal(syscall.Signal(0)), "the plugin outlives the host's Close")
	var buf2 logBuf
	c2 := start(t, attachConfig(t, &buf2, &host.Attach{Network: "tcp", Address: addr, TLS: &tls.Config{RootCAs: pool}}))
	got, err = echo(context.Background(), c2, "second host")
	require.NoError(t, err)
	require.Equal(t, "second host", got)
}

// waitPending waits until the plugin runs n Block handlers.
func waitPending(t *testing.T, c *host.Client, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return callU64(t, c, pendingID) == n }, 10*time.Second, 5*time.Millisecond)
}

// TestAttachUnix: over a Unix socket TLS is optional; a second attach
// while the first host is linked gets a link of its own.
func TestAttachUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "plugin.sock")
	p, _ := servePlugin(t, "unix:"+sock, "", "")
	var b1, b2 logBuf
	c1 := start(t, attachConfig(t, &b1, &host.Attach{Network: "unix", Address: sock}))
	c2 := start(t, attachConfig(t, &b2, &host.Attach{Network: "unix", Address: sock}))
	for _, c := range []*host.Client{c1, c2} {
		got, err := echo(context.Background(), c, "unix")
		require.NoError(t, err)
		require.Equal(t, "unix", got)
		require.Equal(t, uint64(p.Process.Pid), callU64(t, c, pidID))
	}
}

// TestAttachRefusals: a plugin whose certificate the host does not trust,
// a wrong cookie, an address where nothing listens, and a Config that
// asks for TCP without TLS each fail with a clear error.
func TestAttachRefusals(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := testCA(t, dir)
	_, _, otherPool := testCA(t, t.TempDir())
	_, addr := servePlugin(t, "tcp:127.0.0.1:0", cert, key)
	var buf logBuf

	err := startFails(t, attachConfig(t, &buf, &host.Attach{Network: "tcp", Address: addr, TLS: &tls.Config{RootCAs: otherPool}}))
	require.True(t, errors.Is(err, plexus.ErrUnavailable), "%v", err)
	require.ErrorContains(t, err, "certificate")

	cfg := attachConfig(t, &buf, &host.Attach{Network: "tcp", Address: addr, TLS: &tls.Config{RootCAs: otherPool}})
	cfg.Attach.TLS = nil
	_, err = host.New(cfg)
	require.ErrorContains(t, err, "needs TLS")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	free := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = startFails(t, attachConfig(t, &buf, &host.Attach{Network: "tcp", Address: free, TLS: &tls.Config{}}))
	require.True(t, errors.Is(err, plexus.ErrUnavailable), "%v", err)
	require.ErrorContains(t, err, "connection refused")

	sock := filepath.Join(t.TempDir(), "p.sock")
	servePlugin(t, "unix:"+sock, "", "")
	cfg = attachConfig(t, &buf, &host.Attach{Network: "unix", Address: sock})
	cfg.Cookie = "another application's"
	err = startFails(t, cfg)
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.Unauthenticated}), "%v", err)

	cfg = attachConfig(t, &buf, &host.Attach{Network: "unix", Address: sock})
	cfg.Path = "/bin/true"
	_, err = host.New(cfg)
	require.ErrorContains(t, err, "Attach links to a running plugin")
}
