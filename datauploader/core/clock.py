"""Time, injectable: the engine, the throttle and the retry policy take a clock so tests can
run them on a fake one without sleeping."""

from __future__ import annotations

import threading
import time


class Clock:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> float:
        """Wall-clock seconds since the epoch (for journal timestamps and timetables)."""
        return time.time()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep; return True if woken early by ``cancel``."""
        if seconds <= 0:
            return bool(cancel and cancel.is_set())
        if cancel is None:
            time.sleep(seconds)
            return False
        return cancel.wait(seconds)


class FakeClock(Clock):
    """Time that only moves when someone sleeps or calls ``advance``; records every sleep."""

    def __init__(self, start: float = 1_700_000_000.0):
        self._t = 0.0
        self._epoch = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._t

    def now(self) -> float:
        with self._lock:
            return self._epoch + self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._t += seconds
        return bool(cancel and cancel.is_set())
