package gen

import (
	"hash/fnv"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func descs(t *testing.T, dir string) map[string]*method {
	t.Helper()
	_, svcs, err := load(filepath.Join("testdata", dir))
	require.NoError(t, err)
	out := map[string]*method{}
	for _, m := range svcs[0].methods {
		out[m.name] = m
	}
	return out
}

// TestSignature pins the definition of the signature hash: its text and
// hash for known methods (a change here breaks every host and plugin
// built before it, so it must be deliberate), and what changes it.
func TestSignature(t *testing.T) {
	base := descs(t, "sigbase")
	const path = "github.com/plexus-ipc/plexus/internal/gen/testdata/sigbase"
	require.Equal(t, "plexus.sig.v1 Unary args("+path+".ID=int32,[]string) results(map[string]*"+path+".ID=int32)", signature(base["Get"]))
	require.Equal(t, "plexus.sig.v1 ServerStream args("+path+".ID=int32) results() down("+path+".ID=int32)", signature(base["Watch"]))
	h := fnv.New64a()
	h.Write([]byte(signature(base["Get"])))
	require.Equal(t, h.Sum64(), signatureHash(base["Get"]))
	require.Equal(t, uint64(0x9517a349e7245ede), signatureHash(base["Get"]))

	// A lease is written "lease": distinct from []byte, whose encoding
	// differs (a lease is the message itself, []byte an element of a tuple).
	require.Equal(t, "plexus.sig.v1 Unary args(lease) results(lease)", signature(base["Flip"]))
	require.Equal(t, "plexus.sig.v1 Unary args([]byte) results([]byte)", signature(base["Bytes"]))
	require.Equal(t, "plexus.sig.v1 ServerStream args() results() down(lease)", signature(base["Pour"]))

	// Parameter names do not count; types do, named types' underlying types
	// included. (The package path counts as well, so the sigtype package's
	// hashes differ for two reasons; the text shows both.)
	names := descs(t, "signames")
	typ := descs(t, "sigtype")
	for _, m := range []string{"Get", "Watch"} {
		require.Equal(t, signature(base[m])[len("plexus.sig.v1"):], strings.ReplaceAll(signature(names[m]), "signames", "sigbase")[len("plexus.sig.v1"):])
		require.NotEqual(t, strings.ReplaceAll(signature(base[m]), "sigbase", "x"), strings.ReplaceAll(signature(typ[m]), "sigtype", "x"))
	}
}
