package plexus

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestViewsScope(t *testing.T) {
	require.Nil(t, ViewsFrom(context.Background()), "no scope")
	ctx, release := WithViews(context.Background())
	v := ViewsFrom(ctx)
	require.NotNil(t, v)
	var freed []int
	for i := range 3 {
		v.Keep(func() { freed = append(freed, i) })
	}
	require.Empty(t, freed, "kept payloads stay until release")
	release()
	require.Equal(t, []int{0, 1, 2}, freed, "release gives back every kept payload once")
	release()
	require.Len(t, freed, 3, "a second release does nothing")
	require.Nil(t, ViewsFrom(ctx), "calls after release copy")
	v.Keep(func() { freed = append(freed, 9) })
	require.Equal(t, []int{0, 1, 2, 9}, freed, "a payload kept after release is released at once")
}
