package session

// Calls that cannot run on the goroutine that received them run on
// workers. A worker that finishes a call waits for the next one instead of
// exiting: a new goroutine per call starts on a small stack that the
// serving path outgrows, and the runtime copies the stack on every call
// (a fifth of the serving side's processor time under 64 concurrent
// callers, measured). Idle workers block on a channel; they cost nothing
// while the link is idle and exit when the session ends.

// maxIdleWorkers bounds the workers kept waiting; more exit after their
// call. It was 32: under 64 concurrent callers half the workers then
// exited after each burst, and their successors copied their stacks again
// (transport/shmlink BenchmarkSessionConcurrent, three interleaved runs:
// 571k-611k calls/s with 32, 654k-803k with 64, the same with 128). An
// idle worker holds only its stack, a few KiB.
const maxIdleWorkers = 64

// spawn runs j on an idle worker if one is waiting, else on a new one.
func (sv *server) spawn(j serveJob) {
	select {
	case sv.jobs <- j:
	default:
		go sv.worker(j)
	}
}

func (sv *server) worker(j serveJob) {
	for {
		if next, more := sv.serve(j); more {
			j = next // a waiting call took the finished one's place
			continue
		}
		if sv.idleWorkers.Add(1) > maxIdleWorkers {
			sv.idleWorkers.Add(-1)
			return
		}
		select {
		case j = <-sv.jobs:
			sv.idleWorkers.Add(-1)
		case <-sv.s.done:
			sv.idleWorkers.Add(-1)
			return
		}
	}
}
