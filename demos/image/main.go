//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

const cookie = "plexus-demo-image"

func main() { demoutil.Main(pluginConfig, run) } // serves when started by the host in run

type options struct {
	out           string
	width, height int
	radius        int
	rounds        int
}

func run(ctx context.Context, out io.Writer, args []string) error {
	var o options
	var size string
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for the PNG files (default: a new temporary directory)")
	fs.StringVar(&size, "size", "1280x960", "source image size, WIDTHxHEIGHT")
	fs.IntVar(&o.radius, "radius", 6, "blur radius in pixels")
	fs.IntVar(&o.rounds, "rounds", 3, "runs of each path; the last one is shown (the first pay for fresh pages)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := fmt.Sscanf(size, "%dx%d", &o.width, &o.height); err != nil ||
		o.width < 2 || o.height < 2 || o.width > imgproc.MaxSide || o.height > imgproc.MaxSide {
		return fmt.Errorf("-size %q: want WIDTHxHEIGHT, each 2..%d", size, imgproc.MaxSide)
	}
	if o.rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", o.rounds)
	}
	if o.radius < 0 || o.radius > imgproc.MaxRadius {
		return fmt.Errorf("-radius %d: want 0..%d", o.radius, imgproc.MaxRadius)
	}
	if o.out == "" {
		dir, err := os.MkdirTemp("", "plexus-image-")
		if err != nil {
			return err
		}
		o.out = dir
	} else if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}

	client, err := demoutil.Start(ctx, host.Config{
		Name:     "image-plugin",
		Cookie:   cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {imgproc.ProcessorServiceDesc}},
		Logger:   demoutil.Logger(hclog.Warn),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	// A lease crosses without a copy on the link it was allocated from:
	// allocate from the session the client's calls go to.
	sess := client.Session()
	if sess == nil {
		return errors.New("the plugin is not running")
	}
	proc := imgproc.NewProcessorClient(client)
	reqSize := imgproc.RequestSize(o.width, o.height)
	respSize := imgproc.ResponseSize(o.width, o.height)
	fmt.Fprintf(out, "plugin started (pid %d); source %dx%d RGBA: request %s, response %s (grayscale, blur r=%d, half size)\n",
		client.Pid(), o.width, o.height, mib(reqSize), mib(respSize), o.radius)

	if o.rounds > 1 {
		fmt.Fprintf(out, "round %d of %d of each path (the first rounds pay for fresh pages):\n", o.rounds, o.rounds)
	}
	var leaseSum, copySum uint32
	for round := 1; round <= o.rounds; round++ {
		w, last := io.Discard, round == o.rounds
		if last {
			w = out
		}
		if leaseSum, err = leasePath(ctx, w, sess, proc, o, last); err != nil {
			return fmt.Errorf("lease path: %w", err)
		}
		if copySum, err = copyPath(ctx, w, proc, o); err != nil {
			return fmt.Errorf("copy path: %w", err)
		}
	}
	if leaseSum != copySum {
		return fmt.Errorf("the two paths computed different images (crc32 %08x and %08x)", leaseSum, copySum)
	}
	fmt.Fprintf(out, "both paths computed the same images (crc32 %08x)\n", leaseSum)

	return demoutil.Close(out, client)
}

