"""What the engine gives a backend for one file: bytes accounted (throttle, progress, the job's
stop), multipart bookkeeping (journaled), and each request's own retries.

Retries are counted per request, not per file: a part of a large file that meets a server
fault is tried again by itself, and only a request whose tries are all used up fails the file
(marked, so that the engine does not try the whole file again). Each retry is reported: the
journal keeps it (``retries`` in the job document), the log file has a line, progress displays
show it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from datauploader.core.records import TaskRecord
from datauploader.errors import CancelledError, Reaction, classify, describe
from datauploader.events import (BytesSent, FileRetrying, MultipartStarted, PartDone,
                                 RemoteFileStatus)
from datauploader.source import SourceReader
from datauploader.storage.base import TransferContext, TransferItem

log = logging.getLogger("datauploader.core.engine")


class StopJob(Exception):
    """Raised inside the engine once a job-level error has been recorded."""


class FileContext(TransferContext):
    """``run``: the engine's state of the job's run (its bus, journal, settings, clock)."""

    def __init__(self, run, task: TaskRecord):
        self._run = run
        self._task = task
        self.cancel = run.controls.cancel_event
        self.attempt = task.attempts  # the file's attempt now (the engine sets it)
        self._lock = threading.Lock()  # over the bytes reported and the events that move them
        self._reported = 0  # bytes of this file shown as done in progress displays
        self._local = threading.local()  # per request thread: bytes its request reported

    def sent(self, nbytes: int) -> None:
        run = self._run
        run.controls.checkpoint()
        if run.stop.is_set():
            raise StopJob()
        run.throttle.consume(nbytes, self.cancel)
        if nbytes:
            with run._err_lock:
                run.bytes_sent += nbytes
            self._local.request_bytes = getattr(self._local, "request_bytes", 0) + nbytes
            run.watchdog.progress()
            with self._lock:
                self._reported += nbytes
                run.bus.emit(BytesSent(run.job.id, self._task.id, nbytes))

    def bandwidth_limit(self) -> float | None:
        return self._run.throttle.current_rate()

    def resumed(self, nbytes: int) -> None:
        if nbytes:
            with self._lock:
                self._reported += nbytes
                self._run.bus.emit(BytesSent(self._run.job.id, self._task.id, nbytes,
                                             resumed=True))

    def open_source(self, item: TransferItem) -> SourceReader:
        return self._run.engine.source_factory(item.path, item.algorithm)

    def multipart_state(self):
        return self._run.multipart(self._task.id)

    def multipart_started(self, upload_id: str, part_size: int) -> None:
        self._run.mp_tasks.add(self._task.id)
        self._run.bus.emit(MultipartStarted(self._run.job.id, self._task.id, upload_id, part_size))

    def part_done(self, part_number: int, size: int, etag: str, checksum: str) -> None:
        self._run.succeeded()
        self._run.bus.emit(PartDone(self._run.job.id, self._task.id, part_number, size, etag,
                                    checksum))

    def multipart_forgotten(self) -> None:
        self._run.mp_tasks.discard(self._task.id)
        self._run.journal.clear_multipart(self._task.id)

    def remote_file(self):
        return self._run.journal.remote_file(self._task.id)

    def remote_file_status(self, remote_id: str, version: str, status: str,
                           durable: bool = False) -> None:
        self._run.bus.emit(RemoteFileStatus(self._run.job.id, self._task.id, remote_id, version,
                                            status, durable))

    def request(self, what: str, send):
        run = self._run
        policy = run.settings.retry
        tries = 0
        first: Tries | None = None
        while True:
            tries += 1
            self._local.request_bytes = 0
            try:
                result = send()
            except (CancelledError, StopJob):
                raise
            except BaseException as exc:  # noqa: BLE001 - classified here
                if run.controls.cancelled:  # interrupted by the cancel: not a failure
                    raise CancelledError() from None
                if classify(exc) is not Reaction.RETRY:
                    raise
                if first is None:
                    first = Tries(run.successes, run.clock.monotonic())
                if tries >= policy.attempts or run.stop.is_set():
                    first.count = tries
                    exc.du_tries = first  # spent: the engine does not try the file again
                    raise
                delay = policy.delay(tries, getattr(exc, "retry_after", None))
                self.retrying(f"{what}: {describe(exc)}", delay, self._local.request_bytes,
                              tries, policy.attempts)
                if run.clock.sleep(delay, run.controls.cancel_event):
                    raise CancelledError() from None
                continue
            run.succeeded()
            return result

    def retrying(self, error: str, delay: float, lost: int | None, tries: int,
                 attempts: int) -> None:
        """Report a retry (journal, log file, progress); ``lost``: the bytes the failed
        request had reported, withdrawn from the file's progress (None: the whole file's)."""
        run, task = self._run, self._task
        log.warning("%s, %s%s Try %d of %d in %.1f s.", task.relpath, error,
                    "" if error.endswith(".") else ".", tries + 1, attempts, delay)
        with self._lock:
            # displays start the file from nothing on a retry; what other requests of the file
            # moved is given back to them at once
            run.bus.emit(FileRetrying(run.job.id, task.id, task.relpath, self.attempt, delay,
                                      error))
            self._reported = 0 if lost is None else max(0, self._reported - lost)
            if self._reported:
                run.bus.emit(BytesSent(run.job.id, task.id, self._reported, resumed=True))


@dataclass
class Tries:
    """A request's or a file's run of failed tries: how many successes the whole job had
    counted when the first one failed (none since: the server seems unavailable), and when."""

    successes: int
    since: float
    count: int = 0
