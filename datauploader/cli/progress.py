"""Terminal progress: one line, redrawn at most a few times per second, only on a terminal."""

from __future__ import annotations

import threading
import time

from datauploader.events import (BytesSent, FileDone, FileFailed, FileRetrying, FileStarted,
                                 JobDone, JobStarted, Subscriber, SyncStatus, TasksAdded)
from datauploader.units import human_bytes, human_duration


class Rate:
    """Speed over a sliding window, so that the ETA follows the present, not the average."""

    def __init__(self, window: float = 5.0, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._samples: list[tuple[float, int]] = []

    def add(self, total: int) -> None:
        now = self.clock()
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.pop(0)

    def per_second(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


class TerminalProgress(Subscriber):
    def __init__(self, stream, interval: float = 0.2, clock=time.monotonic):
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = 0.0
        self.files_total = self.bytes_total = 0
        self.files_done = self.bytes_done = self.files_failed = 0
        self._rate = Rate(clock=clock)
        self._inflight: dict[int, int] = {}  # task → bytes sent in the current attempt
        self._moved = 0  # bytes put on the wire in this run: what the speed measures
        self._width = 0
        self._sync: SyncStatus | None = None

    def on_job_started(self, e: JobStarted, **kw) -> None:
        with self._lock:
            self.files_total, self.bytes_total = e.files_total, e.bytes_total
            self.files_done, self.bytes_done = e.files_done, e.bytes_done

    def on_file_started(self, e: FileStarted, **kw) -> None:
        with self._lock:
            self._inflight[e.task_id] = e.resumed_bytes

    def on_bytes(self, e: BytesSent, **kw) -> None:
        with self._lock:
            self._inflight[e.task_id] = self._inflight.get(e.task_id, 0) + e.nbytes
            if not e.resumed:
                self._moved += e.nbytes
        self._draw()

    def on_file_retrying(self, e: FileRetrying, **kw) -> None:
        with self._lock:
            self._inflight.pop(e.task_id, None)
        self._print(f"retrying {e.relpath} in {e.delay:.0f}s: {e.error}")

    def on_file_done(self, e: FileDone, **kw) -> None:
        with self._lock:
            self._inflight.pop(e.task_id, None)
            self.files_done += 1
            self.bytes_done += e.size
        self._draw()

    def on_file_failed(self, e: FileFailed, **kw) -> None:
        with self._lock:
            self._inflight.pop(e.task_id, None)
            self.files_failed += 1
        self._print(f"failed: {e.relpath}: {e.error}")

    def on_tasks_added(self, e: TasksAdded, **kw) -> None:
        with self._lock:
            self.files_total += e.files
            self.bytes_total += e.bytes
        self._draw()

    def on_sync_status(self, e: SyncStatus, **kw) -> None:
        with self._lock:
            self._sync = e
        if e.notice:
            self._print(e.notice)
        self._draw()

    def on_job_done(self, e: JobDone, **kw) -> None:
        self._draw(force=True)
        with self._lock:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def line(self) -> str:
        with self._lock:
            sent = self.bytes_done + sum(self._inflight.values())
            self._rate.add(self._moved)
            speed = self._rate.per_second()
            pct = 100.0 * sent / self.bytes_total if self.bytes_total else 100.0
            eta = (self.bytes_total - sent) / speed if speed > 0 else None
            parts = [f"{min(pct, 100):5.1f}%",
                     f"{human_bytes(sent)} / {human_bytes(self.bytes_total)}",
                     f"{self.files_done}/{self.files_total} files",
                     f"{human_bytes(speed)}/s",
                     f"ETA {human_duration(eta)}" if eta is not None else "ETA --:--"]
            if self.files_failed:
                parts.append(f"{self.files_failed} failed")
            sync = self._sync
            if sync is not None:
                # sync mode: totals grow; what the watcher sees matters more than an ETA
                parts = [f"{sync.seen} seen", f"{sync.settling} settling",
                         f"{sync.queued} queued", f"{sync.uploaded} uploaded",
                         f"{human_bytes(speed)}/s"]
                if sync.failed:
                    parts.append(f"{sync.failed} failed")
                if sync.last_file:
                    import time as _t
                    parts.append(f"last: {sync.last_file} "
                                 f"{human_duration(_t.time() - sync.last_file_at)} ago")
                if sync.idle_warning:
                    parts.append("NO NEW FILE for a while")
                if sync.finishing:
                    parts.insert(0, "finishing")
            return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line()
        with self._lock:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self._width = len(text)

    def _print(self, text: str) -> None:
        with self._lock:
            self.stream.write("\r" + " " * self._width + "\r" + text + "\n")
            self.stream.flush()
            self._width = 0