// leasePath runs the pipeline with leases and, if files, writes the PNG
// files.
func leasePath(ctx context.Context, out io.Writer, sess *session.Session, proc *imgproc.ProcessorClient, o options, files bool) (uint32, error) {
	w, h := o.width, o.height
	fmt.Fprintln(out, "lease path (zero copy):")

	t := time.Now()
	req, err := sess.Alloc(imgproc.RequestSize(w, h))
	if err != nil {
		return 0, err
	}
	tAlloc := time.Since(t)
	t = time.Now()
	b := req.Bytes()
	imgproc.PutRequestHeader(b, w, h, o.radius)
	imgproc.Draw(b[imgproc.RequestHeader:], w, h)
	tDraw := time.Since(t)
	stage(out, "host: allocate the request lease", tAlloc)
	stage(out, "host: draw the source in place", tDraw)

	// The source PNG is encoded from the lease before it is sent: once
	// sent, the lease is the plugin's to read.
	t = time.Now()
	if files {
		src := &image.RGBA{Pix: b[imgproc.RequestHeader:], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
		if err := writePNG(o.out, "source.png", src); err != nil {
			req.Release()
			return 0, err
		}
	}
	tSrcPNG := time.Since(t)

	// The client takes the lease over and sends it; the response is a
	// view of the plugin's result in its link memory until Release.
	t = time.Now()
	resp, err := proc.Pipeline(ctx, req)
	if err != nil {
		return 0, err
	}
	tCall := time.Since(t)
	defer resp.Release()
	r, err := imgproc.ParseResponse(resp.Bytes())
	if err != nil {
		return 0, err
	}
	printCall(out, r, tCall)

	fmt.Fprintf(out, "  bytes copied: 0 (the source was drawn into the lease and read there by the plugin;\n"+
		"                the results were written into the plugin's lease and read there by the host)\n")
	if files {
		t = time.Now()
		if err := writeResults(o.out, r); err != nil {
			return 0, err
		}
		stage(out, "host: PNG files, encoded from link memory", tSrcPNG+time.Since(t))
		fmt.Fprintf(out, "  wrote source.png, gray.png, blur.png, small.png to %s\n", o.out)
	}
	return checksum(r), nil
}

// copyPath runs the same pipeline with []byte messages.
func copyPath(ctx context.Context, out io.Writer, proc *imgproc.ProcessorClient, o options) (uint32, error) {
	w, h := o.width, o.height
	fmt.Fprintln(out, "copy path ([]byte request and response):")
	t := time.Now()
	b := make([]byte, imgproc.RequestSize(w, h))
	imgproc.PutRequestHeader(b, w, h, o.radius)
	imgproc.Draw(b[imgproc.RequestHeader:], w, h)
	stage(out, "host: draw the source in a []byte", time.Since(t))

	t = time.Now()
	resp, err := proc.PipelineCopy(ctx, b)
	if err != nil {
		return 0, err
	}
	tCall := time.Since(t)
	r, err := imgproc.ParseResponse(resp)
	if err != nil {
		return 0, err
	}
	printCall(out, r, tCall)
	// Counted by what the generated code does with a []byte: it encodes
	// the request into link memory, the plugin's result too, and the
	// client returns a copy of the result (the plugin reads its argument
	// in place).
	copied := len(b) + 2*len(resp)
	fmt.Fprintf(out, "  bytes copied: %s (request %s into the link; response %s into the link and %s out of it)\n",
		mib(copied), mib(len(b)), mib(len(resp)), mib(len(resp)))
	return checksum(r), nil
}

func printCall(out io.Writer, r imgproc.Response, call time.Duration) {
	stage(out, "call, round trip", call)
	stage(out, "  plugin: allocate the response", r.Alloc)
	stage(out, "  plugin: grayscale", r.Gray)
	stage(out, "  plugin: blur", r.Blur)
	stage(out, "  plugin: resize to half", r.Resize)
	stage(out, "  transfer and the rest of the call", call-r.Alloc-r.Gray-r.Blur-r.Resize)
}

func stage(out io.Writer, what string, d time.Duration) {
	fmt.Fprintf(out, "  %-42s %9.3f ms\n", what, float64(d)/float64(time.Millisecond))
}

func writeResults(dir string, r imgproc.Response) error {
	w, h := r.Width, r.Height
	for name, img := range map[string]image.Image{
		"gray.png":  &image.Gray{Pix: r.GrayPix, Stride: w, Rect: image.Rect(0, 0, w, h)},
		"blur.png":  &image.RGBA{Pix: r.BlurPix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)},
		"small.png": &image.RGBA{Pix: r.SmallPix, Stride: 4 * (w / 2), Rect: image.Rect(0, 0, w/2, h/2)},
	} {
		if err := writePNG(dir, name, img); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(dir, name string, img image.Image) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func checksum(r imgproc.Response) uint32 {
	c := crc32.ChecksumIEEE(r.GrayPix)
	c = crc32.Update(c, crc32.IEEETable, r.BlurPix)
	return crc32.Update(c, crc32.IEEETable, r.SmallPix)
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
