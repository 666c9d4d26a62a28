package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Resources of a process, from /proc and (for this process) the runtime.

// resources is what a link's life could leak in a host.
type resources struct {
	Goroutines int   `json:"goroutines"`
	Threads    int   `json:"threads"`
	Fds        int   `json:"fds"`
	Memfds     int   `json:"memfds"`
	Mappings   int   `json:"memfdMappings"`
	HeapKB     int64 `json:"heapKB"` // live heap after a GC
	RssAnonKB  int64 `json:"rssAnonKB"`
	RssShmemKB int64 `json:"rssShmemKB"`
}

// procStatus reads Threads, RssAnon and RssShmem (and VmRSS) of pid
// ("self" for this process).
func procStatus(pid string) (threads int, anonKB, shmemKB, rssKB int64) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "Threads":
			threads = int(n)
		case "RssAnon":
			anonKB = n
		case "RssShmem":
			shmemKB = n
		case "VmRSS":
			rssKB = n
		}
	}
	return
}

// countFds counts pid's descriptors, and those that are memfds.
func countFds(pid string) (fds, memfds int) {
	dir := "/proc/" + pid + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1, -1
	}
	for _, e := range ents {
		fds++
		if l, err := os.Readlink(dir + e.Name()); err == nil && strings.HasPrefix(l, "/memfd:") {
			memfds++
		}
	}
	return
}

// memfdMappings counts pid's mappings of memfds.
func memfdMappings(pid string) int {
	b, err := os.ReadFile("/proc/" + pid + "/maps")
	if err != nil {
		return -1
	}
	return bytes.Count(b, []byte("/memfd:"))
}

// systemShmemKB is the system's shared memory (/proc/meminfo Shmem):
// memfd pages count there whoever maps them.
func systemShmemKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Shmem:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}

// cpuOf is pid's CPU time so far (user + system).
func cpuOf(pid string) time.Duration {
	if pid == "self" {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * (time.Second / 100) // USER_HZ
}

// measureSelf takes this process's resources after a garbage collection.
func measureSelf() resources {
	runtime.GC()
	debug.FreeOSMemory()
	var r resources
	r.Goroutines = runtime.NumGoroutine()
	r.Threads, r.RssAnonKB, r.RssShmemKB, _ = procStatus("self")
	r.Fds, r.Memfds = countFds("self")
	r.Mappings = memfdMappings("self")
	r.HeapKB = heapBytes() >> 10
	return r
}

var dumped bool

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapMu sync.Mutex

func heapBytes() int64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	if heapSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(heapSample[0].Value.Uint64())
}

// peaks are the highest values a sampler saw.
type peaks struct {
	Goroutines int   `json:"goroutines"`
	Threads    int   `json:"threads"`
	Fds        int   `json:"fds"`
	RssAnonKB  int64 `json:"rssAnonKB"`
	RssKB      int64 `json:"rssKB"`
	HeapKB     int64 `json:"heapKB"`
	ShmemKB    int64 `json:"systemShmemKB"`
}

// sampler records the peaks of a process's resources every few ms until
// stopped.
type sampler struct {
	pid  string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	p    peaks
}

func startSampler(pid string, every time.Duration) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	var q peaks
	q.Threads, q.RssAnonKB, _, q.RssKB = procStatus(s.pid)
	q.Fds, _ = countFds(s.pid)
	q.ShmemKB = systemShmemKB()
	if s.pid == "self" {
		q.Goroutines = runtime.NumGoroutine()
		q.HeapKB = heapBytes() >> 10
		if n, _ := strconv.Atoi(os.Getenv("PLEXUS_HOSTILE_GDUMP")); n > 0 && q.Goroutines > n && !dumped {
			dumped = true
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.p
	p.Goroutines = max(p.Goroutines, q.Goroutines)
	p.Threads = max(p.Threads, q.Threads)
	p.Fds = max(p.Fds, q.Fds)
	p.RssAnonKB = max(p.RssAnonKB, q.RssAnonKB)
	p.RssKB = max(p.RssKB, q.RssKB)
	p.HeapKB = max(p.HeapKB, q.HeapKB)
	p.ShmemKB = max(p.ShmemKB, q.ShmemKB)
}

func (s *sampler) finish() peaks {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// settle waits (bounded) for this process's resources to come back to
// base, and returns them with what is still above it.
func settle(base resources, d time.Duration) (resources, []string) {
	var r resources
	var left []string
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		r = measureSelf()
		if left = leftovers(base, r); len(left) == 0 || time.Now().After(deadline) {
			return r, left
		}
	}
}

// Tolerances of leftovers: Go keeps idle OS threads, and the honest
// plugin's session keeps up to a few idle readers and workers, whose
// number moves with load.
const (
	goroutineSlack = 4
	threadSlack    = 8
	heapSlackKB    = 16 << 10
	anonSlackKB    = 96 << 10
	shmemSlackKB   = 2 << 10
)

// leftovers lists what is above base in r.
func leftovers(base, r resources) []string {
	var out []string
	check := func(what string, got, want, slack int64) {
		if got > want+slack {
			out = append(out, fmt.Sprintf("%s %d, baseline %d (+%d allowed)", what, got, want, slack))
		}
	}
	check("goroutines", int64(r.Goroutines), int64(base.Goroutines), goroutineSlack)
	check("threads", int64(r.Threads), int64(base.Threads), threadSlack)
	check("descriptors", int64(r.Fds), int64(base.Fds), 0)
	check("memfds", int64(r.Memfds), int64(base.Memfds), 0)
	check("memfd mappings", int64(r.Mappings), int64(base.Mappings), 0)
	check("heap KiB", r.HeapKB, base.HeapKB, heapSlackKB)
	if !raceEnabled { // the race detector keeps what it took
		check("RssAnon KiB", r.RssAnonKB, base.RssAnonKB, anonSlackKB)
	}
	check("RssShmem KiB", r.RssShmemKB, base.RssShmemKB, shmemSlackKB)
	return out
}
