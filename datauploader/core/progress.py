"""Progress as immutable snapshots: a subscriber that keeps totals and per-file state, and hands
out a ``JobSnapshot`` whenever a front-end asks (the GUI at most ~10 times a second, the
terminal display 5 times).

Events arrive on engine threads, snapshots are taken on the front-end's; one lock guards the
state. Per-file rows are delivered as changes since the previous snapshot, so a 20,000-file
job costs the GUI only what changed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from datauploader.events import (BytesSent, DatasetFinalized, DatasetReady, FileDone, FileFailed,
                                 FileRetrying, FilesRegistered, FileStarted, JobDone, JobPaused,
                                 JobStarted, ServerSilent, Subscriber, SyncStatus, TasksAdded)
from datauploader.states import FileStatus, JobState


@dataclass(frozen=True, slots=True)
class FileRow:
    task_id: int
    relpath: str
    size: int
    status: FileStatus
    sent: int
    checksum: str = ""
    error: str = ""
    verified_by: str = ""


@dataclass(frozen=True)
class JobSnapshot:
    job_id: int
    files_total: int
    files_done: int
    files_failed: int
    bytes_total: int
    bytes_done: int  # verified, plus what is in flight
    speed: float  # bytes/s over the last seconds
    eta: float | None
    paused: bool
    finished: bool
    state: JobState  # RUNNING (see ``paused``) until finished
    changed_rows: tuple[FileRow, ...] = ()
    messages: tuple[str, ...] = ()  # retries, failures: for the log panel
    error: str | None = None
    dataset_id: str | None = None
    elapsed: float = 0.0
    sync: SyncStatus | None = None  # sync mode: what the watcher sees
    silent_since: float | None = None  # wall clock: transfers under way, nothing moving
    warnings: tuple[str, ...] = ()  # those of the messages that need attention
    started: bool = False  # the engine has begun (JobStarted): the totals are known

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return 1.0 if self.finished else (self.files_done / self.files_total
                                          if self.files_total else 0.0)


@dataclass
class _File:
    relpath: str
    size: int
    status: FileStatus = FileStatus.WAITING
    sent: int = 0
    checksum: str = ""
    error: str = ""
    verified_by: str = ""


class ProgressTracker(Subscriber):
    def __init__(self, clock=time.monotonic, window: float = 5.0):
        self._lock = threading.Lock()
        self._clock = clock
        self._window = window
        self._files: dict[int, _File] = {}
        self._changed: set[int] = set()
        self._messages: list[str] = []
        self._warnings: list[str] = []  # those of the messages that need attention
        self._samples: list[tuple[float, int]] = []
        self.job_id = 0
        self.files_total = self.bytes_total = 0
        self.files_done = self.files_failed = 0
        self.bytes_verified = 0
        self._inflight = 0
        self._moved = 0  # bytes put on the wire in this run: what the speed measures
        self.paused = False
        self.finished = False
        self.state = JobState.RUNNING
        self.error: str | None = None
        self.dataset_id: str | None = None
        self._start_time = clock()
        self._elapsed = 0.0
        self.sync: SyncStatus | None = None
        self.silent_since: float | None = None
        self.started = False

    def _warn(self, text: str) -> None:
        """A message that needs attention (a retry, a failure, a silent server): also shown
        where ordinary progress messages are not (a log, a pipe, --json)."""
        self._messages.append(text)
        self._warnings.append(text)

    # -- engine side ------------------------------------------------------------------------
    def on_job_started(self, e: JobStarted, **kw) -> None:
        with self._lock:
            self.job_id = e.job_id
            self.started = True
            self.files_total, self.bytes_total = e.files_total, e.bytes_total
            self.files_done, self.bytes_verified = e.files_done, e.bytes_done
            self._start_time = self._clock()

    def on_file_started(self, e: FileStarted, **kw) -> None:
        with self._lock:
            f = self._files.get(e.task_id)
            if f is None:
                f = self._files[e.task_id] = _File(e.relpath, e.size)
            self._inflight -= f.sent
            f.status, f.sent, f.error = FileStatus.UPLOADING, e.resumed_bytes, ""
            self._inflight += f.sent
            self._changed.add(e.task_id)

    def on_bytes(self, e: BytesSent, **kw) -> None:
        with self._lock:
            f = self._files.get(e.task_id)
            if f is not None:
                f.sent += e.nbytes
                self._changed.add(e.task_id)
            self._inflight += e.nbytes
            if not e.resumed:
                self._moved += e.nbytes

    def on_file_retrying(self, e: FileRetrying, **kw) -> None:
        with self._lock:
            f = self._files.get(e.task_id)
            if f is not None:
                self._inflight -= f.sent
                f.status, f.sent, f.error = FileStatus.RETRYING, 0, e.error
                self._changed.add(e.task_id)
            self._warn(f"Retrying {e.relpath} in {e.delay:.0f} s: {e.error}")

    def on_file_done(self, e: FileDone, **kw) -> None:
        with self._lock:
            f = self._files.get(e.task_id) or _File(e.relpath, e.size)
            self._files[e.task_id] = f
            self._inflight -= f.sent
            f.size, f.sent, f.checksum = e.size, e.size, e.checksum
            f.status = FileStatus.SKIPPED if e.skipped else FileStatus.VERIFIED
            f.verified_by = e.verified_by
            self.files_done += 1
            self.bytes_verified += e.size
            self._changed.add(e.task_id)

    def on_file_failed(self, e: FileFailed, **kw) -> None:
        with self._lock:
            f = self._files.get(e.task_id) or _File(e.relpath, 0)
            self._files[e.task_id] = f
            self._inflight -= f.sent
            f.sent, f.status, f.error = 0, FileStatus.FAILED, e.error
            self.files_failed += 1
            self._changed.add(e.task_id)
            self._warn(f"Failed: {e.relpath}: {e.error}")

    def on_files_registered(self, e: FilesRegistered, **kw) -> None:
        with self._lock:
            for t in e.task_ids:
                f = self._files.get(t)
                if f is not None and f.status is FileStatus.VERIFIED:
                    f.status = FileStatus.REGISTERED
                    self._changed.add(t)

    def on_tasks_added(self, e: TasksAdded, **kw) -> None:
        with self._lock:
            self.files_total += e.files
            self.bytes_total += e.bytes

    def on_sync_status(self, e: SyncStatus, **kw) -> None:
        with self._lock:
            self.sync = e
            if e.notice:
                self._warn(e.notice)

    def on_dataset_ready(self, e: DatasetReady, **kw) -> None:
        with self._lock:
            self.dataset_id = e.dataset_id
            self._messages.append(("Created" if e.created else "Found") +
                                  f" dataset {e.dataset_id} in the catalogue.")

    def on_dataset_finalized(self, e: DatasetFinalized, **kw) -> None:
        with self._lock:
            self._messages.append(f"Dataset {e.dataset_id} marked complete in the catalogue.")

    def on_job_paused(self, e: JobPaused, **kw) -> None:
        with self._lock:
            self.paused = e.paused
            self._messages.append("Paused." if e.paused else "Resumed.")

    def on_server_silent(self, e: ServerSilent, **kw) -> None:
        when = time.strftime("%H:%M:%S", time.localtime(e.since))
        with self._lock:
            if e.restored:
                self.silent_since = None
                self._warn(f"{e.server} answers again (it was silent from {when} "
                                      f"for {e.seconds:.0f} s).")
            else:
                self.silent_since = e.since
                self._warn(f"No answer from {e.server} since {when} "
                                      f"({e.seconds:.0f} s); still trying.")

    def on_job_done(self, e: JobDone, **kw) -> None:
        with self._lock:
            self.finished = True
            self.state = e.state
            self.error = e.error
            self._elapsed = e.elapsed
            self._inflight = 0
            if e.error:
                self._messages.append(e.error)

    # -- front-end side ---------------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            now = self._clock()
            done = self.bytes_verified + max(0, self._inflight)
            # speed: bytes on the wire, not those an earlier attempt left on the server nor
            # files found already there
            self._samples.append((now, self._moved))
            while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
                self._samples.pop(0)
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            speed = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
            remaining = max(0, self.bytes_total - done)
            eta = remaining / speed if speed > 0 and not self.finished else None
            rows = tuple(FileRow(t, f.relpath, f.size, f.status, f.sent, f.checksum, f.error,
                                 f.verified_by)
                         for t in sorted(self._changed) for f in (self._files[t],))
            self._changed.clear()
            messages, self._messages = tuple(self._messages), []
            warnings, self._warnings = tuple(self._warnings), []
            return JobSnapshot(
                job_id=self.job_id, files_total=self.files_total, files_done=self.files_done,
                files_failed=self.files_failed, bytes_total=self.bytes_total,
                bytes_done=min(done, self.bytes_total) if self.bytes_total else done,
                speed=0.0 if self.finished else speed, eta=eta, paused=self.paused,
                finished=self.finished, state=self.state, changed_rows=rows, messages=messages,
                error=self.error, dataset_id=self.dataset_id,
                elapsed=self._elapsed if self.finished else now - self._start_time,
                sync=self.sync, silent_since=self.silent_since, warnings=warnings,
                started=self.started)
