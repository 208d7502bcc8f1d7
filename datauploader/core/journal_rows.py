"""The engine's events become journal rows: the journal is the first subscriber of every job,
so each state change is queued for the journal before anyone else hears of it. A mixin of
``Journal`` (which provides ``_write``, ``_write_many``, ``commit`` and the job methods)."""

from __future__ import annotations

import time

from datauploader.errors import Reaction
from datauploader.events import (DatasetFinalized, DatasetReady, FileDone, FileFailed, FileRetrying,
                                 FilesRegistered, FileStarted, JobDone, JobStarted,
                                 MultipartStarted, PartDone, RemoteFileStatus, Subscriber)
from datauploader.states import JobState, TaskState

EVENT_SQL = ("INSERT INTO task_events (job_id, task_id, ts, state, attempt, detail) "
             "VALUES (?,?,?,?,?,?)")
_EVENT = EVENT_SQL


class JournalRows(Subscriber):
    def on_job_started(self, e: JobStarted, **kw) -> None:
        self.set_job_state(e.job_id, JobState.RUNNING)

    def on_file_started(self, e: FileStarted, **kw) -> None:
        now = time.time()
        self._write("UPDATE tasks SET state=?, attempts=?, error=NULL, updated=? WHERE id=?",
                    (TaskState.UPLOADING.value, e.attempt, now, e.task_id))
        self._write(_EVENT, (e.job_id, e.task_id, now, TaskState.UPLOADING.value, e.attempt,
                             f"resuming after {e.resumed_bytes} bytes" if e.resumed_bytes
                             else None))

    def on_file_retrying(self, e: FileRetrying, **kw) -> None:
        self._write(_EVENT, (e.job_id, e.task_id, time.time(), "retrying", e.attempt,
                             f"in {e.delay:.1f}s: {e.error}"))

    def on_multipart_started(self, e: MultipartStarted, **kw) -> None:
        # committed before the first part is sent: an upload id must never be forgotten
        self._write("INSERT OR REPLACE INTO multipart VALUES (?,?,?,?)",
                    (e.task_id, e.upload_id, e.part_size, time.time()))
        self._write("DELETE FROM parts WHERE task_id=?", (e.task_id,))
        self.commit()

    def on_part_done(self, e: PartDone, **kw) -> None:
        self._write("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?)",
                    (e.task_id, e.part_number, e.size, e.etag, e.checksum))

    def on_remote_file_status(self, e: RemoteFileStatus, **kw) -> None:
        self._write("INSERT OR REPLACE INTO remote_files VALUES (?,?,?,?,?)",
                    (e.task_id, e.remote_id, e.version, e.status, time.time()))
        e.durable and self.commit()  # before the step it announces (a version to register)

    def on_file_done(self, e: FileDone, **kw) -> None:
        now = time.time()
        self._write("UPDATE tasks SET state=?, updated=?, size=?, checksum=?, algorithm=?, "
                    "location=?, verified_by=?, etag=?, error=NULL WHERE id=?",
                    (TaskState.VERIFIED.value, now, e.size, e.checksum, e.algorithm, e.location,
                     e.verified_by, e.etag, e.task_id))
        detail = f"verified by {e.verified_by}"
        if e.skipped:
            self._write(_EVENT, (e.job_id, e.task_id, now, TaskState.VERIFIED.value, 0,
                                 "already on the server with identical content; " + detail))
        else:
            self._write_many(_EVENT, [
                (e.job_id, e.task_id, now, TaskState.UPLOADED.value, 0, None),
                (e.job_id, e.task_id, now, TaskState.VERIFIED.value, 0, detail)])

    def on_file_failed(self, e: FileFailed, **kw) -> None:
        if e.kind is Reaction.UNPLANNED:  # recorded as such; the event only tells the others
            return
        now = time.time()
        self._write("UPDATE tasks SET state=?, attempts=?, error=?, updated=? WHERE id=?",
                    (TaskState.FAILED.value, e.attempts, e.error, now, e.task_id))
        self._write(_EVENT, (e.job_id, e.task_id, now, TaskState.FAILED.value, e.attempts,
                             e.error))

    def on_dataset_ready(self, e: DatasetReady, **kw) -> None:
        self.set_dataset(e.job_id, e.investigation_id, e.dataset_id)

    def on_files_registered(self, e: FilesRegistered, **kw) -> None:
        now = time.time()
        self._write_many("UPDATE tasks SET state=?, datafile_id=?, updated=? WHERE id=?",
                         [(TaskState.REGISTERED.value, d, now, t)
                          for t, d in zip(e.task_ids, e.datafile_ids)])
        self._write_many(_EVENT, [(e.job_id, t, now, TaskState.REGISTERED.value, 0,
                                   f"datafile {d}") for t, d in zip(e.task_ids, e.datafile_ids)])

    def on_dataset_finalized(self, e: DatasetFinalized, **kw) -> None:
        self._job_event(e.job_id, "finalized", f"dataset {e.dataset_id}")
        self.commit()

    def on_job_done(self, e: JobDone, **kw) -> None:
        self.set_job_state(e.job_id, JobState(e.state), e.error, e.details)
