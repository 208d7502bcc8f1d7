"""Typed events the engine emits, and the subscriber interface that receives them.

The journal and the progress tracker (core/progress.py, whose snapshots the window and the
terminal display draw) are each just a subscriber, the sync-mode watcher another. Events are
immutable dataclasses; states and reactions in them are string enums (datauploader.states,
errors.Reaction). A subscriber implements the ``on_*`` methods it cares about (each takes the
event and ``**kwargs`` so new keyword arguments never break old subscribers). Events are
delivered on the thread that produced them (an engine worker), so subscribers must be quick
and thread-safe: the tracker takes a lock, the journal queues them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from datauploader.errors import Reaction
from datauploader.states import JobState, WatchMethod, WatchState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobStarted:
    job_id: int
    files_total: int
    bytes_total: int
    files_done: int  # already done before this run (resume)
    bytes_done: int
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class FileStarted:
    job_id: int
    task_id: int
    relpath: str
    size: int
    attempt: int
    resumed_bytes: int = 0  # bytes already on the server from an earlier attempt


@dataclass(frozen=True, slots=True)
class BytesSent:
    job_id: int
    task_id: int
    nbytes: int
    # bytes an earlier attempt left on the server, counted as done now but not sent now
    # (negative: that credit withdrawn, the file starts afresh)
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class FileRetrying:
    job_id: int
    task_id: int
    relpath: str
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, slots=True)
class MultipartStarted:
    job_id: int
    task_id: int
    upload_id: str
    part_size: int


@dataclass(frozen=True, slots=True)
class PartDone:
    job_id: int
    task_id: int
    part_number: int
    size: int
    etag: str
    checksum: str


@dataclass(frozen=True, slots=True)
class RemoteFileStatus:
    """A file registered on a server that tracks its state itself (etiket: announced, pending,
    secured), under the server's id and version; ``durable``: committed to the journal before
    the step it announces goes ahead (else group-committed, as most writes)."""

    job_id: int
    task_id: int
    remote_id: str
    version: str
    status: str
    durable: bool = False


@dataclass(frozen=True, slots=True)
class FileDone:
    job_id: int
    task_id: int
    relpath: str
    size: int
    checksum: str
    algorithm: str
    remote_key: str
    location: str
    verified_by: str  # how the storage proved it (datauploader.proofs): "etag-md5" …
    skipped: bool = False  # already present remotely with identical content
    etag: str | None = None  # as the server stated it (the closing check compares it)


@dataclass(frozen=True, slots=True)
class FileFailed:
    job_id: int
    task_id: int
    relpath: str
    error: str
    kind: Reaction  # classify(exc), or Reaction.UNPLANNED (never planned)
    attempts: int
    details: str | None = None
    cause: str = ""  # the exception's class name (sync mode retries a FileChangedError)


@dataclass(frozen=True, slots=True)
class DatasetReady:
    job_id: int
    investigation_id: str
    dataset_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class FilesRegistered:
    job_id: int
    dataset_id: str
    task_ids: tuple[int, ...]
    datafile_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DatasetFinalized:
    job_id: int
    dataset_id: str


@dataclass(frozen=True, slots=True)
class JobPaused:
    job_id: int
    paused: bool


@dataclass(frozen=True, slots=True)
class ServerSilent:
    """Transfers are under way but nothing has moved for ``seconds`` (a hung or drip-feeding
    server, a dead network): said once, and again with ``restored`` when bytes move again."""

    job_id: int
    server: str  # the storage, as it describes itself
    since: float  # wall clock of the last progress
    seconds: float
    restored: bool = False


@dataclass(frozen=True, slots=True)
class TasksAdded:
    """Sync mode: files that became complete were added to the running job."""

    job_id: int
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class WatchedRoot:
    path: str
    state: WatchState
    method: WatchMethod
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Sync mode: what the watcher sees (sent about once a second and on every change of
    state of a watched folder)."""

    job_id: int
    roots: tuple[WatchedRoot, ...]
    seen: int  # files found in the watched folders (complete or not)
    settling: int  # waiting for the completeness gate
    queued: int  # handed to the engine, not yet verified
    uploaded: int  # verified (this run and earlier ones)
    failed: int
    modified_skipped: int  # changed after upload, left alone by policy
    last_file: str | None
    last_file_at: float | None  # wall clock
    idle_warning: bool  # no new file for longer than the configured time
    finishing: bool
    notice: str | None = None  # something worth a line in the log


