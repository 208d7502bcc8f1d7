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

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterable, Iterator

from datauploader.core.models import DatasetDefinition, JobState, PlannedFile, TaskState
from datauploader.errors import UserFacingError
from datauploader.events import (DatasetFinalized, DatasetReady, FileDone, FileFailed,
                                 FileRetrying, FilesRegistered, FileStarted, JobDone, JobStarted,
                                 MultipartStarted, PartDone, Subscriber)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Ordered migrations: MIGRATIONS[i] takes a database from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        profile TEXT NOT NULL,
        catalogue TEXT NOT NULL,
        storage TEXT NOT NULL,
        prefix TEXT NOT NULL,
        proposal TEXT NOT NULL,
        dataset_name TEXT NOT NULL,
        definition TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        error TEXT,
        details TEXT,
        investigation_id TEXT,
        dataset_id TEXT,
        dataset_key TEXT,
        files_total INTEGER NOT NULL DEFAULT 0,
        bytes_total INTEGER NOT NULL DEFAULT 0,
        started REAL,
        finished REAL,
        host TEXT,
        pid INTEGER
    );
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        path TEXT NOT NULL,
        relpath TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        checksum TEXT,
        algorithm TEXT,
        location TEXT,
        verified_by TEXT,
        datafile_id TEXT,
        error TEXT,
        updated REAL NOT NULL,
        UNIQUE (job_id, relpath)
    );
    CREATE INDEX tasks_by_job_state ON tasks (job_id, state);
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        task_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        detail TEXT
    );
    CREATE INDEX task_events_by_task ON task_events (task_id);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        event TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE multipart (
        task_id INTEGER PRIMARY KEY,
        upload_id TEXT NOT NULL,
        part_size INTEGER NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE parts (
        task_id INTEGER NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum TEXT,
        PRIMARY KEY (task_id, part_number)
    );
    """,
]


class JournalError(UserFacingError):
    pass


@dataclass(frozen=True)
class JobRecord:
    id: int
    uuid: str
    created: float
    updated: float
    profile: str
    catalogue: str
    storage: str
    prefix: str
    proposal: str
    dataset_name: str
    definition: DatasetDefinition
    options: dict
    state: JobState
    error: str | None
    details: str | None
    investigation_id: str | None
    dataset_id: str | None
    dataset_key: str | None
    files_total: int
    bytes_total: int
    started: float | None
    finished: float | None


@dataclass(frozen=True)
class TaskRecord:
    id: int
    job_id: int
    path: str
    relpath: str
    key: str
    size: int
    mtime_ns: int
    state: TaskState
    attempts: int
    checksum: str | None
    algorithm: str | None
    location: str | None
    verified_by: str | None
    datafile_id: str | None
    error: str | None


@dataclass(frozen=True)
class MultipartRecord:
    task_id: int
    upload_id: str
    part_size: int
    parts: dict[int, tuple[int, str, str | None]]  # number → (size, etag, checksum)


@dataclass(frozen=True)
class JobCounts:
    files: dict[str, int]
    bytes_done: int
    files_done: int


class Journal(Subscriber):
    def __init__(self, path: str, commit_interval: float = 0.1):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as e:
            raise JournalError(f"The journal {path} cannot be opened ({e}). Move it aside to "
                               "start a new one; its jobs will no longer be listed.") from e
        self._lock = threading.RLock()
        self._in_tx = False
        self._pending = 0
        self.commit_interval = commit_interval
        self._migrate()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="journal-flush",
                                         daemon=True)
        self._flusher.start()

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
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
        with self._lock:
            return int(self._db.execute(
                "SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # -- transactions -----------------------------------------------------------------------
    def _write(self, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        with self._lock:
            if not self._in_tx:
                self._db.execute("BEGIN IMMEDIATE")
                self._in_tx = True
            self._pending += 1
            return self._db.execute(sql, tuple(params))

    def _write_many(self, sql: str, rows: Iterable) -> None:
        with self._lock:
            if not self._in_tx:
                self._db.execute("BEGIN IMMEDIATE")
                self._in_tx = True
            self._pending += 1
            self._db.executemany(sql, rows)

    def commit(self) -> None:
        """Make everything written so far durable."""
        with self._lock:
            if self._in_tx:
                self._db.execute("COMMIT")
                self._in_tx = False
                self._pending = 0

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.commit_interval):
            try:
                if self._pending:
                    self.commit()
            except sqlite3.Error:
                log.exception("journal commit failed")

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=5)
        with self._lock:
            self.commit()
            self._db.close()

    def _read(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, tuple(params))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # -- jobs -------------------------------------------------------------------------------
    def create_job(self, *, profile: str, catalogue: str, storage: str, prefix: str,
                   definition: DatasetDefinition, files: list[PlannedFile],
                   options: dict | None = None, dataset_key: str | None = None) -> int:
        now = time.time()
        with self._lock:
            self.commit()
            cur = self._write(
                "INSERT INTO jobs (uuid, created, updated, profile, catalogue, storage, prefix, "
                "proposal, dataset_name, definition, options, state, dataset_key, files_total, "
                "bytes_total, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uuid.uuid4().hex, now, now, profile, catalogue, storage, prefix,
                 definition.proposal, definition.name, definition.to_json(),
                 json.dumps(options or {}), JobState.PLANNED.value, dataset_key, len(files),
                 sum(f.size for f in files), socket.gethostname(), os.getpid()))
            job_id = cur.lastrowid
            self.add_tasks(job_id, files, commit=False)
            self._job_event(job_id, "planned", f"{len(files)} files")
            self.commit()
        return job_id

    def add_tasks(self, job_id: int, files: list[PlannedFile], commit: bool = True) -> list[int]:
        """Add files to a job (sync mode adds them as they appear); returns their task ids."""
        now = time.time()
        ids = []
        with self._lock:
            for f in files:
                cur = self._write(
                    "INSERT INTO tasks (job_id, path, relpath, key, size, mtime_ns, state, "
                    "updated) VALUES (?,?,?,?,?,?,?,?)",
                    (job_id, f.path, f.relpath, f.key, f.size, f.mtime_ns,
                     TaskState.PLANNED.value, now))
                ids.append(cur.lastrowid)
            if files:
                self._write("UPDATE jobs SET files_total = (SELECT COUNT(*) FROM tasks WHERE "
                            "job_id=?), bytes_total = (SELECT COALESCE(SUM(size),0) FROM tasks "
                            "WHERE job_id=?), updated=? WHERE id=?", (job_id, job_id, now, job_id))
            if commit:
                self.commit()
        return ids

    def _job_event(self, job_id: int, event: str, detail: str | None = None) -> None:
        self._write("INSERT INTO job_events (job_id, ts, event, detail) VALUES (?,?,?,?)",
                    (job_id, time.time(), event, detail))

    def set_job_state(self, job_id: int, state: JobState, error: str | None = None,
                      details: str | None = None) -> None:
        now = time.time()
        with self._lock:
            extra = ""
            params: list = [state.value, error, details, now]
            if state is JobState.RUNNING:
                extra = ", started=COALESCE(started, ?), finished=NULL, host=?, pid=?"
                params += [now, socket.gethostname(), os.getpid()]
            elif state is not JobState.PLANNED:
                extra = ", finished=?"
                params.append(now)
            self._write(f"UPDATE jobs SET state=?, error=?, details=?, updated=?{extra} WHERE id=?",
                        (*params, job_id))
            self._job_event(job_id, state.value, error)
            self.commit()

    def set_dataset(self, job_id: int, investigation_id: str, dataset_id: str,
                    dataset_key: str | None = None) -> None:
        with self._lock:
            self._write("UPDATE jobs SET investigation_id=?, dataset_id=?, "
                        "dataset_key=COALESCE(?, dataset_key), updated=? WHERE id=?",
                        (investigation_id, dataset_id, dataset_key, time.time(), job_id))
            self._job_event(job_id, "dataset", f"investigation {investigation_id}, "
                                                f"dataset {dataset_id}")
            self.commit()

    def set_options(self, job_id: int, options: dict) -> None:
        self._write("UPDATE jobs SET options=? WHERE id=?", (json.dumps(options), job_id))
        self.commit()

    def job(self, job_id: int) -> JobRecord:
        rows = self._read("SELECT * FROM jobs WHERE id=?", (job_id,))
        if not rows:
            raise JournalError(f"There is no job {job_id} in the journal; "
                               "'datauploader jobs' lists them.")
        return self._job_record(rows[0])

    def jobs(self, limit: int | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM jobs ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._job_record(r) for r in self._read(sql)]

    def find_jobs(self, *, dataset_key: str) -> list[JobRecord]:
        return [self._job_record(r) for r in
                self._read("SELECT * FROM jobs WHERE dataset_key=? ORDER BY id", (dataset_key,))]

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
            finished=r["finished"])

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

    def iter_tasks(self, job_id: int, batch: int = 5000) -> Iterator[TaskRecord]:
        last = 0
        while True:
            rows = self._read("SELECT * FROM tasks WHERE job_id=? AND id>? ORDER BY id LIMIT ?",
                              (job_id, last, batch))
            if not rows:
                return
            for r in rows:
                yield self._task_record(r)
            last = rows[-1]["id"]

    def task(self, task_id: int) -> TaskRecord:
        return self._task_record(self._read("SELECT * FROM tasks WHERE id=?", (task_id,))[0])

    @staticmethod
    def _task_record(r: dict) -> TaskRecord:
        return TaskRecord(
            id=r["id"], job_id=r["job_id"], path=r["path"], relpath=r["relpath"], key=r["key"],
            size=r["size"], mtime_ns=r["mtime_ns"], state=TaskState(r["state"]),
            attempts=r["attempts"], checksum=r["checksum"], algorithm=r["algorithm"],
            location=r["location"], verified_by=r["verified_by"], datafile_id=r["datafile_id"],
            error=r["error"])

    def task_events(self, task_id: int) -> list[dict]:
        return self._read("SELECT ts, state, attempt, detail FROM task_events WHERE task_id=? "
                          "ORDER BY id", (task_id,))

    def counts(self, job_id: int) -> JobCounts:
        rows = self._read("SELECT state, COUNT(*) AS n, COALESCE(SUM(size),0) AS b FROM tasks "
                          "WHERE job_id=? GROUP BY state", (job_id,))
        files = {r["state"]: r["n"] for r in rows}
        done_states = (TaskState.VERIFIED.value, TaskState.REGISTERED.value)
        return JobCounts(files=files,
                         bytes_done=sum(r["b"] for r in rows if r["state"] in done_states),
                         files_done=sum(r["n"] for r in rows if r["state"] in done_states))

    def _task_state(self, task_id: int, job_id: int, state: TaskState, detail: str | None = None,
                    attempt: int = 0, **columns) -> None:
        now = time.time()
        sets = ", ".join(f"{c}=?" for c in columns)
        self._write(f"UPDATE tasks SET state=?, updated=?{', ' + sets if sets else ''} WHERE id=?",
                    (state.value, now, *columns.values(), task_id))
        self._write("INSERT INTO task_events (job_id, task_id, ts, state, attempt, detail) "
                    "VALUES (?,?,?,?,?,?)", (job_id, task_id, now, state.value, attempt, detail))

    def update_task_file(self, task_id: int, size: int, mtime_ns: int) -> None:
        """The file changed size/mtime since it was planned (sync mode, re-runs)."""
        self._write("UPDATE tasks SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, task_id))

    def reset_task(self, task_id: int, job_id: int, reason: str) -> None:
        """Back to planned: e.g. a multipart upload the server no longer knows."""
        self._write("DELETE FROM parts WHERE task_id=?", (task_id,))
        self._write("DELETE FROM multipart WHERE task_id=?", (task_id,))
        self._task_state(task_id, job_id, TaskState.PLANNED, reason)
        self.commit()

    # -- multipart --------------------------------------------------------------------------
    def multipart(self, task_id: int) -> MultipartRecord | None:
        rows = self._read("SELECT upload_id, part_size FROM multipart WHERE task_id=?", (task_id,))
        if not rows:
            return None
        parts = {r["part_number"]: (r["size"], r["etag"], r["checksum"]) for r in self._read(
            "SELECT part_number, size, etag, checksum FROM parts WHERE task_id=?", (task_id,))}
        return MultipartRecord(task_id, rows[0]["upload_id"], rows[0]["part_size"], parts)

    def clear_multipart(self, task_id: int) -> None:
        self._write("DELETE FROM parts WHERE task_id=?", (task_id,))
        self._write("DELETE FROM multipart WHERE task_id=?", (task_id,))
        self.commit()

    # -- subscriber: the engine's events become journal rows --------------------------------
    def on_job_started(self, e: JobStarted, **kw) -> None:
        self.set_job_state(e.job_id, JobState.RUNNING)

    def on_file_started(self, e: FileStarted, **kw) -> None:
        with self._lock:
            self._write("UPDATE tasks SET attempts=? WHERE id=?", (e.attempt, e.task_id))
            self._task_state(e.task_id, e.job_id, TaskState.UPLOADING,
                             f"resuming after {e.resumed_bytes} bytes" if e.resumed_bytes else None,
                             attempt=e.attempt, error=None)

    def on_file_retrying(self, e: FileRetrying, **kw) -> None:
        self._write("INSERT INTO task_events (job_id, task_id, ts, state, attempt, detail) "
                    "VALUES (?,?,?,?,?,?)", (e.job_id, e.task_id, time.time(), "retrying",
                                             e.attempt, f"in {e.delay:.1f}s: {e.error}"))

    def on_multipart_started(self, e: MultipartStarted, **kw) -> None:
        # committed before the first part is sent: an upload id must never be forgotten
        with self._lock:
            self._write("INSERT OR REPLACE INTO multipart VALUES (?,?,?,?)",
                        (e.task_id, e.upload_id, e.part_size, time.time()))
            self._write("DELETE FROM parts WHERE task_id=?", (e.task_id,))
            self.commit()

    def on_part_done(self, e: PartDone, **kw) -> None:
        self._write("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?)",
                    (e.task_id, e.part_number, e.size, e.etag, e.checksum))

    def on_file_done(self, e: FileDone, **kw) -> None:
        with self._lock:
            if not e.skipped:
                self._task_state(e.task_id, e.job_id, TaskState.UPLOADED)
            self._task_state(e.task_id, e.job_id, TaskState.VERIFIED,
                             ("already on the server with identical content; " if e.skipped
                              else "") + f"verified by {e.verified_by}",
                             size=e.size, checksum=e.checksum, algorithm=e.algorithm,
                             location=e.location, verified_by=e.verified_by, error=None)
            self._write("DELETE FROM parts WHERE task_id=?", (e.task_id,))
            self._write("DELETE FROM multipart WHERE task_id=?", (e.task_id,))

    def on_file_failed(self, e: FileFailed, **kw) -> None:
        self._task_state(e.task_id, e.job_id, TaskState.FAILED, e.error, attempt=e.attempts,
                         error=e.error)

    def on_dataset_ready(self, e: DatasetReady, **kw) -> None:
        self.set_dataset(e.job_id, e.investigation_id, e.dataset_id)

    def on_files_registered(self, e: FilesRegistered, **kw) -> None:
        now = time.time()
        with self._lock:
            self._write_many("UPDATE tasks SET state=?, datafile_id=?, updated=? WHERE id=?",
                             [(TaskState.REGISTERED.value, d, now, t)
                              for t, d in zip(e.task_ids, e.datafile_ids)])
            self._write_many("INSERT INTO task_events (job_id, task_id, ts, state, attempt, "
                             "detail) VALUES (?,?,?,?,0,?)",
                             [(e.job_id, t, now, TaskState.REGISTERED.value, f"datafile {d}")
                              for t, d in zip(e.task_ids, e.datafile_ids)])

    def on_dataset_finalized(self, e: DatasetFinalized, **kw) -> None:
        with self._lock:
            self._job_event(e.job_id, "finalized", f"dataset {e.dataset_id}")
            self.commit()

    def on_job_done(self, e: JobDone, **kw) -> None:
        self.set_job_state(e.job_id, JobState(e.state), e.error, e.details)
