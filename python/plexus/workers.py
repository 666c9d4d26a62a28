"""A pool of daemon threads that run handlers. Daemon threads, so that a
handler that never returns cannot keep the process from exiting when the
link ends."""

import queue
import threading


class Workers:
    def __init__(self, max_workers=64, name="plexus-handler"):
        self._q = queue.SimpleQueue()
        self._max = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn, *args):
        with self._lock:
            spawn = self._idle == 0 and self._threads < self._max
            if spawn:
                self._threads += 1
            else:
                self._idle -= 1 if self._idle else 0
        self._q.put((fn, args))
        if spawn:
            t = threading.Thread(target=self._loop, name="%s-%d" % (self._name, self._threads), daemon=True)
            t.start()

    def _loop(self):
        while True:
            fn, args = self._q.get()
            try:
                fn(*args)
            except BaseException:  # fn reports its own errors; never lose the thread
                pass
            with self._lock:
                self._idle += 1
