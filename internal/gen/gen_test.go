package gen

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files with the generator's output")

// TestGolden generates the code of the test packages and compares it with
// the committed files, which those packages' own tests compile and run
// over real sessions: kvtest (unary methods, the first golden package),
// shapetest (every shape and every supported type) and leasetest (leases
// in every position they are allowed).
func TestGolden(t *testing.T) {
	for _, dir := range []string{"kvtest", "shapetest", "leasetest"} {
		t.Run(dir, func(t *testing.T) {
			name, got, err := GenerateFile(dir)
			require.NoError(t, err)
			golden := filepath.Join(dir, name)
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "run go test ./internal/gen -update to accept the new output")
		})
	}
}

// TestRejects checks that services the generator cannot serve fail with
// an error that names the place, the method, the type and the reason.
func TestRejects(t *testing.T) {
	stream := "a stream is func(T) error for what the handler sends, func() (T, error) for what it receives, last among the parameters (both: the receiving one first)"
	for dir, want := range map[string]string{
		"noctx":             "svc.go:5:2: S.Do: the first parameter must be a context.Context",
		"noerr":             "svc.go:7:2: S.Do: the last result must be an error",
		"notiface":          "svc.go:4:6: S is marked //plexus:service but is not an interface",
		"none":              "no interface in testdata/none is marked //plexus:service",
		"variadic":          "svc.go:7:2: S.Do: variadic methods are not supported",
		"embedded":          "svc.go:6:2: S.Ping: methods of embedded interfaces are not supported; declare it in S",
		"chan":              "svc.go:7:2: S.Do: parameter 1: type chan int cannot cross the link",
		"array":             "S.Do: parameter 1: type [4]byte is not supported by the codec (use a slice)",
		"iface":             "S.Do: parameter 1: type any is not supported by the codec (an interface does not say which type to decode)",
		"complex":           "S.Do: parameter 1: stream of type complex128 is not supported by the codec (complex numbers have no MessagePack form)",
		"struct":            "S.Do: result 0: type svc.Plain is not supported by the codec: *svc.Plain does not have msgp's MarshalMsg, UnmarshalMsg and Msgsize (run msgp on the file that declares it)",
		"lease":             "svc.go:11:2: S.Do: parameter 1: a *session.Lease must be the only argument of Do after the context: the lease is the whole message, sent as it is without a tuple around it (leases beside other values are not supported: put them in the lease's bytes, or make two calls)",
		"leasenotify":       "S.Do: parameter 2: a *session.Lease must be the only argument of Do after the context",
		"leaseresults":      "S.Do: result 0: a *session.Lease must be the only result of Do before the error",
		"leasenested":       "S.Do: parameter 1: type *session.Lease: a lease crosses as a whole message: it cannot be inside a slice, map, pointer or struct",
		"leasevalue":        "S.Do: parameter 1: type session.Lease: a lease is passed as *session.Lease",
		"leasestreamarg":    "S.Do: parameter 1: a *session.Lease cannot be an argument of a streaming method (its arguments travel as a tuple in the call's first frame): stream it as a message instead",
		"leasestreamresult": "S.Do: result 0: a *session.Lease can be the result of a unary method only",
		"streamorder":       "S.Do: parameter 2 (int) follows a stream: " + stream,
		"notstream":         "S.Do: parameter 1: func(int) int is not a stream: " + stream,
		"bidiorder":         "S.Do: parameter 2: func() (int, error): " + stream,
		"streamresults":     "S.Do: a method whose handler streams returns only an error, not (int, error): send the rest as messages",
		"notifyresults":     "svc.go:8:2: S.Do: //plexus:notify: a notification returns only an error (whether it was sent), not (int, error)",
		"notifystream":      "S.Do: //plexus:notify: a notification cannot stream",
		"notifytype":        "svc.go:6:1: S: //plexus:notify: marks a method of a service, not a type",
		"idemstream":        "S.Do: //plexus:idempotent marks a unary method: a stream or a notification is not retried",
		"typo":              "svc.go:7:2: S.Do: //plexus:notfy: unknown directive (known: service, notify, idempotent, errors, topic)",
		"topicnotmsg":       "svc.go:6:6: //plexus:topic marks Plain, which is not a message type",
		"topicbadpattern":   `svc.go:12:1: T: //plexus:topic: plexus: INVALID_ARGUMENT: bus: pattern "a..b", token 2: empty token`,
		"topiconmethod":     "svc.go:7:2: S.Do: //plexus:topic: marks a message type, not a method",
		"badoption":         `svc.go:5:1: S: //plexus:service: unknown option "nmae=x" (the only option is name=pkg.Name)`,
		"errorunknown":      "svc.go:6:1: S: //plexus:errors: Nope is not a type",
		"errornotmsgp":      "svc.go:11:2: S.Do: //plexus:errors: *Plain has no method MarshalMsg: an application error implements error and msgp.Marshaler and msgp.Unmarshaler (run msgp on its file)",
		"errornoimport":     "S: //plexus:errors: other.Err: package other is not imported by svc.go",
		"opencollide":       "S.Watch: the client's OpenWatch, which opens this stream, would collide with the method of that name",
		"svccollide":        `services "svc.S579599" and "svc.S762382" have the same 32-bit service hash 0x16675382; rename one`,
		"methodcollide":     "methods svc.S.M1020800 and svc.S.M983717 have the same method ID 0x69c6759ed0de7e44; rename one",
		"samename":          `two services are served as "x.Y"`,
		"newcollide":        "svc.go:12:6: func NewSService collides with the generated NewSService of service S; rename it (or the service)",
		"namecollide":       "services A and NewA would both declare NewAService; rename one",
	} {
		t.Run(dir, func(t *testing.T) {
			_, err := Generate(filepath.Join("testdata", dir))
			require.Error(t, err)
			require.Contains(t, err.Error(), want)
		})
	}
}

// TestWireName checks the name= option: the service constant, and so the
// method IDs, follow it.
func TestWireName(t *testing.T) {
	src, err := Generate(filepath.Join("testdata", "named"))
	require.NoError(t, err)
	require.Contains(t, string(src), `const SService = "acme.Storage"`)
	require.Contains(t, string(src), "func (c *SClient) Do(ctx context.Context, a0 uint) (r0 float32, err error)")
}
