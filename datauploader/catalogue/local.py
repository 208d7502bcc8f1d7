"""The embedded catalogue: investigations, datasets and datafiles in an SQLite file.

The default, so that the whole flow works with no server at all. It keeps the same promises
as the remote catalogues (one dataset per target, idempotent registration), and the same
rules where it matters: a complete dataset takes no more files.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import threading
import time

from datauploader.catalogue.base import (Catalogue, DatafileRecord, DatafileSpec, DatasetRecord,
                                         DatasetSpec, Investigation)
from datauploader.errors import CatalogueError, InputError, UserFacingError
from datauploader.options import Option

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS investigations (
    id INTEGER PRIMARY KEY,
    proposal TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    investigation_id INTEGER NOT NULL REFERENCES investigations(id),
    name TEXT NOT NULL,
    dataset_key TEXT,
    description TEXT NOT NULL DEFAULT '',
    dataset_type TEXT NOT NULL DEFAULT 'raw',
    sample TEXT NOT NULL DEFAULT '',
    keywords TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    location TEXT NOT NULL DEFAULT '',
    complete INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    completed REAL,
    created_by TEXT,
    UNIQUE (investigation_id, name)
);
CREATE TABLE IF NOT EXISTS datafiles (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    location TEXT NOT NULL,
    mtime REAL,
    created REAL NOT NULL,
    UNIQUE (dataset_id, name)
);
"""


class LocalCatalogue(Catalogue):
    kind = "local"
    can_create_investigations = True
    OPTIONS = (Option("path", "SQLite file of the embedded catalogue", default=""),)

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise UserFacingError(f"The local catalogue {path} cannot be opened ({e}).") from e
        self._lock = threading.RLock()
        self.user = None

    def describe(self) -> str:
        return f"local catalogue {self.path}"

    def login(self, credentials: dict[str, str]) -> str:
        try:
            self.user = getpass.getuser()
        except Exception:  # noqa: BLE001
            self.user = "local"
        return self.user

    def _q(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- investigations ---------------------------------------------------------------------
    def investigations(self, search: str | None = None) -> list[Investigation]:
        sql = "SELECT id, proposal, title FROM investigations"
        params: tuple = ()
        if search:
            sql += " WHERE proposal LIKE ? OR title LIKE ?"
            params = (f"%{search}%", f"%{search}%")
        return [Investigation(str(i), p, t) for i, p, t in self._q(sql + " ORDER BY proposal",
                                                                   params)]

    def find_investigation(self, proposal: str) -> Investigation | None:
        rows = self._q("SELECT id, proposal, title FROM investigations WHERE proposal=?",
                       (proposal,))
        return Investigation(str(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def create_investigation(self, proposal: str, title: str = "") -> Investigation:
        if not proposal.strip():
            raise InputError("The proposal is empty; give a proposal number or name.")
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO investigations (proposal, title, created) "
                             "VALUES (?,?,?)", (proposal, title, time.time()))
        return self.find_investigation(proposal)

    # -- datasets ---------------------------------------------------------------------------
    def _dataset(self, where: str, params) -> DatasetRecord | None:
        rows = self._q(
            "SELECT id, investigation_id, name, complete, dataset_key, description, dataset_type, "
            f"sample, keywords, metadata, location FROM datasets WHERE {where}", params)
        if not rows:
            return None
        (i, inv, name, complete, key, desc, dtype, sample, kw, meta, loc) = rows[0]
        files = tuple(DatafileRecord(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in self._q(
            "SELECT id, name, size, checksum, algorithm, location FROM datafiles "
            "WHERE dataset_id=? ORDER BY id", (i,)))
        return DatasetRecord(id=str(i), investigation_id=str(inv), name=name,
                             complete=bool(complete), dataset_key=key, description=desc,
                             dataset_type=dtype, sample=sample, keywords=tuple(json.loads(kw)),
                             metadata=json.loads(meta), location=loc, datafiles=files)

    def find_dataset(self, investigation_id: str, name: str, dataset_key: str) -> DatasetRecord | None:
        return self._dataset("investigation_id=? AND name=?", (int(investigation_id), name))

    def create_dataset(self, investigation_id: str, spec: DatasetSpec) -> DatasetRecord:
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT INTO datasets (investigation_id, name, dataset_key, description, "
                    "dataset_type, sample, keywords, metadata, location, created, created_by) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (int(investigation_id), spec.name, spec.dataset_key, spec.description,
                     spec.dataset_type, spec.sample, json.dumps(list(spec.keywords)),
                     json.dumps(spec.metadata, ensure_ascii=False), spec.location, time.time(),
                     self.user))
            except sqlite3.IntegrityError:
                raise CatalogueError(f"A dataset named '{spec.name}' already exists in this "
                                     "investigation; choose another name.") from None
        return self._dataset("id=?", (cur.lastrowid,))

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        ds = self._dataset("id=?", (int(dataset_id),))
        if ds is None:
            raise CatalogueError(f"Dataset {dataset_id} is not in the {self.describe()}.")
        return ds

    def register_datafiles(self, dataset_id: str, files: list[DatafileSpec]) -> list[str]:
        ids: list[str] = []
        now = time.time()
        with self._lock:
            row = self._db.execute("SELECT complete FROM datasets WHERE id=?",
                                   (int(dataset_id),)).fetchone()
            if row is None:
                raise CatalogueError(f"Dataset {dataset_id} is not in the {self.describe()}.")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for f in files:
                    old = self._db.execute(
                        "SELECT id, size, checksum, algorithm FROM datafiles WHERE dataset_id=? "
                        "AND name=?", (int(dataset_id), f.name)).fetchone()
                    if old is not None:
                        if (old[1], old[2], old[3]) != (f.size, f.checksum, f.algorithm):
                            raise CatalogueError(
                                f"The dataset already has a file '{f.name}' with other content; "
                                "it was not replaced.")
                        ids.append(str(old[0]))
                        continue
                    if row[0]:
                        raise CatalogueError("The dataset is already complete and takes no more "
                                             "files; upload them as a new dataset.")
                    cur = self._db.execute(
                        "INSERT INTO datafiles (dataset_id, name, size, checksum, algorithm, "
                        "location, mtime, created) VALUES (?,?,?,?,?,?,?,?)",
                        (int(dataset_id), f.name, f.size, f.checksum, f.algorithm, f.location,
                         f.mtime, now))
                    ids.append(str(cur.lastrowid))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def finalize_dataset(self, dataset_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE datasets SET complete=1, completed=COALESCE(completed, ?) "
                             "WHERE id=?", (time.time(), int(dataset_id)))

    def close(self) -> None:
        with self._lock:
            self._db.close()
