//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/wire"
)

const (
	childEnv = "PLEXUS_DEMO_SEGMENT_CHILD"
	messages = 1_000_000
	blobs    = 200
	blobSize = 512 << 10
	kindMsg  = 1
	kindBlob = 2
	kindEnd  = 3
)

func main() {
	var err error
	if os.Getenv(childEnv) != "" {
		err = child()
	} else {
		err = host(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func host(w io.Writer) error {
	// The host and the child's output (copied in by os/exec on its own
	// goroutine) share one writer.
	out := &demoutil.LockedWriter{W: w}
	seg, err := shm.Create(shm.Config{})
	if err != nil {
		return err
	}
	defer seg.Close()
	files, err := seg.Files()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	for _, f := range files {
		f.Close()
	}
	e, err := seg.Endpoint()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "host %d: segment ready, started child %d\n", os.Getpid(), cmd.Process.Pid)

	start := time.Now()
	var batch [64]wire.Desc
	for i := 0; i < messages; i += len(batch) {
		for j := range batch {
			batch[j].Reset()
			batch[j].SetKind(kindMsg)
			batch[j].SetChannel(uint64(i + j))
		}
		if _, err := e.Send(batch[:]); err != nil {
			return err
		}
	}
	msgTime := time.Since(start)

	start = time.Now()
	var sum uint32
	for i := range blobs {
		s, err := e.Alloc(blobSize)
		if err != nil {
			return err
		}
		b := s.Buf[:blobSize]
		for k := 0; k < len(b); k += 8 {
			binary.LittleEndian.PutUint64(b[k:], uint64(i*k))
		}
		sum = crc32.Update(sum, crc32.IEEETable, b)
		batch[0].Reset()
		batch[0].SetKind(kindBlob)
		batch[0].SetSlotRef(s.Index, s.Gen, 0, blobSize)
		if _, err := e.Send(batch[:1]); err != nil {
			return err
		}
	}
	batch[0].Reset()
	batch[0].SetKind(kindEnd)
	if _, err := e.Send(batch[:1]); err != nil {
		return err
	}
	// The child answers with the checksum of every blob it read.
	n, err := e.Recv(batch[:1], 10*time.Second)
	if err != nil || n != 1 {
		return fmt.Errorf("waiting for the child's answer: %w", err)
	}
	blobTime := time.Since(start)
	if got := uint32(batch[0].Aux()); got != sum {
		return fmt.Errorf("child read blobs with checksum %#x, host wrote %#x", got, sum)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("child: %w", err)
	}
	fmt.Fprintf(out, "host: sent %d descriptors in %v (%.1f M/s)\n", messages, msgTime.Round(time.Millisecond), messages/msgTime.Seconds()/1e6)
	fmt.Fprintf(out, "host: sent %d blobs of %d KiB in slots in %v; child's checksum %#08x matches\n", blobs, blobSize>>10, blobTime.Round(time.Millisecond), sum)
	fmt.Fprintf(out, "host: %d of %d slots free again\n", e.Pool().FreeSlots(), e.Pool().NumSlots())
	if e.Pool().FreeSlots() != e.Pool().NumSlots() {
		return errors.New("slots leaked")
	}
	fmt.Fprintln(out, "ok")
	return nil
}

func child() error {
	seg, err := shm.Open(shm.FdsFrom(3), shm.Config{})
	if err != nil {
		return err
	}
	defer seg.Close()
	e, err := seg.Endpoint()
	if err != nil {
		return err
	}
	var batch [64]wire.Desc
	var msgs, nblobs int
	var sum uint32
	for {
		n, err := e.Recv(batch[:], 10*time.Second)
		if err != nil {
			return err
		}
		for i := range n {
			d := &batch[i]
			switch d.Kind() {
			case kindMsg:
				if d.Channel() != uint64(msgs) {
					return fmt.Errorf("message %d arrived as %d", msgs, d.Channel())
				}
				msgs++
			case kindBlob:
				p, err := e.Resolve(d)
				if err != nil {
					return err
				}
				sum = crc32.Update(sum, crc32.IEEETable, p)
				nblobs++
				if err := e.Release(d); err != nil {
					return err
				}
			case kindEnd:
				fmt.Printf("child %d: received %d descriptors and %d blobs through shared memory\n", os.Getpid(), msgs, nblobs)
				var ans [1]wire.Desc
				ans[0].SetAux(uint64(sum))
				_, err := e.Send(ans[:])
				return err
			}
		}
	}
}
