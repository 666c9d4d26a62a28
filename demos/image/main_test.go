//go:build linux

package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/demos/internal/demotest"
)

func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	// 640x480 RGBA is 1.2 MiB: above the largest slot, so it crosses in
	// a dedicated memfd, as big images do.
	s := demotest.Run(t, run, "-out", dir, "-size", "640x480", "-radius", "3", "-rounds", "2")
	for _, want := range []string{
		"source 640x480 RGBA: request 1.2 MiB, response 1.8 MiB (grayscale, blur r=3, half size)\n",
		"round 2 of 2 of each path",
		"lease path (zero copy):\n",
		"  host: draw the source in place ",
		"    plugin: blur ",
		"  bytes copied: 0 (the source was drawn into the lease",
		"copy path ([]byte request and response):\n",
		"  bytes copied: 4.7 MiB (request 1.2 MiB into the link; response 1.8 MiB into the link and 1.8 MiB out of it)\n",
		"both paths computed the same images (crc32 ",
		"wrote source.png, gray.png, blur.png, small.png to " + dir + "\n",
		"closed the plugin: ok\n",
	} {
		require.Contains(t, s, want)
	}

	// The files hold what the operations compute from the source.
	src := decode(t, dir, "source.png").(*image.RGBA)
	require.Equal(t, image.Rect(0, 0, 640, 480), src.Rect)
	want := make([]byte, 640*480*4)
	imgproc.Draw(want, 640, 480)
	require.Equal(t, want, src.Pix, "source.png is the drawn source")
	gray := make([]byte, 640*480)
	imgproc.Grayscale(gray, src.Pix)
	require.Equal(t, gray, decode(t, dir, "gray.png").(*image.Gray).Pix)
	blur := make([]byte, 640*480*4)
	imgproc.BoxBlur(blur, src.Pix, 640, 480, 3)
	require.Equal(t, blur, decode(t, dir, "blur.png").(*image.RGBA).Pix)
	small := make([]byte, 320*240*4)
	imgproc.Halve(small, blur, 640, 480)
	got := decode(t, dir, "small.png").(*image.RGBA)
	require.Equal(t, image.Rect(0, 0, 320, 240), got.Rect)
	require.Equal(t, small, got.Pix)
}

func decode(t *testing.T, dir, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, name)
	return img
}
