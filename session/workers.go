package session

// Calls that cannot run on the goroutine that received them run on
// workers. A worker that finishes a call waits for the next one instead of
// exiting: a new goroutine per call starts on a small stack that the
// serving path outgrows, and the runtime copies the stack on every call
// (a fifth of the serving side's processor time under 64 concurrent
// callers, measured). Idle workers block on a channel; they cost nothing
// while the link is idle and exit when the session ends.

// maxIdleWorkers bounds the workers kept waiting; more exit after their
// call.
const maxIdleWorkers = 32

// spawn runs j on an idle worker if one is waiting, else on a new one.
func (s *Session) spawn(j serveJob) {
	select {
	case s.jobs <- j:
	default:
		go s.worker(j)
	}
}

func (s *Session) worker(j serveJob) {
	for {
		if next, more := s.serve(j); more {
			j = next // a waiting call took the finished one's place
			continue
		}
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case j = <-s.jobs:
			s.idleWorkers.Add(-1)
		case <-s.done:
			s.idleWorkers.Add(-1)
			return
		}
	}
}
