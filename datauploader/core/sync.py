"""Sync mode: upload during acquisition, each file as soon as it is complete, until Finish.

``SyncJob`` joins the folder watcher to the engine: it is the engine's task *source* (complete
files become tasks in the journal, then go to the workers) and one of its subscribers (to
know what was verified, and to put back a file that turned out to be still changing). The
dataset stays open while watching. Finish (from the GUI, ``datauploader finish JOB`` from any
process, or after a configured idle time) makes a last scan, waits for the files still
settling, hands over what remains, and lets the engine finalize the dataset.

A file that changes after its upload follows the profile's policy: ``version`` uploads it
again beside the old one (``frame.h5`` → ``frame.v2.h5``, registered as its own datafile),
``skip`` reports it and leaves it; never an overwrite.

Everything is in the journal, so watching survives a restart: the files handed over before
are known (unchanged ones are not looked at again), and files created meanwhile are found by
the first scan.
"""

from __future__ import annotations

import logging
import threading
import time

from datauploader.core.journal import Journal
from datauploader.core.keys import join_safe
from datauploader.core.models import PlannedFile
from datauploader.core.records import JobRecord, TaskRecord
from datauploader.core.watch import FolderWatcher, Ready, WatchSettings
from datauploader.errors import UserFacingError, describe
from datauploader.events import (EventBus, FileDone, FileFailed, Subscriber, SyncStatus, TasksAdded,
                                 WatchedRoot)
from datauploader.states import TaskState

log = logging.getLogger(__name__)

_DONE = (TaskState.VERIFIED, TaskState.REGISTERED)


def versioned(relpath: str, n: int) -> str:
    """'run/frame_001.h5' → 'run/frame_001.v2.h5' (the version before the first dot)."""
    folder, _, name = relpath.rpartition("/")
    stem, dot, rest = name.partition(".")
    if not stem:  # a dot file such as ".hidden"
        new = f"{name}.v{n}"
    else:
        new = f"{stem}.v{n}{dot}{rest}"
    return f"{folder}/{new}" if folder else new


