"""What the journal hands out: immutable records of jobs, file tasks and multipart uploads."""

from __future__ import annotations

from dataclasses import dataclass

from datauploader.core.models import DatasetDefinition, JobState, TaskState


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
    finish_requested: float | None = None


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
    kind: str = "file"  # "folder": an unreadable folder (state UNPLANNED), scanned on resume
    etag: str | None = None  # as the server stated it when the file was stored


@dataclass(frozen=True)
class MultipartRecord:
    task_id: int
    upload_id: str
    part_size: int
    parts: dict[int, tuple[int, str, str | None]]  # number → (size, etag, checksum)


@dataclass(frozen=True)
class RemoteFileRecord:
    """A file on a server that tracks its state itself: its id, version and last status."""

    task_id: int
    remote_id: str
    version: str
    status: str


@dataclass(frozen=True)
class JobCounts:
    files: dict[str, int]
    bytes_done: int
    files_done: int
