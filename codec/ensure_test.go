package codec_test

import (
	"errors"
	"testing"

	"github.com/plexus-ipc/plexus/codec"
	"github.com/stretchr/testify/require"
)

// TestEnsureErrorType: generated files call EnsureErrorType for every
// error their services declare, so the same registration may come several
// times, also after a hand-written RegisterError; conflicts still panic.
func TestEnsureErrorType(t *testing.T) {
	// Same name and type as the init in apperror_test.go: no-ops.
	codec.EnsureErrorType[NotFoundError]("codec_test.NotFound")
	codec.EnsureErrorType[NotFoundError]("codec_test.NotFound")
	codec.EnsureErrorType[QuotaError]("codec_test.Quota")

	// Still encodes and decodes as before.
	sent := &QuotaError{Used: 3, Limit: 2}
	got := codec.DecodeError(crossLink(t, codec.EncodeError(sent)))
	var q *QuotaError
	require.True(t, errors.As(got, &q))
	require.Equal(t, *sent, *q)

	// A type under a second name, or a name taken by another type: panic.
	require.Panics(t, func() { codec.EnsureErrorType[QuotaError]("codec_test.Quota2") })
	require.Panics(t, func() { codec.EnsureErrorType[QuotaError]("codec_test.NotFound") })
	require.Panics(t, func() { codec.EnsureErrorType[NotFoundError]("") })
}