@dataclass(frozen=True, slots=True)
class JobDone:
    job_id: int
    state: JobState
    files_ok: int
    files_failed: int
    bytes_done: int
    elapsed: float
    error: str | None = None
    details: str | None = None
    exit_code: int = 0
    bytes_sent: int = 0  # put on the wire by this run (a resume sends only what is missing)
    files_left_out: int = 0  # left out of the dataset by the operator's decision


_METHOD = {
    JobStarted: "on_job_started",
    FileStarted: "on_file_started",
    BytesSent: "on_bytes",
    FileRetrying: "on_file_retrying",
    MultipartStarted: "on_multipart_started",
    PartDone: "on_part_done",
    RemoteFileStatus: "on_remote_file_status",
    FileDone: "on_file_done",
    FileFailed: "on_file_failed",
    DatasetReady: "on_dataset_ready",
    FilesRegistered: "on_files_registered",
    DatasetFinalized: "on_dataset_finalized",
    JobPaused: "on_job_paused",
    ServerSilent: "on_server_silent",
    TasksAdded: "on_tasks_added",
    SyncStatus: "on_sync_status",
    JobDone: "on_job_done",
}


class Subscriber:
    """No-op base: override the methods you need."""

    def on_job_started(self, event: JobStarted, **kw) -> None: ...
    def on_file_started(self, event: FileStarted, **kw) -> None: ...
    def on_bytes(self, event: BytesSent, **kw) -> None: ...
    def on_file_retrying(self, event: FileRetrying, **kw) -> None: ...
    def on_multipart_started(self, event: MultipartStarted, **kw) -> None: ...
    def on_part_done(self, event: PartDone, **kw) -> None: ...
    def on_remote_file_status(self, event: RemoteFileStatus, **kw) -> None: ...
    def on_file_done(self, event: FileDone, **kw) -> None: ...
    def on_file_failed(self, event: FileFailed, **kw) -> None: ...
    def on_dataset_ready(self, event: DatasetReady, **kw) -> None: ...
    def on_files_registered(self, event: FilesRegistered, **kw) -> None: ...
    def on_dataset_finalized(self, event: DatasetFinalized, **kw) -> None: ...
    def on_job_paused(self, event: JobPaused, **kw) -> None: ...
    def on_server_silent(self, event: ServerSilent, **kw) -> None: ...
    def on_tasks_added(self, event: TasksAdded, **kw) -> None: ...
    def on_sync_status(self, event: SyncStatus, **kw) -> None: ...
    def on_job_done(self, event: JobDone, **kw) -> None: ...


class EventBus:
    """Delivers each event to every subscriber, in subscription order.

    The journal subscribes first, so a state change is queued for the journal before anyone
    else hears of it. A subscriber that raises is logged and does not stop the others (a broken
    progress bar must never stop an upload); the journal is the exception: it is registered as
    ``critical`` and its errors propagate to the engine.
    """

    def __init__(self, subscribers=()):
        self._subs: list[tuple[object, bool]] = [(s, False) for s in subscribers]
        self._lock = threading.Lock()

    def subscribe(self, sub, *, critical: bool = False, first: bool = False) -> None:
        with self._lock:
            entry = (sub, critical)
            self._subs = [entry, *self._subs] if first else [*self._subs, entry]

    def emit(self, event) -> None:
        name = _METHOD[type(event)]
        for sub, critical in self._subs:
            handler = getattr(sub, name, None)
            if handler is None:
                continue
            if critical:
                handler(event)
                continue
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - a subscriber must not break the upload
                log.exception("subscriber %r failed on %s", sub, type(event).__name__)


@dataclass
class RecordingSubscriber(Subscriber):
    """Keeps every event, in order (for tests)."""

    events: list = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        for name in _METHOD.values():
            setattr(self, name, self._record)

    def _record(self, event, **kw) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]
