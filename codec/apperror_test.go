package codec_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/stretchr/testify/require"
)

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("key %q not found on shard %d", e.Key, e.Shard)
}
func (e *NotFoundError) ErrorName() string { return "codec_test.NotFound" }

func (e *QuotaError) Error() string { return fmt.Sprintf("quota exceeded: %d of %d", e.Used, e.Limit) }

func init() {
	codec.RegisterError("codec_test.NotFound", func() error { return new(NotFoundError) })
	codec.RegisterErrorType[QuotaError]("codec_test.Quota")
}

// crossLink does to a status what the session does: only Code, Message
// and Details travel.
func crossLink(t *testing.T, err error) error {
	t.Helper()
	var st *plexus.Status
	require.True(t, errors.As(err, &st), "%T is not a status", err)
	return &plexus.Status{Code: st.Code, Message: st.Message, Details: append([]byte(nil), st.Details...)}
}

func TestApplicationErrorCrossesAsItsType(t *testing.T) {
	sent := fmt.Errorf("lookup: %w", &NotFoundError{Key: "k1", Shard: 7})
	enc := codec.EncodeError(sent)
	require.Equal(t, plexus.ApplicationError, plexus.CodeOf(enc))
	require.Equal(t, sent.Error(), enc.(*plexus.Status).Message)

	got := codec.DecodeError(crossLink(t, enc))
	var nf *NotFoundError
	require.True(t, errors.As(got, &nf), "got %T: %v", got, got)
	require.Equal(t, NotFoundError{Key: "k1", Shard: 7}, *nf)

	// Registered by type rather than named.
	got = codec.DecodeError(crossLink(t, codec.EncodeError(&QuotaError{Used: 11, Limit: 10})))
	var q *QuotaError
	require.True(t, errors.As(got, &q))
	require.Equal(t, QuotaError{Used: 11, Limit: 10}, *q)
	require.False(t, errors.As(got, &nf))
}

func TestNonApplicationErrorsPassThrough(t *testing.T) {
	require.NoError(t, codec.EncodeError(nil))
	require.NoError(t, codec.DecodeError(nil))
	plain := errors.New("plain")
	require.Same(t, plain, codec.EncodeError(plain))
	st := plexus.Errorf(plexus.NotFound, "nope")
	require.Same(t, st, codec.EncodeError(st))
	require.Same(t, st, codec.DecodeError(st))
	require.ErrorIs(t, codec.DecodeError(plexus.ErrPeerDied), plexus.ErrPeerDied)
}

func TestUnknownOrBrokenApplicationErrors(t *testing.T) {
	// A name the receiver never registered comes back as the status.
	b := codec.AppendArrayHeader(nil, 2)
	b = codec.AppendString(b, "other.Unknown")
	b, err := (&QuotaError{Used: 1}).MarshalMsg(b)
	require.NoError(t, err)
	st := &plexus.Status{Code: plexus.ApplicationError, Message: "it failed", Details: b}
	got := codec.DecodeError(st)
	require.Same(t, st, got)
	name, ok := codec.ApplicationErrorName(st)
	require.True(t, ok)
	require.Equal(t, "other.Unknown", name)

	// Details that are not {name, payload}, or a payload that does not
	// decode as the registered type, come back as the status too.
	good := codec.EncodeError(&NotFoundError{Key: "x"}).(*plexus.Status).Details
	for _, details := range [][]byte{
		{0xc1}, {0x91, 0xa1, 'x'}, {0x92, 0x01, 0x80}, good[:len(good)-1], append(append([]byte{}, good...), 0),
		append(codec.AppendString([]byte{0x92}, "codec_test.NotFound"), 0xa1, 'x'), // payload is a str, not a map
		append(codec.AppendString([]byte{0x92}, "codec_test.NotFound"), 0xdf, 0xff, 0xff, 0xff, 0xff),
	} {
		st := &plexus.Status{Code: plexus.ApplicationError, Message: "m", Details: details}
		require.Same(t, st, codec.DecodeError(st), "details %x", details)
	}
}

func TestRegisterErrorRejectsMisuse(t *testing.T) {
	require.Panics(t, func() { codec.RegisterError("", func() error { return new(NotFoundError) }) })
	require.Panics(t, func() { codec.RegisterError("codec_test.NotFound", func() error { return new(NotFoundError) }) })
	require.Panics(t, func() { codec.RegisterError("codec_test.Plain", func() error { return errors.New("x") }) })
}
