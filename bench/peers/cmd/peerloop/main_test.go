package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers/driver"
)

// TestMain lets the test binary be a load helper, as the command is.
func TestMain(m *testing.M) {
	driver.MaybeHelper()
	os.Exit(m.Run())
}

// TestParseRefusesBadFlags: every flag out of its range is refused with
// its name, and -plugin is required.
func TestParseRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-peer", "nope", "-plugin", "x"}, `unknown peer "nope"`},
		{[]string{}, "-plugin is required"},
		{[]string{"-plugin", "x", "-figure", "copies"}, `unknown figure "copies"`},
		{[]string{"-plugin", "x", "-size", "0"}, "-size 0 out of range"},
		{[]string{"-plugin", "x", "-gap", "2s"}, "-gap 2s out of range"},
		{[]string{"-plugin", "x", "-c", "0"}, "-c 0 out of range"},
		{[]string{"-plugin", "x", "-d", "2h"}, "-d 2h0m0s out of range"},
		{[]string{"-plugin", "x", "-n", "0"}, "-n 0 out of range"},
		{[]string{"-plugin", "x", "-probe", "-1s"}, "-probe -1s out of range"},
	} {
		_, err := parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	c, err := parse([]string{"-peer", "uds", "-plugin", "p", "-c", "3"})
	if err != nil || c.peer.Name != "uds" || c.callers != 3 || c.figure != "echo" {
		t.Fatalf("parse: %+v, %v", c, err)
	}
}

// TestLoops builds the raw-socket peer's plugin and runs every figure
// against it: echo reports a positive rate from real calls, start and
// kill a time for every start or kill, blob a rate for every batch of checked answers,
// copy both directions' rates and their ratio.
func TestLoops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin and starts processes")
	}
	bin := filepath.Join(t.TempDir(), "uds-plugin")
	build := exec.Command("go", "build", "-o", bin, "github.com/plexus-ipc/plexus/bench/peers/cmd/uds-plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var out bytes.Buffer
	if err := run(ctx, []string{"-peer", "uds", "-plugin", bin, "-c", "4", "-d", "300ms", "-gap", "100us"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^machine: lost [0-9.]+ %, stalls over 20 us [0-9]+/s per thread \(([0-9]+|\?) unseen\), over 100 us [0-9]+/s\n`).MatchString(out.String()) {
		t.Fatalf("no probe of the machine first in %q", out.String())
	}
	m := regexp.MustCompile(`uds echo, 4 callers: ([0-9]+) calls/s`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no rate in %q", out.String())
	}
	if rate, _ := strconv.Atoi(m[1]); rate <= 0 {
		t.Fatalf("rate %d in %q", rate, out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"-peer", "uds", "-plugin", bin, "-probe", "0", "-figure", "kill", "-n", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`uds kill -9 to the blocked caller's error: \[\S+ \S+\]\nmedian \S+ \(\S+-\S+\)`).MatchString(out.String()) {
		t.Fatalf("kill output %q", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"-peer", "uds", "-plugin", bin, "-probe", "0", "-figure", "start", "-n", "3"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`uds start to first completed call: \[\S+ \S+ \S+\]\nmedian \S+ \(\S+-\S+\)`).MatchString(out.String()) {
		t.Fatalf("start output %q", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"-peer", "uds", "-plugin", bin, "-probe", "0", "-figure", "blob", "-size", "1", "-n", "3", "-d", "1ns"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`uds blob 1 MiB, 1 batches of 3 calls: GB/s \[[0-9.]+\]\nmedian [0-9.]+ `).MatchString(out.String()) {
		t.Fatalf("blob output %q", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"-peer", "uds", "-plugin", bin, "-probe", "0", "-figure", "copy", "-size", "1", "-n", "4", "-d", "1ns"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`uds copy 1 MiB, 1 batches of 4 calls each way: Blob/Put \[[0-9.]+\]\nput GB/s: median [0-9.]+ .*\nblob GB/s: median [0-9.]+ .*\nblob/put: median [0-9.]+ `).MatchString(out.String()) {
		t.Fatalf("copy output %q", out.String())
	}
}