class SyncJob(Subscriber):
    def __init__(self, journal: Journal, job: JobRecord, name_rules, settings: WatchSettings,
                 controls, subscribers=(), on_modified: str = "version",
                 idle_warning: float = 1800.0, finish_after_idle: float | None = None,
                 clock=time.monotonic):
        self.journal = journal
        self.job = job
        self.rules = name_rules
        self.settings = settings
        self.controls = controls
        self.on_modified = on_modified
        self.idle_warning = idle_warning
        self.finish_after_idle = finish_after_idle
        self.clock = clock
        self.bus = EventBus(subscribers)
        self._lock = threading.Lock()
        # what the journal knows: the newest task of each local file, and every name in use
        self.latest: dict[str, TaskRecord] = journal.latest_by_path(job.id)
        self._paths: dict[int, str] = {t.id: p for p, t in self.latest.items()}
        self.relpaths = {t.relpath for t in journal.iter_tasks(job.id)}
        self.versions: dict[str, int] = {}
        for t in journal.iter_tasks(job.id):
            self.versions[t.path] = self.versions.get(t.path, 0) + 1
        self.uploaded = sum(1 for t in self.latest.values() if t.state in _DONE)
        known = {p: (t.size, t.mtime_ns) for p, t in self.latest.items()
                 if t.state is not TaskState.FAILED}
        # handed over before a crash or a stop, never finished: they go first
        self._leftover = [t for t in self.latest.values()
                          if t.state in (TaskState.PLANNED, TaskState.UPLOADING, TaskState.UPLOADED)]
        self._in_flight: set[int] = set()
        self._retry: list[str] = []  # paths whose upload found them still changing
        self.failed = 0
        self.modified_skipped = 0
        self._notices: list[str] = []
        self.watcher = FolderWatcher(job.definition.paths, settings, known, clock=clock,
                                     notify=self._notice)
        self._finishing = journal.finish_requested(job.id)
        self._final_scanned = False
        self._finished = False
        self._last_status = -1e18
        self._last_finish_poll = clock()
        self._root_states = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.watcher.start()
        self._emit_status(force=True)

    def stop(self) -> None:
        self.watcher.stop()

    def _notice(self, text: str) -> None:
        log.info("sync job %s: %s", self.job.id, text)
        with self._lock:
            self._notices.append(text)

    # -- engine source ----------------------------------------------------------------------
    def next_tasks(self, timeout: float) -> list[TaskRecord] | None:
        if self._finished:
            return None
        self._check_finish()
        with self._lock:
            retry, self._retry = self._retry, []
        for path in retry:
            self.watcher.forget(path)
        if self._leftover:
            tasks, self._leftover = self._leftover, []
            with self._lock:
                self._in_flight.update(t.id for t in tasks)
            return tasks
        ready = self.watcher.tick()
        if self._finishing and not self._final_scanned:
            self._notice("Finishing: a last look at the folders, then the files still being "
                         "written are waited for.")
            self.watcher.full_scan()
            self._final_scanned = True
            ready += self.watcher.tick()
        tasks = self._hand_over(ready)
        if self._finishing:
            with self._lock:
                idle = not self._in_flight and not self._retry
            if not tasks and idle and self.watcher.pending == 0:
                self._finished = True
        self._emit_status(force=bool(tasks) or self._finished)
        if not tasks and not self._finished:
            self.watcher.wait(min(timeout, self.settings.tick), self.controls.finish_event,
                              self.controls.cancel_event)
        return tasks

    def _check_finish(self) -> None:
        if self._finishing:
            return
        if self.controls.finish_event.is_set():
            self._finishing = True
        now = self.clock()
        if not self._finishing and now - self._last_finish_poll >= 2.0:
            self._last_finish_poll = now  # `datauploader finish JOB` from another process
            self._finishing = self.journal.finish_requested(self.job.id)
        if not self._finishing and self.finish_after_idle is not None:
            with self._lock:
                busy = bool(self._in_flight or self._retry)
            quiet = now - self.watcher.last_new_mono
            if not busy and self.watcher.pending == 0 and quiet >= self.finish_after_idle:
                self._notice(f"No new file for {quiet:.0f} s: finishing.")
                self._finishing = True
        if self._finishing:
            self.journal.request_finish(self.job.id)

    def _hand_over(self, ready: list[Ready]) -> list[TaskRecord]:
        if not ready:
            return []
        again: list[TaskRecord] = []
        new: list[PlannedFile] = []
        for r in ready:
            prev = self.latest.get(r.path)
            if prev is not None and prev.state not in _DONE:
                # never uploaded (it was changing, or failed): the same task, new contents
                rec = _with(prev, r.size, r.mtime_ns)
                self.latest[r.path] = rec
                again.append(rec)
                continue
            relpath = r.relpath
            if prev is not None:
                if self.on_modified == "skip":
                    self.modified_skipped += 1
                    self._notice(f"{r.relpath} changed after it was uploaded; left alone "
                                 "(policy: skip).")
                    continue
                relpath = versioned(r.relpath, self.versions.get(r.path, 1) + 1)
            n = 2
            base = relpath
            while relpath in self.relpaths:  # a name already taken in this dataset
                relpath = versioned(base, n)
                n += 1
            try:
                key = join_safe(self.job.prefix, relpath, self.rules)
            except UserFacingError as e:
                self._notice(f"{r.relpath} cannot be uploaded: {describe(e)}")
                continue
            if prev is not None:
                self._notice(f"{r.relpath} changed after it was uploaded; the new contents go "
                             f"beside it as {relpath}.")
            new.append(PlannedFile(r.path, relpath, key, r.size, r.mtime_ns))
        records = list(again)
        if new:
            ids = self.journal.add_tasks(self.job.id, new)
            for task_id, f in zip(ids, new):
                rec = TaskRecord(task_id, self.job.id, f.path, f.relpath, f.key, f.size,
                                 f.mtime_ns, TaskState.PLANNED, 0, None, None, None, None,
                                 None, None)
                self.latest[f.path] = rec
                self._paths[task_id] = f.path
                self.relpaths.add(f.relpath)
                self.versions[f.path] = self.versions.get(f.path, 0) + 1
                records.append(rec)
        for rec in again:
            self.journal.update_task_file(rec.id, rec.size, rec.mtime_ns)
        with self._lock:
            self._in_flight.update(r.id for r in records)
        if records:
            self.bus.emit(TasksAdded(self.job.id, len(new), sum(f.size for f in new)))
        return records

    # -- engine events ----------------------------------------------------------------------
    def on_file_done(self, e: FileDone, **kw) -> None:
        with self._lock:
            self._in_flight.discard(e.task_id)
            self.uploaded += 1
        rec = self.latest.get(self._path_of(e.task_id))
        if rec is not None and rec.id == e.task_id:
            self.latest[rec.path] = _with(rec, e.size, rec.mtime_ns, TaskState.VERIFIED)

    def on_file_failed(self, e: FileFailed, **kw) -> None:
        path = self._path_of(e.task_id)
        with self._lock:
            self._in_flight.discard(e.task_id)
            if e.cause == "FileChangedError" and path:
                self._retry.append(path)  # still being written: gate it again
                return
            self.failed += 1
        if path and path in self.latest:
            self.latest[path] = _with(self.latest[path], None, None, TaskState.FAILED)

    def _path_of(self, task_id: int) -> str | None:
        return self._paths.get(task_id)

    # -- status -----------------------------------------------------------------------------
    def _emit_status(self, force: bool = False) -> None:
        now = self.clock()
        roots = tuple(WatchedRoot(*r) for r in self.watcher.status())
        with self._lock:
            notices, self._notices = self._notices, []
            queued = len(self._in_flight)
        if roots != self._root_states:
            self._root_states = roots
            force = True
        if not (force or notices or now - self._last_status >= 1.0):
            return
        self._last_status = now
        last = self.watcher.last_new
        idle = now - self.watcher.last_new_mono
        warn = bool(self.idle_warning) and idle >= self.idle_warning and not self._finishing
        for i, text in enumerate(notices or [None]):
            self.bus.emit(SyncStatus(
                job_id=self.job.id, roots=roots, seen=self.watcher.seen,
                settling=self.watcher.pending, queued=queued, uploaded=self.uploaded,
                failed=self.failed, modified_skipped=self.modified_skipped,
                last_file=last[0] if last else None, last_file_at=last[1] if last else None,
                idle_warning=warn, finishing=self._finishing, notice=text))


def _with(rec: TaskRecord, size, mtime_ns, state: TaskState | None = None) -> TaskRecord:
    from dataclasses import replace
    changes = {}
    if size is not None:
        changes["size"] = size
    if mtime_ns is not None:
        changes["mtime_ns"] = mtime_ns
    if state is not None:
        changes["state"] = state
    return replace(rec, **changes)
