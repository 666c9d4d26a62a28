//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/demos/streaming/feed"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

const cookie = "plexus-demo-streaming"

func main() { demoutil.Main(pluginConfig, run) } // serves when started by the host in run

type options struct {
	size, slow, fast int
	pause            time.Duration
}

func run(ctx context.Context, out io.Writer, args []string) error {
	var o options
	fs := flag.NewFlagSet("streaming", flag.ContinueOnError)
	fs.IntVar(&o.size, "size", 4096, "bytes per message")
	fs.IntVar(&o.slow, "slow", 100, "messages on the slow stream")
	fs.IntVar(&o.fast, "fast", 5000, "messages on each fast stream")
	fs.DurationVar(&o.pause, "pause", time.Millisecond, "the slow reader's pause per message once it reads again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.size < 8 || o.slow < 2 || o.fast < 1 {
		return errors.New("need -size >= 8, -slow >= 2, -fast >= 1")
	}
	client, err := demoutil.Start(ctx, host.Config{
		Name:     "streaming-plugin",
		Cookie:   cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {feed.FeedServiceDesc}},
		Logger:   demoutil.Logger(hclog.Warn),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	f := feed.NewFeedClient(client)
	fmt.Fprintf(out, "plugin started (pid %d); messages of %d bytes; channel window %d KiB\n",
		client.Pid(), o.size, session.DefaultChannelWindow>>10)

	// 1. The slow consumer: it reads one message, then stops.
	slow, err := f.OpenProduce(ctx, "slow", o.slow, o.size)
	if err != nil {
		return err
	}
	defer slow.Close()
	if _, err := slow.Recv(); err != nil {
		return err
	}
	fmt.Fprintf(out, "slow stream:   read message 1 of %d, then the reader stops reading\n", o.slow)

	// 2. Meanwhile, one stream of each kind runs at full speed.
	if err := fastStreams(ctx, out, f, o); err != nil {
		return err
	}

	// 3. The slow stream's producer has been waiting for credit all along.
	sent, err := settledSent(ctx, f, "slow")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "slow stream:   meanwhile the plugin sent %d of %d messages and waits: "+
		"%d unread (%d KiB) is what the channel window lets through\n",
		sent, o.slow, sent-1, (sent-1)*o.size>>10)

	// 4. The reader resumes, slowly; the producer follows it.
	start := time.Now()
	next := uint64(1)
	for {
		m, err := slow.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if seq := binary.LittleEndian.Uint64(m); seq != next {
			return fmt.Errorf("slow stream: message %d arrived as number %d", seq, next)
		}
		next++
		time.Sleep(o.pause)
	}
	fmt.Fprintf(out, "slow stream:   read the other %d messages, %v apart, in order, in %v\n",
		next-1, o.pause, time.Since(start).Round(time.Millisecond))

	return demoutil.Close(out, client)
}

// fastStreams runs a server, a client and a bidirectional stream at the
// same time, each as fast as it goes, and prints what each carried.
func fastStreams(ctx context.Context, out io.Writer, f *feed.FeedClient, o options) error {
	type result struct {
		what string
		n    int
		took time.Duration
		err  error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // server streaming
		defer wg.Done()
		start, n := time.Now(), 0
		err := f.Produce(ctx, "fast", o.fast, o.size, func(m []byte) error {
			if seq := binary.LittleEndian.Uint64(m); seq != uint64(n) {
				return fmt.Errorf("message %d arrived as number %d", seq, n)
			}
			n++
			return nil
		})
		results[0] = result{"server stream", n, time.Since(start), err}
	}()
	go func() { // client streaming
		defer wg.Done()
		start, i := time.Now(), 0
		msg := make([]byte, o.size)
		n, bytes, err := f.Consume(ctx, func() ([]byte, error) {
			if i == o.fast {
				return nil, io.EOF
			}
			i++
			return msg, nil
		})
		if err == nil && bytes != int64(o.fast*o.size) {
			err = fmt.Errorf("the plugin counted %d bytes, not %d", bytes, o.fast*o.size)
		}
		results[1] = result{"client stream", n, time.Since(start), err}
	}()
	go func() { // bidirectional
		defer wg.Done()
		start, sent, got := time.Now(), 0, 0
		msg := make([]byte, o.size)
		err := f.Echo(ctx, func() ([]byte, error) {
			if sent == o.fast {
				return nil, io.EOF
			}
			sent++
			return msg, nil
		}, func(m []byte) error {
			got++
			return nil
		})
		results[2] = result{"bidi stream", got, time.Since(start), err}
	}()
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("%s: %w", r.what, r.err)
		}
		mib := float64(r.n*o.size) / (1 << 20)
		fmt.Fprintf(out, "%-14s %d messages (%.1f MiB) in %v, %.0f MiB/s, while the slow stream waits\n",
			r.what+":", r.n, mib, r.took.Round(time.Millisecond), mib/r.took.Seconds())
	}
	return nil
}

// settledSent asks for the producer's count until it stops changing: the
// producer may still be filling the window when the fast streams end.
func settledSent(ctx context.Context, f *feed.FeedClient, name string) (int, error) {
	last := -1
	for range 40 {
		n, err := f.Sent(ctx, name)
		if err != nil || n == last {
			return n, err
		}
		last = n
		time.Sleep(25 * time.Millisecond)
	}
	return last, nil
}
