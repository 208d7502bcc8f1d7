"""The storage protocol: backends move bytes, nothing else.

A backend never decides what to upload or when to retry (the engine does); it uploads one
file when asked, verifies what the server reports against what it read, and raises an error
from ``datauploader.errors`` that says how to react. It never overwrites: a key that exists is
either proven identical (``adopt``) or refused with ``RemoteExistsError``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar, TypeVar

from datauploader.errors import RemoteExistsError
from datauploader.names import NameRules
from datauploader.options import Option, SecretSlot
from datauploader.source import SourceReader

T = TypeVar("T")


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str | None = None
    checksum: str | None = None  # as recorded by us in the object's metadata
    algorithm: str | None = None
    job_uuid: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UploadResult:
    size: int
    checksum: str  # of the configured algorithm, over the bytes read
    location: str  # what the catalogue records
    verified_by: str  # how the storage proved it: words from datauploader.proofs
    etag: str | None = None
    skipped: bool = False  # identical content was already there


@dataclass(frozen=True)
class TransferItem:
    task_id: int
    path: str
    key: str
    size: int  # as planned; the reader knows the current size
    algorithm: str
    job_uuid: str


class TransferContext:
    """What the engine gives a backend for one file transfer (throttle, progress, journal)."""

    cancel: threading.Event

    def sent(self, nbytes: int) -> None:
        """Account for bytes put on the wire; blocks for the bandwidth limit and while paused;
        raises CancelledError when the job is cancelled."""

    def bandwidth_limit(self) -> float | None:
        """The job's bandwidth limit now, in bytes/s (None: unlimited), for a backend whose
        bytes move in another process (rclone), which must be told the limit."""
        return None

    def resumed(self, nbytes: int) -> None:
        """Account for bytes an earlier attempt left on the server (progress shows them as
        done; they are not sent, so no bandwidth); negative to withdraw them."""

    def open_source(self, item: TransferItem) -> SourceReader:
        return SourceReader(item.path, item.algorithm)

    # multipart bookkeeping (journaled by the engine)
    def multipart_state(self):
        """The MultipartRecord of an earlier attempt, or None."""
        return None

    def multipart_started(self, upload_id: str, part_size: int) -> None: ...

    def part_done(self, part_number: int, size: int, etag: str, checksum: str) -> None: ...

    def multipart_forgotten(self) -> None:
        """The recorded multipart upload is gone on the server; start afresh."""

    def request(self, what: str, send: Callable[[], T]) -> T:
        """Run one request ``send()`` (``what`` names it for messages: "part 3 of 8") with the
        job's retries: a transient failure is tried again after a pause, counted for this
        request alone (so that a few faults spread over the parts of a large file do not use
        up the file's tries), and each retry is reported. The last failure is raised, marked
        so that the engine does not try the whole file again. Here: no retries."""
        return send()
    # a server that tracks each file's state itself (etiket), journaled by the engine
    def remote_file(self):
        """The RemoteFileRecord (id, version, status) of an earlier attempt, or None."""
        return None

    def remote_file_status(self, remote_id: str, version: str, status: str,
                           durable: bool = False) -> None:
        """Record the file's id, version and status, before the step it announces; with
        ``durable`` it returns only once the journal has it on disk (before registering a
        version that must never be forgotten), else it is group-committed."""


class StorageBackend(ABC):
    """Base class; subclasses set ``kind`` and ``OPTIONS`` and implement the methods.

    Optional abilities are declared by also deriving from one of the interfaces below
    (``WritesIntoDataset``, ``ChecksHostKey``), never guessed from attribute names."""

    kind: ClassVar[str] = ""
    OPTIONS: ClassVar[tuple[Option, ...]] = ()
    name_rules: NameRules
    prefix_template: str

    @classmethod
    def from_config(cls, options: dict, ctx) -> "StorageBackend":
        """Build from a section's parsed ``options``; ``ctx`` (the service's BuildContext)
        gives the section name, the environment, the secret store and the paths."""
        return cls(**options)

    @classmethod
    def secret_slot(cls, options: dict, section: str) -> SecretSlot | None:
        """The OS-keyring entry of this target's secret as configured, or None if it takes
        none from the keyring. Raises ConfigError when a key the secret belongs to is missing.
        ``from_config`` reads the secret from this same slot, so the two never disagree."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """Where bytes go, for messages and for the journal (no secrets)."""
        ...

    @abstractmethod
    def check(self) -> None:
        """Reach the target and prove the credentials work; raise a UserFacingError if not."""
        ...

    @abstractmethod
    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        """Every object under ``prefix`` (one listing, so that a 20,000-file job does not cost
        20,000 existence checks). Keys are full keys."""
        ...

    @abstractmethod
    def stat(self, key: str) -> RemoteObject | None:
        ...

    @abstractmethod
    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        """Upload one file that does not exist remotely; verify; never overwrite."""
        ...

    @abstractmethod
    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        """``item.key`` exists: read the local file once and prove the remote object has the
        same content (result with skipped=True), or raise RemoteExistsError."""
        ...

    @abstractmethod
    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        """Read the remote object back and return (checksum, size): the thorough verify."""
        ...

    @abstractmethod
    def location(self, key: str) -> str:
        ...

    def exclusive_writes(self) -> bool:
        """Whether the target refuses, in the very request that writes a name, to replace
        what is already there (a no-replace link or rename, S3 ``If-None-Match`` or WebDAV
        ``Overwrite: F`` that the server honours), so that of two uploads racing on one name
        only one can succeed. Where not (the default), the engine registers a file only after
        a listing proved it is still what the job stored. May ask the server once."""
        return False

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        """Remove what an abandoned attempt left behind (temporary files, multipart uploads
        that cannot be resumed). Never touches anything that is not ours."""

    def interrupt(self) -> None:
        """The job was cancelled: end transfers blocked on the network now (from another
        thread), so that a cancel or SIGTERM never waits for a silent server. Their workers
        then fail and see the cancel; the backend stays usable."""
    def claim(self, prefix: str, job_uuid: str) -> None:
        """Tell other computers, on the storage itself, that this job writes under ``prefix``
        until ``release``; raise a FileError (nothing sent) if another upload writes there
        now. Where two uploads could otherwise replace each other's files (even files already
        registered, after the first upload ended). Here: nothing (the engine's lock keeps a
        second job on this computer away; other computers are not seen)."""

    def release(self, prefix: str, job_uuid: str) -> None:
        """The job no longer writes under ``prefix`` (its claim is withdrawn)."""

    def clean_unjournaled(self, prefix: str, job_uuid: str, journaled: set[str]) -> None:
        """Remove what this job's attempts began on the storage without the journal ever
        learning of it (S3: a multipart upload whose creation answer was lost, or whose
        process was killed before the journal committed its id); ``journaled``: the ids the
        journal holds. Called when a job starts and when its transfers end."""

    def close(self) -> None:
        pass


class WritesIntoDataset(ABC):
    """A storage whose files live inside the catalogue's dataset (IDS): the engine tells it the
    dataset before the first file, and reading files back needs the catalogue's login."""

    @abstractmethod
    def use_dataset(self, prefix: str, dataset_id: str) -> None:
        """Files under ``prefix`` belong to catalogue dataset ``dataset_id``."""


class ChecksHostKey(ABC):
    """A storage whose server proves its identity with a key this computer must trust first
    (SFTP host keys); front-ends call ``check_host_key`` before a job, so that an unknown key
    is a question for the user (``errors.UnknownHostKeyError``), not a failed job."""

    @abstractmethod
    def check_host_key(self) -> None:
        """Connect just far enough to see the key; raise UnknownHostKeyError if it is not
        trusted yet (a changed key is an AuthError of its own)."""


def other_content(where: str, why: str) -> RemoteExistsError:
    """The error for a name taken by a file that is not the one being uploaded (``why``:
    what differs); such a file is never overwritten."""
    return RemoteExistsError(f"{where} already exists with other content ({why}); it was not "
                             "overwritten.")
