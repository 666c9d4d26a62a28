"""Logs as hclog JSON lines on stderr: the host forwards each entry with its
level, message and fields (@level, @message, @module, @timestamp)."""

import datetime
import json
import sys
import threading

LEVELS = ("trace", "debug", "info", "warn", "error")


class Logger:
    def __init__(self, name="plugin", out=None, level="trace"):
        self.name = name
        self._out = out
        self._min = LEVELS.index(level)
        self._lock = threading.Lock()

    def named(self, sub):
        lg = Logger(self.name + "." + sub if self.name else sub, self._out, LEVELS[self._min])
        lg._lock = self._lock
        return lg

    def log(self, level, msg, **fields):
        if LEVELS.index(level) < self._min:
            return
        now = datetime.datetime.now().astimezone()
        e = {"@level": level, "@message": str(msg), "@module": self.name,
             "@timestamp": now.isoformat(timespec="microseconds")}
        for k, v in fields.items():
            if isinstance(v, (bytes, bytearray, memoryview)):
                v = bytes(v).hex()
            elif not isinstance(v, (str, int, float, bool, type(None), list, dict)):
                v = str(v)
            e[k] = v
        line = json.dumps(e, default=str) + "\n"
        out = self._out or sys.stderr
        with self._lock:
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                pass  # the host is gone (EPIPE) or stderr closed: nothing to tell

    def trace(self, msg, **f):
        self.log("trace", msg, **f)

    def debug(self, msg, **f):
        self.log("debug", msg, **f)

    def info(self, msg, **f):
        self.log("info", msg, **f)

    def warn(self, msg, **f):
        self.log("warn", msg, **f)

    def error(self, msg, **f):
        self.log("error", msg, **f)
