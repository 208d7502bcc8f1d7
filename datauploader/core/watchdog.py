"""Noticing a silent server: transfers under way, nothing moving.

A hung or drip-feeding server, or a network that went away without a reset, leaves workers
blocked in a receive. Retries and time-outs deal with it in the end; the operator must hear of
it long before: after ``after`` seconds without any progress the watchdog emits
``ServerSilent`` once (the front-ends say "no answer from … since 07:39"), and again, with
``restored``, when bytes move again. It runs on real time whatever clock the engine has: it is
about the world outside, and a fake clock's sleeps must not be disturbed by it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from datauploader.events import ServerSilent

log = logging.getLogger(__name__)


class Watchdog:
    def __init__(self, job_id: int, emit, paused, after: float = 30.0, tick: float = 1.0):
        self.job_id = job_id
        self.emit = emit  # the engine's event bus emit
        self.paused = paused  # () -> bool: a paused job is silent on purpose
        self.after = after
        self.tick = min(tick, max(0.05, after / 4))
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}  # server → calls under way
        self._last = time.monotonic()
        self._last_wall = time.time()
        self._silent: tuple[str, float, float] | None = None  # (server, since, since_wall)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @contextlib.contextmanager
    def busy(self, server: str):
        """A call to ``server`` is under way for the duration of the block."""
        with self._lock:
            self._busy[server] = self._busy.get(server, 0) + 1
        try:
            yield
        except BaseException:
            with self._lock:
                self._busy[server] -= 1
            raise  # a call that failed is no sign that the server answers
        with self._lock:
            self._busy[server] -= 1
        self.progress()

    def progress(self) -> None:
        """Something moved (bytes sent, a call answered)."""
        now = time.monotonic()
        with self._lock:
            self._last = now
            self._last_wall = time.time()
            silent, self._silent = self._silent, None
        if silent is not None:
            server, since, since_wall = silent
            log.warning("%s answers again after %.0f s", server, now - since)
            self.emit(ServerSilent(self.job_id, server, since_wall, now - since, restored=True))

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            if self.paused():
                self.progress()  # the time paused is not silence
                continue
            now = time.monotonic()
            with self._lock:
                waiting = [s for s, n in self._busy.items() if n > 0]
                quiet = now - self._last
                if not waiting or quiet < self.after or self._silent is not None:
                    continue
                self._silent = (waiting[0], self._last, self._last_wall)
                since_wall = self._last_wall
            log.warning("no answer from %s for %.0f s", waiting[0], quiet)
            self.emit(ServerSilent(self.job_id, waiting[0], since_wall, quiet))
