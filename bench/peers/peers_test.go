package peers

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPattern(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 4095, 4096, 4097, 1 << 20, 1<<20 + 3} {
		b := make([]byte, n)
		Fill(b)
		if err := Check(b); err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if err := CheckSampled(b); err != nil {
			t.Fatalf("size %d sampled: %v", n, err)
		}
		if n == 0 {
			continue
		}
		b[n-1] ^= 1
		if Check(b) == nil || CheckSampled(b) == nil {
			t.Fatalf("size %d: a changed last byte went unnoticed", n)
		}
		b[n-1] ^= 1
		b[0] ^= 0x80
		if Check(b) == nil || CheckSampled(b) == nil {
			t.Fatalf("size %d: a changed first byte went unnoticed", n)
		}
	}
	// A page of another offset (a misplaced page) fails the sampled check.
	b := make([]byte, 3*SamplePage)
	Fill(b)
	copy(b[SamplePage:2*SamplePage], b[2*SamplePage:])
	if CheckSampled(b) == nil {
		t.Fatal("a misplaced page went unnoticed")
	}
}

func TestImpl(t *testing.T) {
	var s Impl
	b, err := s.Blob(10000)
	if err != nil || len(b) != 10000 || Check(b) != nil {
		t.Fatalf("blob: %d bytes, %v, %v", len(b), err, Check(b))
	}
	if n, err := s.Put(b); n != len(b) || err != nil {
		t.Fatalf("put: %d, %v", n, err)
	}
	if _, err := s.Put(make([]byte, 100)); err == nil {
		t.Fatal("put of zeros accepted")
	}
	if _, err := s.Blob(MaxBlob + 1); err == nil {
		t.Fatal("blob beyond MaxBlob accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.Block(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("block: %v", err)
	}
}
