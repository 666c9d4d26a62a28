package genrt

import (
	"errors"
	"strings"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
)

// CallError is what a generated client returns for the error of a call to
// method (its full name, "pkg.Service.Method"): a typed application error
// decoded (codec.DecodeError), and an UNIMPLEMENTED status with the
// method's name in front. The serving side knows only the method's ID
// when it serves no such service or method, so without the name the
// caller would read a hex ID ("unknown service 0x6b05fdf5"). Only failed
// calls come here.
func CallError(err error, method string) error {
	err = codec.DecodeError(err)
	var st *plexus.Status
	if !errors.As(err, &st) || st.Code != plexus.Unimplemented || strings.Contains(st.Message, method) {
		return err
	}
	named := plexus.WithCause(plexus.Unimplemented, st, "calling "+method+": "+st.Message)
	named.Details = st.Details
	return named
}
