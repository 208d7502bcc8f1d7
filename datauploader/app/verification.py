"""Verification of a job's files against what the storage holds now: the thorough check reads
every object back and recomputes its checksum; the quick one compares existence, size, and the
ETag each object had when the job stored it (a checksum recorded in the object's metadata can
show a mismatch but proves nothing: it says what its writer meant to send)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from datauploader.core.registrar import etag_form, normal_etag
from datauploader.errors import CancelledError, describe
from datauploader.states import TaskState
from datauploader.storage.base import StorageBackend, WritesIntoDataset


@dataclass
class VerifyItem:
    task_id: int
    relpath: str
    key: str
    status: str  # ok | missing | size-mismatch | checksum-mismatch | not-uploaded | error
    detail: str = ""
    #: "ok" proven by more than the size (a checksum read back, an ETag as uploaded); a quick
    #: check where the storage states nothing but the size proves only that
    proven: bool = True


@dataclass
class VerifyReport:
    job_id: int
    mode: str
    items: list[VerifyItem] = field(default_factory=list)

    @property
    def problems(self) -> list[VerifyItem]:
        return [i for i in self.items if i.status != "ok"]

    @property
    def unproven(self) -> list[VerifyItem]:
        """Files a quick check found with the right size and nothing more to compare."""
        return [i for i in self.items if i.status == "ok" and not i.proven]


def verify_job(journal, storage: StorageBackend, job, quick: bool = False,
               progress: Callable[[VerifyItem], None] | None = None,
               cancel: threading.Event | None = None) -> VerifyReport:
    """Re-check every uploaded file against storage: missing, size or checksum mismatch.

    The thorough check (default) reads each object back and recomputes its checksum; the
    quick one compares existence, size and the checksum the server has recorded."""
    if isinstance(storage, WritesIntoDataset) and job.dataset_id:
        storage.use_dataset(job.prefix, job.dataset_id)  # IDS: keys live in that dataset
    report = VerifyReport(job.id, "quick" if quick else "full")
    for t in journal.iter_tasks(job.id):
        if cancel is not None and cancel.is_set():
            raise CancelledError()
        item = _verify_one(storage, t, quick, cancel)
        report.items.append(item)
        if progress:
            progress(item)
    return report


def _quick_verdict(t, remote, item) -> VerifyItem:
    """What the storage states without reading the bytes: the object's ETag, compared
    with the one it had when this job stored it (computed by the server from the stored
    bytes, and proven then), proves it unchanged; a checksum recorded in the metadata only
    tells what its writer meant to send, so it can show a mismatch but proves nothing."""
    if remote.checksum and remote.algorithm == t.algorithm and remote.checksum != t.checksum:
        return item("checksum-mismatch", f"recorded {remote.checksum}, uploaded {t.checksum}")
    ours, theirs = normal_etag(t.etag), normal_etag(remote.etag)
    if ours and theirs and etag_form(ours) == etag_form(theirs):
        if ours != theirs:
            return item("checksum-mismatch", f"its ETag is {theirs}, it was {ours} when "
                        "uploaded: the object was replaced")
        return item("ok", "size and ETag as uploaded")
    found = item("ok", "size only: the storage states nothing more to compare (verify "
                 "without --quick reads it back)")
    found.proven = False
    return found


def _verify_one(storage: StorageBackend, t, quick: bool, cancel) -> VerifyItem:
    def item(status, detail=""):
        return VerifyItem(t.id, t.relpath, t.key, status, detail)

    if t.state not in (TaskState.VERIFIED, TaskState.REGISTERED):
        return item("not-uploaded", f"state {t.state.value}" + (f": {t.error}" if t.error else ""))
    try:
        remote = storage.stat(t.key)
        if remote is None:
            return item("missing", f"{t.key} is not on the storage")
        if remote.size != t.size:
            return item("size-mismatch", f"{remote.size} bytes on the storage, {t.size} uploaded")
        if quick:
            return _quick_verdict(t, remote, item)
        got, size = storage.read_checksum(t.key, t.algorithm, cancel)
        if size != t.size:
            return item("size-mismatch", f"{size} bytes read back, {t.size} uploaded")
        if got != t.checksum:
            return item("checksum-mismatch", f"{t.algorithm} {got} read back, {t.checksum} uploaded")
        return item("ok", f"{t.algorithm} read back")
    except CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - reported per file
        return item("error", describe(e))
