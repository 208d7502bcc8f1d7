"""The journal: an SQLite database (WAL) that remembers every job, file task and state change.

Durability policy. The journal is the first subscriber of the engine's events. Most writes are
group-committed every ``commit_interval`` seconds (20,000 small files must not cost 20,000
fsyncs); a write whose loss could cause a duplicate or an orphan is committed before the side
effect it guards: the job and its tasks, the dataset id, a multipart upload id. Losing the
last group of ordinary writes to a kill costs nothing but a check: every object we upload
carries our job id and checksum in its metadata, so ``resume`` recognises a file that was
uploaded but not yet recorded, and does not upload it again.

One connection, used under a lock from any thread (engine workers call in through the event
bus); readers in other processes see committed data thanks to WAL.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import deque
from typing import Iterable, Iterator

from datauploader.core.journal_rows import EVENT_SQL as _EVENT
from datauploader.core.journal_rows import JournalRows
from datauploader.core.journal_schema import MIGRATIONS, SCHEMA_VERSION
from datauploader.core.models import DatasetDefinition, PlannedFile
from datauploader.core.records import (JobCounts, JobRecord, MultipartRecord, RemoteFileRecord,
                                       TaskRecord)
from datauploader.errors import ExitCode, InputError, UserFacingError
from datauploader.states import JobState, TaskState

log = logging.getLogger(__name__)

_TASK_STATES = {s.value: s for s in TaskState}


class JournalError(UserFacingError):
    pass


class JournalWriteError(JournalError):
    """The journal cannot record what happens (a full disk, a read-only file): the job stops;
    everything recorded so far stands, and the job resumes once the cause is fixed."""

    exit_code = ExitCode.INCOMPLETE


def write_failure(path: str, e: BaseException) -> JournalWriteError:
    """One true sentence for a failed journal write, with the fix."""
    text = str(e).lower()
    folder = os.path.dirname(os.path.abspath(path))
    if "disk is full" in text or getattr(e, "errno", None) == errno.ENOSPC:
        why = (f"the disk holding it ({folder}) is full. Free some space there, then resume the "
               "job: nothing recorded so far is lost")
    elif "readonly" in text or "read-only" in text or isinstance(e, PermissionError):
        why = (f"it (or its folder {folder}) is read-only for you. Give your user write access "
               "to it, then resume the job; do not move it aside, or its jobs can no longer be "
               "resumed")
    else:
        why = f"{e}. Check the disk, then resume the job"
    return JournalWriteError(f"The journal {path} cannot be written: {why}.",
                             details=f"{type(e).__name__}: {e}")


class UnknownJobError(JournalError, InputError):
    """A job number the journal does not know: a mistake on the command line (exit 2)."""


class Journal(JournalRows):
    def __init__(self, path: str, commit_interval: float = 0.1):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = self._connect()  # written only by the writer thread (after migration)
            self._rdb = self._connect()  # reads, under their own lock
        except sqlite3.OperationalError as e:  # read-only, a full disk, a folder we cannot use
            raise write_failure(path, e) from e
        except sqlite3.DatabaseError as e:  # not a journal at all (damaged)
            raise JournalError(f"The journal {path} cannot be opened ({e}). Move it aside to "
                               "start a new one; its jobs will no longer be listed.") from e
        self._rlock = threading.Lock()
        self.commit_interval = commit_interval
        try:
            self._migrate()
        except sqlite3.OperationalError as e:
            raise write_failure(path, e) from e
        # the write queue: workers never wait for SQLite, let alone for an fsync
        self._ops: deque = deque()
        self._seq = 0  # operations queued
        self._done = 0  # operations committed
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="journal-writer",
                                        daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"The journal {self.path} was written by a newer DataUploader (schema "
                f"{version}, this one knows {SCHEMA_VERSION}). Update DataUploader.")
        for v in range(version, SCHEMA_VERSION):
            log.info("migrating journal %s from schema %d to %d", self.path, v, v + 1)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                 (str(v + 1),))
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return int(self._read("SELECT value FROM meta WHERE key='schema_version'")[0]["value"])

    # -- the writer -------------------------------------------------------------------------
    def _enqueue(self, op) -> int:
        if self._error is not None:
            raise write_failure(self.path, self._error) from self._error
        with self._cond:
            if self._closed:
                raise JournalError("The journal is closed.")
            self._ops.append(op)
            self._seq += 1
            return self._seq

    def _write(self, sql: str, params: Iterable = ()) -> None:
        self._enqueue((sql, tuple(params), False))

    def _write_many(self, sql: str, rows: Iterable) -> None:
        self._enqueue((sql, list(rows), True))

    def _call(self, fn):
        """Run ``fn(connection)`` on the writer, in order with the queued writes; commit and
        return its result."""
        box: dict = {}
        self._enqueue((fn, box, None))
        self.commit()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def commit(self) -> None:
        """Make everything written so far durable (wait for the writer's commit)."""
        with self._cond:
            target = self._seq
            if self._done >= target:
                return
        self._wake.set()
        with self._cond:
            while self._done < target and self._error is None:
                self._cond.wait(1.0)
        if self._error is not None:
            raise write_failure(self.path, self._error) from self._error

    def _write_loop(self) -> None:
        while True:
            self._wake.wait(self.commit_interval)
            self._wake.clear()
            with self._cond:
                ops = list(self._ops)
                self._ops.clear()
                closing = self._closed
            if ops:
                try:
                    self._apply(ops)
                except BaseException as e:  # noqa: BLE001 - reported to every later caller
                    log.exception("journal write failed")
                    self._error = e
            with self._cond:
                self._done += len(ops)
                self._cond.notify_all()
            if closing and not self._ops:
                return

    def _apply(self, ops) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for a, b, many in ops:
                if many is None:  # a call: all of it or none of it
                    db.execute("SAVEPOINT call")
                    try:
                        b["result"] = a(db)
                        db.execute("RELEASE call")
                    except Exception as e:  # noqa: BLE001 - handed back to the caller
                        db.execute("ROLLBACK TO call")
                        db.execute("RELEASE call")
                        b["error"] = e
                elif many:
                    db.executemany(a, b)
                else:
                    db.execute(a, b)
            db.execute("COMMIT")
        except BaseException:
            try:  # (SQLite may have rolled back already: the real cause is what matters)
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._writer.join(timeout=30)
        self._db.close()
        with self._rlock:
            self._rdb.close()

    def _read(self, sql: str, params: Iterable = ()) -> list[dict]:
        if self._done < self._seq:  # read your own writes
            self.commit()
        with self._rlock:
            cur = self._rdb.execute(sql, tuple(params))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # -- jobs -------------------------------------------------------------------------------
    def create_job(self, *, profile: str, catalogue: str, storage: str, prefix: str,
                   definition: DatasetDefinition, files: list[PlannedFile],
                   options: dict | None = None, dataset_key: str | None = None,
                   unplanned=()) -> int:
        """``unplanned``: what should have gone but could not be planned (planner.Unplanned);
        each becomes a task in state UNPLANNED, so the job cannot end complete without it."""
        now = time.time()

        def insert(db):
            cur = db.execute(
                "INSERT INTO jobs (uuid, created, updated, profile, catalogue, storage, prefix, "
                "proposal, dataset_name, definition, options, state, dataset_key, files_total, "
                "bytes_total, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uuid.uuid4().hex, now, now, profile, catalogue, storage, prefix,
                 definition.proposal, definition.name, definition.to_json(),
                 json.dumps(options or {}), JobState.PLANNED.value, dataset_key, len(files),
                 sum(f.size for f in files), socket.gethostname(), os.getpid()))
            job_id = cur.lastrowid
            self._insert_tasks(db, job_id, files, now)
            self._insert_unplanned(db, job_id, unplanned, now)
            db.execute("INSERT INTO job_events (job_id, ts, event, detail) VALUES (?,?,?,?)",
                       (job_id, now, "planned", f"{len(files)} files"
                        + (f", {len(unplanned)} could not be planned" if unplanned else "")))
            return job_id

        return self._call(insert)

    @staticmethod
    def _insert_tasks(db, job_id: int, files: list[PlannedFile], now: float) -> list[int]:
        ids = []
        for f in files:
            cur = db.execute(
                "INSERT INTO tasks (job_id, path, relpath, key, size, mtime_ns, state, updated) "
                "VALUES (?,?,?,?,?,?,?,?)", (job_id, f.path, f.relpath, f.key, f.size,
                                             f.mtime_ns, TaskState.PLANNED.value, now))
            ids.append(cur.lastrowid)
        if files:
            db.execute("UPDATE jobs SET files_total = (SELECT COUNT(*) FROM tasks WHERE "
                       "job_id=?), bytes_total = (SELECT COALESCE(SUM(size),0) FROM tasks "
                       "WHERE job_id=?), updated=? WHERE id=?", (job_id, job_id, now, job_id))
        return ids

    @staticmethod
    def _insert_unplanned(db, job_id: int, unplanned, now: float) -> None:
        for u in unplanned:
            cur = db.execute(
                "INSERT OR IGNORE INTO tasks (job_id, path, relpath, key, size, mtime_ns, state, "
                "error, kind, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (job_id, u.path, u.relpath, "", 0, 0, TaskState.UNPLANNED.value, u.reason,
                 u.kind, now))
            if cur.rowcount:
                db.execute(_EVENT, (job_id, cur.lastrowid, now, TaskState.UNPLANNED.value, 0,
                                    u.reason))
        if unplanned:
            db.execute("UPDATE jobs SET files_total = (SELECT COUNT(*) FROM tasks WHERE "
                       "job_id=?), updated=? WHERE id=?", (job_id, now, job_id))

    def replan(self, task_id: int, files: list[PlannedFile], unplanned=()) -> int:
        """An UNPLANNED task scanned again: it is replaced by the files found (tasks that a job
        already has by name are kept as they are) and by what still cannot be planned.
        Returns the number of new file tasks."""
        now = time.time()

        def apply(db):
            job_id, relpath = db.execute("SELECT job_id, relpath FROM tasks WHERE id=?",
                                         (task_id,)).fetchone()
            db.execute("DELETE FROM task_events WHERE task_id=?", (task_id,))
            db.execute("DELETE FROM tasks WHERE id=?", (task_id,))
            have = {r[0] for r in db.execute("SELECT relpath FROM tasks WHERE job_id=?",
                                             (job_id,))}
            new = [f for f in files if f.relpath not in have]
            self._insert_tasks(db, job_id, new, now)
            self._insert_unplanned(db, job_id, unplanned, now)
            db.execute("UPDATE jobs SET files_total = (SELECT COUNT(*) FROM tasks WHERE "
                       "job_id=?), bytes_total = (SELECT COALESCE(SUM(size),0) FROM tasks "
                       "WHERE job_id=?), updated=? WHERE id=?", (job_id, job_id, now, job_id))
            db.execute("INSERT INTO job_events (job_id, ts, event, detail) VALUES (?,?,?,?)",
                       (job_id, now, "rescanned", f"{relpath}: {len(new)} files found"
                        + (f", {len(unplanned)} still unreadable" if unplanned else "")))
            return len(new)

        return self._call(apply)

    def leave_out(self, job_id: int, relpaths: Iterable[str] | None = None) -> list[str]:
        """The operator's decision: these failed files (all failed ones if ``relpaths`` is
        None) are left out of the dataset; recorded with why they had failed. Returns the
        names left out."""
        now = time.time()
        failed = (TaskState.FAILED.value, TaskState.UNPLANNED.value)
        wanted = None if relpaths is None else set(relpaths)

        def apply(db):
            rows = db.execute("SELECT id, relpath, error FROM tasks WHERE job_id=? AND state IN "
                              "(?,?) ORDER BY id", (job_id, *failed)).fetchall()
            chosen = [r for r in rows if wanted is None or r[1] in wanted]
            for tid, relpath, error in chosen:
                db.execute("UPDATE tasks SET state=?, updated=? WHERE id=?",
                           (TaskState.LEFT_OUT.value, now, tid))
                db.execute(_EVENT, (job_id, tid, now, TaskState.LEFT_OUT.value, 0,
                                    f"left out by the operator (it had failed: {error})"))
            if chosen:
                db.execute("INSERT INTO job_events (job_id, ts, event, detail) VALUES "
                           "(?,?,?,?)", (job_id, now, "left out", f"{len(chosen)} files"))
            return [r[1] for r in chosen]

        return self._call(apply)

    def set_options(self, job_id: int, options: dict) -> None:
        """The job's options (workers, bandwidth limit …), applied again on every resume."""
        self._write("UPDATE jobs SET options=?, updated=? WHERE id=?",
                    (json.dumps(options), time.time(), job_id))
        self.commit()

    def add_tasks(self, job_id: int, files: list[PlannedFile]) -> list[int]:
        """Add files to a job (sync mode adds them as they appear); returns their task ids."""
        now = time.time()
        return self._call(lambda db: self._insert_tasks(db, job_id, files, now))

    def _job_event(self, job_id: int, event: str, detail: str | None = None) -> None:
        self._write("INSERT INTO job_events (job_id, ts, event, detail) VALUES (?,?,?,?)",
                    (job_id, time.time(), event, detail))

    def set_job_state(self, job_id: int, state: JobState, error: str | None = None,
                      details: str | None = None) -> None:
        now = time.time()
        extra = ""
        params: list = [state.value, error, details, now]
        if state is JobState.RUNNING:
            extra = ", started=COALESCE(started, ?), finished=NULL, host=?, pid=?"
            params += [now, socket.gethostname(), os.getpid()]
        elif state is not JobState.PLANNED:
            extra = ", finished=?"
            params.append(now)
            # multipart bookkeeping of files that are done is no longer needed
            for table in ("parts", "multipart"):
                self._write(f"DELETE FROM {table} WHERE task_id IN (SELECT id FROM tasks WHERE "
                            "job_id=? AND state IN ('verified','registered'))", (job_id,))
        self._write(f"UPDATE jobs SET state=?, error=?, details=?, updated=?{extra} WHERE id=?",
                    (*params, job_id))
        self._job_event(job_id, state.value, error)
        self.commit()

    def set_dataset(self, job_id: int, investigation_id: str, dataset_id: str,
                    dataset_key: str | None = None) -> None:
        self._write("UPDATE jobs SET investigation_id=?, dataset_id=?, "
                    "dataset_key=COALESCE(?, dataset_key), updated=? WHERE id=?",
                    (investigation_id, dataset_id, dataset_key, time.time(), job_id))
        self._job_event(job_id, "dataset", f"investigation {investigation_id}, "
                                            f"dataset {dataset_id}")
        self.commit()

    def request_finish(self, job_id: int) -> None:
        """Sync mode: finish the dataset (from any process; remembered across crashes)."""
        self._write("UPDATE jobs SET finish_requested=COALESCE(finish_requested, ?) WHERE id=?",
                    (time.time(), job_id))
        self._job_event(job_id, "finish requested")
        self.commit()

    def finish_requested(self, job_id: int) -> bool:
        rows = self._read("SELECT finish_requested FROM jobs WHERE id=?", (job_id,))
        return bool(rows and rows[0]["finish_requested"])

    def job(self, job_id: int) -> JobRecord:
        rows = self._read("SELECT * FROM jobs WHERE id=?", (job_id,))
        if not rows:
            raise UnknownJobError(f"There is no job {job_id} in the journal; "
                                  "'datauploader jobs' lists them.")
        return self._job_record(rows[0])

    def jobs(self, limit: int | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM jobs ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._job_record(r) for r in self._read(sql)]

    @staticmethod
    def _job_record(r: dict) -> JobRecord:
        return JobRecord(
            id=r["id"], uuid=r["uuid"], created=r["created"], updated=r["updated"],
            profile=r["profile"], catalogue=r["catalogue"], storage=r["storage"],
            prefix=r["prefix"], proposal=r["proposal"], dataset_name=r["dataset_name"],
            definition=DatasetDefinition.from_json(r["definition"]),
            options=json.loads(r["options"] or "{}"), state=JobState(r["state"]),
            error=r["error"], details=r["details"], investigation_id=r["investigation_id"],
            dataset_id=r["dataset_id"], dataset_key=r["dataset_key"],
            files_total=r["files_total"], bytes_total=r["bytes_total"], started=r["started"],
            finished=r["finished"], finish_requested=r.get("finish_requested"))

    def job_events(self, job_id: int) -> list[dict]:
        return self._read("SELECT ts, event, detail FROM job_events WHERE job_id=? ORDER BY id",
                          (job_id,))

    # -- tasks ------------------------------------------------------------------------------
    def tasks(self, job_id: int, states: Iterable[TaskState] | None = None) -> list[TaskRecord]:
        sql = "SELECT * FROM tasks WHERE job_id=?"
        params: list = [job_id]
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += [s.value for s in states]
        return [self._task_record(r) for r in self._read(sql + " ORDER BY id", params)]

    def iter_tasks(self, job_id: int, batch: int = 1000) -> Iterator[TaskRecord]:
        last = 0
        while True:
            rows = self._read("SELECT * FROM tasks WHERE job_id=? AND id>? ORDER BY id LIMIT ?",
                              (job_id, last, batch))
            if not rows:
                return
            for r in rows:
                yield self._task_record(r)
            last = rows[-1]["id"]

    def latest_by_path(self, job_id: int) -> dict[str, TaskRecord]:
        """Sync mode: the newest task (version) of every local file of the job."""
        out: dict[str, TaskRecord] = {}
        for t in self.iter_tasks(job_id):
            out[t.path] = t  # ids ascend: later versions replace earlier ones
        return out

    def versions(self, job_id: int, path: str) -> int:
        return self._read("SELECT COUNT(*) AS n FROM tasks WHERE job_id=? AND path=?",
                          (job_id, path))[0]["n"]

    def task(self, task_id: int) -> TaskRecord:
        return self._task_record(self._read("SELECT * FROM tasks WHERE id=?", (task_id,))[0])

    @staticmethod
    def _task_record(r: dict) -> TaskRecord:
        return TaskRecord(
            id=r["id"], job_id=r["job_id"], path=r["path"], relpath=r["relpath"], key=r["key"],
            size=r["size"], mtime_ns=r["mtime_ns"], state=_TASK_STATES[r["state"]],
            attempts=r["attempts"], checksum=r["checksum"], algorithm=r["algorithm"],
            location=r["location"], verified_by=r["verified_by"], datafile_id=r["datafile_id"],
            error=r["error"], kind=r.get("kind") or "file", etag=r.get("etag"))

    def task_events(self, task_id: int) -> list[dict]:
        return self._read("SELECT ts, state, attempt, detail FROM task_events WHERE task_id=? "
                          "ORDER BY id", (task_id,))

    def retries(self, job_id: int) -> dict[int, int]:
        """How often each task of the job was retried (requests tried again, over all runs);
        tasks never retried are left out."""
        return {r["task_id"]: r["n"] for r in self._read(
            "SELECT task_id, COUNT(*) AS n FROM task_events WHERE job_id=? AND state='retrying' "
            "GROUP BY task_id", (job_id,))}

    def counts(self, job_id: int) -> JobCounts:
        rows = self._read("SELECT state, COUNT(*) AS n, COALESCE(SUM(size),0) AS b FROM tasks "
                          "WHERE job_id=? GROUP BY state", (job_id,))
        files = {r["state"]: r["n"] for r in rows}
        done_states = (TaskState.VERIFIED.value, TaskState.REGISTERED.value)
        return JobCounts(files=files,
                         bytes_done=sum(r["b"] for r in rows if r["state"] in done_states),
                         files_done=sum(r["n"] for r in rows if r["state"] in done_states))

    def update_task_file(self, task_id: int, size: int, mtime_ns: int) -> None:
        """Sync mode: the file was handed over again with other contents (never uploaded)."""
        self._write("UPDATE tasks SET size=?, mtime_ns=?, updated=? WHERE id=?",
                    (size, mtime_ns, time.time(), task_id))

    # -- multipart --------------------------------------------------------------------------
    def multipart(self, task_id: int) -> MultipartRecord | None:
        rows = self._read("SELECT upload_id, part_size FROM multipart WHERE task_id=?", (task_id,))
        if not rows:
            return None
        parts = {r["part_number"]: (r["size"], r["etag"], r["checksum"]) for r in self._read(
            "SELECT part_number, size, etag, checksum FROM parts WHERE task_id=?", (task_id,))}
        return MultipartRecord(task_id, rows[0]["upload_id"], rows[0]["part_size"], parts)

    def multipart_tasks(self, job_id: int) -> set[int]:
        """Tasks of the job with a multipart upload recorded (to resume)."""
        return {r["task_id"] for r in self._read(
            "SELECT m.task_id FROM multipart m JOIN tasks t ON t.id = m.task_id "
            "WHERE t.job_id=?", (job_id,))}

    def remote_file(self, task_id: int) -> RemoteFileRecord | None:
        rows = self._read("SELECT task_id, remote_id, version, status FROM remote_files WHERE "
                          "task_id=?", (task_id,))  # (etiket's file id and version)
        return RemoteFileRecord(**rows[0]) if rows else None

    def clear_multipart(self, task_id: int) -> None:
        self._write("DELETE FROM parts WHERE task_id=?", (task_id,))
        self._write("DELETE FROM multipart WHERE task_id=?", (task_id,))
        self.commit()
