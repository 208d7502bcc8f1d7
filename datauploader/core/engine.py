"""The engine: runs a job's file tasks concurrently, safely, and tells subscribers everything.

One ``run`` call takes a job from the journal to an end state:

1. lock the job (one process at a time), prove the storage credentials work;
2. find or create the dataset in the catalogue (never a second one: the dataset id is
   journaled before anything else happens, and ``find_dataset`` recognises our own);
3. list what already exists under the job's prefix (one listing, not one request per file);
4. upload every file that is not yet verified, ``workers`` at a time: each file is read once,
   its checksum computed on the way, the result verified against what the server reports.
   A key that already exists is never overwritten: it is proven identical (and adopted) or the
   file fails with a plain reason;
5. register verified files in the catalogue in batches, then finalize the dataset.

Errors are classified where they happen (``errors.classify``): transient faults are retried
with exponential backoff; a server that stays unreachable, or credentials that are refused,
stop the job (resumable); a problem with one file fails that file and the rest carry on.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import traceback
from dataclasses import dataclass, field

from datauploader.catalogue.base import Catalogue, DatafileSpec, DatasetRecord, DatasetSpec
from datauploader.core.clock import Clock
from datauploader.core.controls import JobControls
from datauploader.core.journal import Journal
from datauploader.core.locks import JobLock, TargetLock
from datauploader.core.models import FAILED_STATES, TO_UPLOAD
from datauploader.core.records import JobRecord, TaskRecord
from datauploader.core.registrar import Registrar, Stored, replaced, replaced_message
from datauploader.core.retry import RetryPolicy
from datauploader.core.throttle import Throttle
from datauploader.core.watchdog import Watchdog
from datauploader.errors import (AuthError, BusyError, CancelledError, CatalogueError, ExitCode,
                                 InputError, Reaction, UnreachableError, UserFacingError, classify,
                                 describe)
from datauploader.events import (BytesSent, DatasetFinalized, DatasetReady, EventBus, FileDone,
                                 FileFailed, FileRetrying, FileStarted, JobDone, JobPaused,
                                 JobStarted, MultipartStarted, PartDone, RemoteFileStatus)
from datauploader.source import SourceReader
from datauploader.states import JobState, TaskState
from datauploader.storage.base import (StorageBackend, TransferContext, TransferItem, UploadResult,
                                       WritesIntoDataset)

log = logging.getLogger(__name__)


#: seconds a cancelled job's transfers may take to finish before they are interrupted
CANCEL_GRACE = 2.0


@dataclass
class EngineSettings:
    workers: int = 8
    checksum: str = "sha256"
    bandwidth_limit: str = "off"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    register_batch: int = 500
    register_interval: float = 2.0
    silent_after: float = 30.0  # seconds without progress before the operator hears of it

    @classmethod
    def from_settings(cls, values: dict) -> "EngineSettings":
        return cls(workers=int(values["workers"]), checksum=str(values["checksum"]),
                   bandwidth_limit=str(values["bandwidth_limit"]),
                   retry=RetryPolicy(attempts=int(values["retries"]),
                                     max_delay=float(values["retry_max_delay"])),
                   register_batch=int(values["register_batch"]),
                   silent_after=float(values["stall_notice"]))


#: task states that need nothing more: registered, or left out by the operator
_SETTLED = (TaskState.REGISTERED, TaskState.LEFT_OUT)


def _complete(files: dict[str, int], total: int) -> bool:
    """Every task registered or left out (the dataset may be marked complete)."""
    return sum(files.get(s.value, 0) for s in _SETTLED) == total


class _StopJob(Exception):
    """Raised inside the engine once a job-level error has been recorded."""


class _FileContext(TransferContext):
    def __init__(self, run: "_Run", task: TaskRecord):
        self._run = run
        self._task = task
        self.cancel = run.controls.cancel_event

    def sent(self, nbytes: int) -> None:
        run = self._run
        run.controls.checkpoint()
        if run.stop.is_set():
            raise _StopJob()
        run.throttle.consume(nbytes, self.cancel)
        if nbytes:
            with run._err_lock:
                run.bytes_sent += nbytes
            run.watchdog.progress()
            run.bus.emit(BytesSent(run.job.id, self._task.id, nbytes))

    def bandwidth_limit(self) -> float | None:
        return self._run.throttle.current_rate()

    def resumed(self, nbytes: int) -> None:
        if nbytes:
            self._run.bus.emit(BytesSent(self._run.job.id, self._task.id, nbytes, resumed=True))

    def open_source(self, item: TransferItem) -> SourceReader:
        return self._run.engine.source_factory(item.path, item.algorithm)

    def multipart_state(self):
        return self._run.multipart(self._task.id)

    def multipart_started(self, upload_id: str, part_size: int) -> None:
        self._run.mp_tasks.add(self._task.id)
        self._run.bus.emit(MultipartStarted(self._run.job.id, self._task.id, upload_id, part_size))

    def part_done(self, part_number: int, size: int, etag: str, checksum: str) -> None:
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


class _Run:
    """The state of one ``Engine.run`` call."""

    def __init__(self, engine: "Engine", job: JobRecord, controls: JobControls, bus: EventBus):
        self.engine = engine
        self.journal = engine.journal
        self.storage = engine.storage
        self.catalogue = engine.catalogue
        self.settings = engine.settings
        self.clock = engine.clock
        self.job = job
        self.controls = controls
        self.bus = bus
        self.throttle = Throttle(self.settings.bandwidth_limit, clock=engine.clock)
        self.stop = threading.Event()
        self.job_error: BaseException | None = None
        self._err_lock = threading.Lock()
        self.existing: dict = {}
        self.registrar: Registrar | None = None
        self.watchdog = Watchdog(job.id, bus.emit, lambda: controls.paused,
                                 self.settings.silent_after)
        self.source = None
        self.failed = 0
        self.bytes_sent = 0
        # tasks with a multipart upload in the journal: the only ones worth a journal lookup
        self.mp_tasks: set[int] = engine.journal.multipart_tasks(job.id)

    def multipart(self, task_id: int):
        return self.journal.multipart(task_id) if task_id in self.mp_tasks else None

    def count_failed(self) -> None:
        with self._err_lock:
            self.failed += 1

    def stop_job(self, exc: BaseException) -> None:
        with self._err_lock:
            if self.job_error is None:
                self.job_error = exc
        self.stop.set()


class Engine:
    def __init__(self, journal: Journal, storage: StorageBackend, catalogue: Catalogue,
                 settings: EngineSettings | None = None, *, clock: Clock | None = None,
                 subscribers=(), lock_dir: str | None = None, source_factory=SourceReader):
        self.journal = journal
        self.source_factory = source_factory  # how local files are read (tests wrap it)
        self.storage = storage
        self.catalogue = catalogue
        self.settings = settings or EngineSettings()
        self.clock = clock or Clock()
        self.subscribers = list(subscribers)
        self._storage_name = storage.describe()
        self.lock_dir = lock_dir or os.path.join(os.path.dirname(os.path.abspath(journal.path)),
                                                 "locks")

    # -- the job ----------------------------------------------------------------------------
    def run(self, job_id: int, controls: JobControls | None = None, source=None) -> JobDone:
        """Run the job to an end state. ``source`` (sync mode) hands over more tasks while the
        job runs: ``source.next_tasks(timeout)`` returns a list of TaskRecords (already in the
        journal), an empty list when there is nothing new yet, or None when it is finished."""
        job = self.journal.job(job_id)
        controls = controls or JobControls()
        bus = EventBus()
        bus.subscribe(self.journal, critical=True)
        for sub in self.subscribers:
            bus.subscribe(sub)
        lock = JobLock(self.lock_dir, job.uuid)
        if not lock.acquire():
            raise BusyError(f"Job {job_id} is already running in another DataUploader window or "
                            "command; wait for it or cancel it there.")
        target = TargetLock(self.lock_dir, job.storage, job.prefix)
        if not target.acquire():
            lock.release()
            raise BusyError(f"Another job on this computer is uploading to the same dataset "
                            f"({job.prefix} on {job.storage}); wait for it to end, or use another "
                            "dataset name. Nothing was sent.")
        s = self.settings
        log.info("job %s runs with %d workers, bandwidth limit %s, checksum %s", job_id,
                 s.workers, s.bandwidth_limit, s.checksum)
        run = _Run(self, job, controls, bus)
        run.source = source
        run.watchdog.start()
        controls._listeners.append(lambda paused: bus.emit(JobPaused(job_id, paused)))
        # a cancel (Ctrl-C, SIGTERM, the window closing) lets the transfers under way finish
        # for a moment, but never waits for a silent server
        grace = threading.Timer(CANCEL_GRACE, self.storage.interrupt)
        grace.daemon = True
        controls.on_cancel(grace.start)
        started = self.clock.monotonic()
        try:
            counts = self.journal.counts(job_id)
            bus.emit(JobStarted(job_id, job.files_total, job.bytes_total, counts.files_done,
                                counts.bytes_done, resumed=job.state is not JobState.PLANNED))
            try:
                self._run(run)
            except CancelledError:
                pass
            except _StopJob:
                pass
            except BaseException as e:  # noqa: BLE001 - becomes the job's outcome
                if classify(e) is Reaction.FATAL and not isinstance(e, UserFacingError):
                    log.exception("job %s stopped by an unexpected error", job_id)
                run.stop_job(e)
            done = self._outcome(run, self.clock.monotonic() - started)
            bus.emit(done)
            return done
        finally:
            grace.cancel()
            run.watchdog.stop()
            controls._listeners.clear()
            target.release()
            lock.release()

    def _run(self, run: _Run) -> None:
        # what could not even be planned is a failure every front-end shows from the start
        for t in self.journal.tasks(run.job.id, [TaskState.UNPLANNED]):
            run.bus.emit(FileFailed(run.job.id, t.id, t.relpath, t.error or "", Reaction.UNPLANNED,
                                    t.attempts, cause="Unplanned"))
        run.controls.checkpoint()
        self._with_retries(run, self.storage.check)
        dataset = self._ensure_dataset(run)
        # a storage that writes into the catalogue's dataset (IDS) needs its id first
        if isinstance(self.storage, WritesIntoDataset):
            self.storage.use_dataset(run.job.prefix, dataset.id)
        def listing():
            return self._with_retries(run, lambda: self.storage.existing(run.job.prefix))

        run.existing = listing()
        # where the target cannot refuse to replace a name, registration waits for a proof
        hold = not self._with_retries(run, self.storage.exclusive_writes)
        run.registrar = Registrar(run, dataset.id, hold, listing)
        final = None
        try:
            # files verified in an earlier run but not yet registered
            for t in self.journal.tasks(run.job.id, [TaskState.VERIFIED]):
                run.registrar.add(self._stored(t, t.size, t.checksum, t.algorithm, t.location,
                                               t.etag, t.attempts))
            self._upload_all(run)
            if not (run.controls.cancelled or run.stop.is_set()):
                final = listing()  # the closing check: one LIST per 1,000 keys
        finally:
            run.registrar.close(final)
        if final is None or run.controls.cancelled or run.stop.is_set():
            return
        self.journal.commit()
        self._check_stored(run, final)
        counts = self.journal.counts(run.job.id)
        total = sum(counts.files.values())
        if _complete(counts.files, total):
            self._with_retries(run, lambda: self.catalogue.finalize_dataset(dataset.id),
                               self.catalogue.describe())
            run.bus.emit(DatasetFinalized(run.job.id, dataset.id))

    def _with_retries(self, run: _Run, fn, server: str | None = None):
        """``fn()`` (a call to the storage, or to ``server``), retried as the policy says."""
        policy = self.settings.retry
        tries = 0
        while True:
            tries += 1
            run.controls.checkpoint()
            try:
                with run.watchdog.busy(server or self._storage_name):
                    return fn()
            except BaseException as e:
                if run.controls.cancelled:
                    raise CancelledError() from None
                if classify(e) is not Reaction.RETRY or tries >= policy.attempts:
                    raise
                delay = policy.delay(tries, getattr(e, "retry_after", None))
                log.warning("%s; retrying in %.1fs", describe(e), delay)
                if self.clock.sleep(delay, run.controls.cancel_event):
                    raise CancelledError() from None

    # -- catalogue --------------------------------------------------------------------------
    def _ensure_dataset(self, run: _Run) -> DatasetRecord:
        job, cat = run.job, self.catalogue
        d = job.definition
        if job.dataset_id:
            ds = self._with_retries(run, lambda: cat.get_dataset(job.dataset_id), cat.describe())
            self._check_open(run, ds)
            return ds
        inv = self._with_retries(run, lambda: cat.find_investigation(d.proposal), cat.describe())
        if inv is None:
            if not cat.can_create_investigations:
                raise InputError(f"Proposal {d.proposal} is not in {cat.describe()}, or you are "
                                 "not one of its participants; check the proposal number.")
            inv = self._with_retries(run, lambda: cat.create_investigation(
                d.proposal, d.investigation_title), cat.describe())
        ds = self._with_retries(run, lambda: cat.find_dataset(inv.id, d.name, job.dataset_key), cat.describe())
        created = False
        if ds is not None:
            if ds.dataset_key != job.dataset_key:
                raise CatalogueError(
                    f"A dataset named '{d.name}' already exists in proposal {d.proposal} and was "
                    "not created by DataUploader for this upload; choose another dataset name.")
            self._check_open(run, ds)
        else:
            spec = DatasetSpec(name=d.name, dataset_key=job.dataset_key, description=d.description,
                               dataset_type=d.dataset_type, sample=d.sample,
                               keywords=tuple(d.keywords), metadata=dict(d.metadata),
                               location=self.storage.location(job.prefix))
            ds = self._with_retries(run, lambda: cat.create_dataset(inv.id, spec), cat.describe())
            created = True
        run.bus.emit(DatasetReady(job.id, inv.id, ds.id, created))
        return ds

    def _check_open(self, run: _Run, ds: DatasetRecord) -> None:
        if not ds.complete:
            return
        known = {f.name for f in ds.datafiles}
        new = [t.relpath for t in self.journal.tasks(run.job.id)
               if t.state not in _SETTLED and t.relpath not in known]
        if new:
            raise CatalogueError(
                f"Dataset '{ds.name}' is already complete in the catalogue and takes no more "
                f"files ({len(new)} new, e.g. {new[0]}); upload them as a new dataset.")

    @staticmethod
    def _stored(task: TaskRecord, size: int, checksum: str, algorithm: str, location: str,
                etag: str | None, attempt: int) -> Stored:
        spec = DatafileSpec(name=task.relpath, size=size, checksum=checksum, algorithm=algorithm,
                            location=location, mtime=task.mtime_ns / 1e9, local_path=task.path)
        return Stored(task.id, task.relpath, task.key, size, etag, spec, attempt)

    def _check_stored(self, run: _Run, listing: dict) -> None:
        """The closing check: every file this job verified or registered is still, under its
        key, what the job stored; one that is not fails (the dataset is not marked complete)."""
        for t in self.journal.tasks(run.job.id, [TaskState.VERIFIED, TaskState.REGISTERED]):
            stored = self._stored(t, t.size, t.checksum or "", t.algorithm or "", "", t.etag,
                                  t.attempts)
            why = replaced(stored, listing.get(t.key))
            if why is not None:
                run.bus.emit(FileFailed(
                    run.job.id, t.id, t.relpath,
                    replaced_message(t.relpath, t.key, why, t.state is TaskState.REGISTERED),
                    Reaction.FILE, t.attempts, cause="ReplacedError"))
                run.count_failed()
        self.journal.commit()

    # -- transfers --------------------------------------------------------------------------
    def _upload_all(self, run: _Run) -> None:
        """Feed the tasks to ``workers`` threads through a short queue (memory stays flat
        whatever the number of files)."""
        workers = max(1, self.settings.workers)
        todo: queue.Queue = queue.Queue(maxsize=workers * 2)

        def work():
            while True:
                task = todo.get()
                if task is None:
                    return
                self._transfer_guarded(run, task)

        threads = [threading.Thread(target=work, name=f"upload-{i}", daemon=True)
                   for i in range(workers)]
        for t in threads:
            t.start()
        def feed(task) -> bool:
            while not run.stop.is_set() and not run.controls.cancelled:
                try:
                    todo.put(task, timeout=0.2)
                    return True
                except queue.Full:
                    pass
            return False

        try:
            source = run.source
            if source is None:  # a sync-mode source hands over the journal's tasks itself
                for task in self.journal.iter_tasks(run.job.id):
                    if task.state in TO_UPLOAD and not feed(task):
                        break
            while source is not None and not run.stop.is_set() and not run.controls.cancelled:
                batch = source.next_tasks(timeout=0.5)
                if batch is None:
                    break  # finished: everything it will ever hand over was handed over
                for task in batch:
                    if not feed(task):
                        break
        finally:
            for _ in threads:
                todo.put(None)
            for t in threads:
                t.join()

    def _transfer_guarded(self, run: _Run, task: TaskRecord) -> None:
        try:
            self._transfer(run, task)
        except (CancelledError, _StopJob):
            pass
        except BaseException as e:  # noqa: BLE001 - last resort: never lose an error silently
            log.exception("unexpected error in a worker")
            run.stop_job(e)

    def _transfer(self, run: _Run, task: TaskRecord) -> None:
        job = run.job
        item = TransferItem(task_id=task.id, path=task.path, key=task.key, size=task.size,
                            algorithm=self.settings.checksum, job_uuid=job.uuid)
        ctx = _FileContext(run, task)
        policy = self.settings.retry
        attempt = task.attempts
        tries = 0
        while True:
            tries += 1
            attempt += 1
            run.controls.checkpoint()
            if run.stop.is_set():
                return
            mp = run.multipart(task.id)
            resumed = sum(p[0] for p in mp.parts.values()) if mp else 0
            run.bus.emit(FileStarted(job.id, task.id, task.relpath, task.size, attempt, resumed))
            try:
                remote = run.existing.get(task.key)
                with run.watchdog.busy(self._storage_name):
                    if remote is not None:
                        result = self.storage.adopt(item, remote, ctx)
                    else:
                        result = self.storage.upload(item, ctx)
            except (CancelledError, _StopJob):
                raise
            except BaseException as exc:  # noqa: BLE001 - classified below
                if run.controls.cancelled:  # interrupted by the cancel: not a failure
                    raise CancelledError() from None
                kind = classify(exc)
                if kind is Reaction.RETRY and tries < policy.attempts and not run.stop.is_set():
                    delay = policy.delay(tries, getattr(exc, "retry_after", None))
                    run.bus.emit(FileRetrying(job.id, task.id, task.relpath, attempt, delay,
                                              describe(exc)))
                    if self.clock.sleep(delay, run.controls.cancel_event):
                        raise CancelledError() from None
                    continue
                details = None
                if kind is Reaction.FATAL:
                    log.error("unexpected error uploading %s", task.path, exc_info=exc)
                    details = "".join(traceback.format_exception(exc))
                elif getattr(exc, "details", None):
                    details = exc.details
                run.bus.emit(FileFailed(job.id, task.id, task.relpath, describe(exc), kind,
                                        attempt, details, type(exc).__name__))
                if kind is Reaction.FILE:
                    try:
                        self.storage.cleanup_task(item, ctx)
                    except Exception:  # noqa: BLE001 - best effort
                        log.debug("cleanup of %s failed", task.key, exc_info=True)
                if kind is Reaction.AUTH or isinstance(exc, UnreachableError):
                    run.stop_job(exc)  # every other file would fail the same way
                else:
                    with run._err_lock:
                        run.failed += 1
                return
            self._done(run, task, result, attempt)
            return

    def _done(self, run: _Run, task: TaskRecord, result: UploadResult, attempt: int) -> None:
        run.bus.emit(FileDone(run.job.id, task.id, task.relpath, result.size, result.checksum,
                              self.settings.checksum, task.key, result.location,
                              result.verified_by, result.skipped, result.etag))
        run.registrar.add(self._stored(task, result.size, result.checksum, self.settings.checksum,
                                       result.location, result.etag, attempt))

    # -- outcome ----------------------------------------------------------------------------
    def _outcome(self, run: _Run, elapsed: float) -> JobDone:
        self.journal.commit()
        counts = self.journal.counts(run.job.id)
        failed = sum(counts.files.get(s.value, 0) for s in FAILED_STATES)
        ok = counts.files.get(TaskState.REGISTERED.value, 0)
        left_out = counts.files.get(TaskState.LEFT_OUT.value, 0)
        job_id = run.job.id
        err = run.job_error
        if run.controls.cancelled and err is None:
            return JobDone(job_id, JobState.CANCELLED, ok, failed, counts.bytes_done,
                           elapsed, "The job was cancelled; resume it to finish the upload.",
                           exit_code=ExitCode.INTERRUPTED, bytes_sent=run.bytes_sent)
        if err is not None:
            details = None
            if classify(err) is Reaction.FATAL and not isinstance(err, UserFacingError):
                details = "".join(traceback.format_exception(err))
            elif getattr(err, "details", None):
                details = err.details
            message = describe(err)
            if (classify(err) in (Reaction.RETRY, Reaction.AUTH)
                    or isinstance(err, UnreachableError)):
                message += f" Nothing is lost: resume the job (datauploader resume {job_id})."
            code = getattr(err, "exit_code", ExitCode.ERROR)
            if isinstance(err, AuthError):
                code = ExitCode.AUTH
            elif classify(err) is Reaction.RETRY:
                code = ExitCode.UNREACHABLE
            return JobDone(job_id, JobState.FAILED, ok, failed, counts.bytes_done, elapsed,
                           message, details, exit_code=code, bytes_sent=run.bytes_sent)
        total = sum(counts.files.values())
        if failed or not _complete(counts.files, total):
            msg = (f"{failed} of {total} files failed; the others are uploaded and registered. "
                   f"Fix the causes shown, then resume the job (datauploader resume {job_id}), "
                   f"or leave them out of the dataset (datauploader leave-out {job_id}).")
            return JobDone(job_id, JobState.INCOMPLETE, ok, failed, counts.bytes_done,
                           elapsed, msg, exit_code=ExitCode.INCOMPLETE, bytes_sent=run.bytes_sent)
        return JobDone(job_id, JobState.COMPLETED, ok, 0, counts.bytes_done, elapsed,
                       bytes_sent=run.bytes_sent, files_left_out=left_out)
