package imgproc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func request(w, h, r int) []byte {
	b := make([]byte, RequestSize(w, h))
	PutRequestHeader(b, w, h, r)
	Draw(b[RequestHeader:], w, h)
	return b
}

func TestProcessRoundTrip(t *testing.T) {
	req, err := ParseRequest(request(9, 7, 2))
	require.NoError(t, err)
	out := make([]byte, ResponseSize(9, 7))
	require.NoError(t, Process(req, out, 3*time.Millisecond))
	resp, err := ParseResponse(out)
	require.NoError(t, err)
	require.Equal(t, 9, resp.Width)
	require.Equal(t, 7, resp.Height)
	require.Equal(t, 3*time.Millisecond, resp.Alloc)
	require.Len(t, resp.GrayPix, 63)
	require.Len(t, resp.BlurPix, 63*4)
	require.Len(t, resp.SmallPix, 4*3*4)

	// Each output is what the operation computes on its own.
	gray := make([]byte, 63)
	Grayscale(gray, req.Pix)
	require.Equal(t, gray, resp.GrayPix)
	blur := make([]byte, 63*4)
	BoxBlur(blur, req.Pix, 9, 7, 2)
	require.Equal(t, blur, resp.BlurPix)
	small := make([]byte, 4*3*4)
	Halve(small, blur, 9, 7)
	require.Equal(t, small, resp.SmallPix)
}

func TestOps(t *testing.T) {
	// Pure white stays white through every operation; a pure colour has
	// the luma image/color gives it.
	px := []byte{255, 0, 0, 255, 255, 255, 255, 255}
	g := make([]byte, 2)
	Grayscale(g, px)
	require.Equal(t, []byte{76, 255}, g)

	white := make([]byte, 5*5*4)
	for i := range white {
		white[i] = 255
	}
	dst := make([]byte, len(white))
	BoxBlur(dst, white, 5, 5, 3)
	require.Equal(t, white, dst)
	small := make([]byte, 2*2*4)
	Halve(small, white, 5, 5)
	require.Equal(t, white[:16], small)

	// A single bright pixel spreads over the box, evenly.
	one := make([]byte, 5*5*4)
	one[(2*5+2)*4] = 225
	BoxBlur(dst, one, 5, 5, 1)
	for y := range 5 {
		for x := range 5 {
			want := byte(0)
			if x >= 1 && x <= 3 && y >= 1 && y <= 3 {
				want = 25
			}
			require.Equal(t, want, dst[(y*5+x)*4], "pixel %d,%d", x, y)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"shorter than its header": make([]byte, 3),
		"image of 0x0":            make([]byte, RequestHeader),
		"want 212":                request(7, 7, 1)[:100],
		"blur radius 65":          func() []byte { b := request(2, 2, 1); PutRequestHeader(b, 2, 2, 65); return b }(),
		"image of 2x16385":        func() []byte { b := request(2, 2, 1); PutRequestHeader(b, 2, MaxSide+1, 1); return b }(),
	} {
		_, err := ParseRequest(b)
		require.ErrorContains(t, err, name)
	}
	_, err := ParseResponse(make([]byte, ResponseHeader+1))
	require.ErrorContains(t, err, "image of 0x0")
	_, err = ParseResponse(make([]byte, 10))
	require.ErrorContains(t, err, "shorter than its header")
}

// FuzzParse feeds arbitrary peer input to both parsers: they must fail
// cleanly or return views that lie within the input, of the sizes the
// header declares.
func FuzzParse(f *testing.F) {
	f.Add(request(2, 2, 0))
	f.Add(request(3, 5, 2))
	out := make([]byte, ResponseSize(4, 2))
	req, _ := ParseRequest(request(4, 2, 1))
	_ = Process(req, out, 0)
	f.Add(out)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRequest(b); err == nil {
			if len(r.Pix) != r.Width*r.Height*4 || r.Radius > MaxRadius {
				t.Fatalf("request %dx%d r%d with %d pixel bytes", r.Width, r.Height, r.Radius, len(r.Pix))
			}
			out := make([]byte, ResponseSize(r.Width, r.Height))
			if err := Process(r, out, 0); err != nil {
				t.Fatal(err)
			}
		}
		if r, err := ParseResponse(b); err == nil {
			w, h := r.Width, r.Height
			if len(r.GrayPix) != w*h || len(r.BlurPix) != w*h*4 || len(r.SmallPix) != (w/2)*(h/2)*4 || r.Alloc < 0 {
				t.Fatalf("response %dx%d with images of %d, %d, %d bytes", w, h, len(r.GrayPix), len(r.BlurPix), len(r.SmallPix))
			}
		}
	})
}
