package imgproc

import "sync"

// Grayscale writes the luma of each RGBA pixel of src into dst (one byte
// per pixel), with the weights of ITU-R BT.601 as image/color uses them.
func Grayscale(dst, src []byte) {
	for i := range dst {
		p := src[4*i : 4*i+3 : 4*i+3]
		dst[i] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16)
	}
}

// scratch holds BoxBlur's intermediate rows-blurred image: working memory
// of the computation, not a copy of a message.
var scratch sync.Pool

// BoxBlur writes src (w x h RGBA) blurred by a (2r+1) x (2r+1) box into
// dst, in two passes (rows, then columns) with running sums; pixels past
// the edges repeat the edge.
func BoxBlur(dst, src []byte, w, h, r int) {
	if r == 0 {
		copy(dst, src)
		return
	}
	var tmp []byte
	if v, ok := scratch.Get().(*[]byte); ok && cap(*v) >= len(src) {
		tmp = (*v)[:len(src)]
	} else {
		tmp = make([]byte, len(src))
	}
	defer scratch.Put(&tmp)
	n := uint32(2*r + 1)
	clamp := func(i, hi int) int { return min(max(i, 0), hi-1) }
	for y := range h { // rows: src -> tmp
		row := src[y*w*4 : (y+1)*w*4]
		out := tmp[y*w*4 : (y+1)*w*4]
		for c := range 4 {
			var sum uint32
			for i := -r; i <= r; i++ {
				sum += uint32(row[clamp(i, w)*4+c])
			}
			for x := range w {
				out[x*4+c] = uint8((sum + n/2) / n)
				sum += uint32(row[clamp(x+r+1, w)*4+c])
				sum -= uint32(row[clamp(x-r, w)*4+c])
			}
		}
	}
	// Columns, a row at a time (tmp -> dst): one running sum per column
	// and channel, so that both images are read and written in order.
	stride := w * 4
	sums := make([]uint32, stride)
	for i := -r; i <= r; i++ {
		row := tmp[clamp(i, h)*stride:]
		for col := range sums {
			sums[col] += uint32(row[col])
		}
	}
	for y := range h {
		out := dst[y*stride : (y+1)*stride]
		add := tmp[clamp(y+r+1, h)*stride:]
		sub := tmp[clamp(y-r, h)*stride:]
		for col, sum := range sums {
			out[col] = uint8((sum + n/2) / n)
			sums[col] = sum + uint32(add[col]) - uint32(sub[col])
		}
	}
}

// Halve writes src (w x h RGBA) scaled to (w/2) x (h/2) into dst, each
// pixel the mean of a 2x2 block.
func Halve(dst, src []byte, w, h int) {
	hw, hh := w/2, h/2
	for y := range hh {
		a := src[2*y*w*4:]
		b := src[(2*y+1)*w*4:]
		out := dst[y*hw*4 : (y+1)*hw*4]
		for x := range hw {
			for c := range 4 {
				s := uint32(a[8*x+c]) + uint32(a[8*x+4+c]) + uint32(b[8*x+c]) + uint32(b[8*x+4+c])
				out[4*x+c] = uint8((s + 2) / 4)
			}
		}
	}
}

// Draw paints the demo's source picture into pix (w x h RGBA): a colour
// gradient with rings and a checkerboard, so that each stage's effect
// shows.
func Draw(pix []byte, w, h int) {
	cx, cy := w/2, h/2
	for y := range h {
		for x := range w {
			p := pix[(y*w+x)*4 : (y*w+x)*4+4 : (y*w+x)*4+4]
			r := uint8(x * 255 / w)
			g := uint8(y * 255 / h)
			b := uint8(255 - (x+y)*255/(w+h))
			dx, dy := x-cx, y-cy
			d2 := dx*dx + dy*dy
			unit := max(min(w, h)/16, 2)
			if (d2/(unit*unit*2))%3 == 0 { // rings
				r, g, b = 255-r, 255-g, 255-b
			}
			if x < w/3 && y < h/3 && ((x/unit)+(y/unit))%2 == 0 { // checkerboard
				r, g, b = 20, 20, 20
			}
			p[0], p[1], p[2], p[3] = r, g, b, 255
		}
	}
}
