"""Registering verified files in the catalogue, and the proof that comes first where needed.

Files are registered in batches on a thread of their own, so that catalogue latency overlaps
the transfers. On a target that cannot refuse to replace a name in the request that writes
it (an S3 server that ignores ``If-None-Match``, a WebDAV server that ignores ``Overwrite:
F``), two uploads racing on one name can both "succeed" while only one's bytes stay. There the
registrar holds the verified files back and registers only those that a fresh listing of the
prefix proves are still what this job stored (size and ETag or stated checksum): a catalogue
entry is never made from bytes that are not on the storage.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from datauploader.catalogue.base import DatafileSpec
from datauploader.errors import CancelledError, Reaction, classify
from datauploader.events import FileFailed, FilesRegistered
from datauploader.storage.base import RemoteObject

log = logging.getLogger(__name__)

#: on targets without exclusive writes, held files are proven and registered once a batch is
#: full, or after this many seconds, but a listing never takes more than a tenth of the time
PROVE_INTERVAL = 60.0
PROVE_SHARE = 0.1


@dataclass(frozen=True)
class Stored:
    """A verified file waiting for registration, with what it was stored as."""

    task_id: int
    relpath: str
    key: str
    size: int
    etag: str | None
    spec: DatafileSpec
    attempt: int = 0


def normal_etag(etag: str | None) -> str | None:
    """An ETag as compared: without W/, quotes and case."""
    return etag.strip().removeprefix("W/").strip('"').lower() if etag else None


def etag_form(tag: str) -> str:
    """"multipart" (S3's md5-of-md5s "…-N") or "plain": servers may answer a multipart
    upload with one form and list the object with the other (rclone serve s3 lists the whole
    file's MD5), so only ETags of the same form are compared."""
    head, sep, tail = tag.rpartition("-")
    return "multipart" if sep and tail.isdigit() and len(head) == 32 else "plain"


def replaced(stored: Stored, remote: RemoteObject | None) -> str | None:
    """Why the object under ``stored.key`` is not the one this job stored, or None if it is
    (as far as the listing shows: size, then ETag, then a checksum recorded on the server)."""
    if remote is None:
        return "it is no longer on the storage"
    if remote.size != stored.size:
        return f"it now holds {remote.size} bytes, this job stored {stored.size}"
    ours, theirs = normal_etag(stored.etag), normal_etag(remote.etag)
    if ours and theirs and etag_form(ours) == etag_form(theirs) and ours != theirs:
        return "its ETag changed since this job stored it"
    spec = stored.spec
    if remote.checksum and remote.algorithm == spec.algorithm and \
            remote.checksum.lower() != spec.checksum.lower():
        return f"its recorded {spec.algorithm} is not the one of the bytes this job sent"
    return None


def replaced_message(relpath: str, key: str, why: str, registered: bool = False) -> str:
    return (f"{relpath}: the object stored as {key} is no longer the one this job uploaded "
            f"({why}). Another upload to the same dataset (another job or another computer) "
            "may have replaced it; nothing of that upload was touched."
            + (" Its catalogue entry was made from this job's bytes and no longer matches."
               if registered else "")
            + " Check which upload should own the dataset, then resume this job or upload it "
            "under another dataset name.")


class Registrar:
    """``hold``: prove before registering (targets without exclusive writes); ``listing()``
    lists the job's prefix (with the engine's retries)."""

    def __init__(self, run, dataset_id: str, hold: bool,
                 listing: Callable[[], dict[str, RemoteObject]], enabled: bool = True):
        self.run = run
        self.enabled = enabled  # False: the catalogue registers the dataset at the end
        self.dataset_id = dataset_id
        self.hold = hold
        self._listing = listing
        self.q: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self._held: list[Stored] = []
        self._final: dict[str, RemoteObject] | None = None
        self._proven_at = time.monotonic()
        self._listing_cost = 0.0  # seconds the last listing took
        self._thread = threading.Thread(target=self._loop, name="registrar", daemon=True)
        self._thread.start()

    def add(self, stored: Stored) -> None:
        if self.enabled:
            self.q.put(stored)

    def close(self, final_listing: dict[str, RemoteObject] | None = None) -> None:
        """Register what is left; held files are proven against ``final_listing`` (None: the
        job stopped early; held files stay verified, and a resume proves them)."""
        self._final = final_listing
        self.q.put(None)
        self._thread.join()

    def _loop(self) -> None:
        settings = self.run.settings
        batch: list[Stored] = []
        done = False
        while not done:
            try:
                item = self.q.get(timeout=settings.register_interval)
                if item is None:
                    done = True
                elif self.hold:
                    self._held.append(item)
                else:
                    batch.append(item)
                    if len(batch) < settings.register_batch:
                        continue
            except queue.Empty:
                pass
            if self.error is not None:
                batch = []
                continue
            try:
                if self.hold:
                    batch = self._proven(done)
                for i in range(0, len(batch), settings.register_batch):
                    self._register(batch[i:i + settings.register_batch])
            except BaseException as e:  # noqa: BLE001 - reported by the engine
                self.error = e
                self.run.stop_job(e)
            batch = []

    def _proven(self, done: bool) -> list[Stored]:
        """The held files a listing proves (those it disproves fail); [] if not yet time."""
        if not self._held:
            return []
        if done:
            listing = self._final
            if listing is None:
                return []
        else:
            since = time.monotonic() - self._proven_at
            due = len(self._held) >= self.run.settings.register_batch or since >= PROVE_INTERVAL
            if not due or since < max(self.run.settings.register_interval,
                                      self._listing_cost / PROVE_SHARE):
                return []
            started = time.monotonic()
            listing = self._listing()
            self._listing_cost = time.monotonic() - started
        self._proven_at = time.monotonic()
        held, self._held = self._held, []
        ok = []
        run = self.run
        for s in held:
            why = replaced(s, listing.get(s.key))
            if why is None:
                ok.append(s)
            else:
                run.bus.emit(FileFailed(run.job.id, s.task_id, s.relpath,
                                        replaced_message(s.relpath, s.key, why), Reaction.FILE,
                                        s.attempt, cause="ReplacedError"))
                run.count_failed()
        return ok

    def _register(self, batch: list[Stored]) -> None:
        run = self.run
        policy = run.settings.retry
        tries = 0
        while True:
            tries += 1
            try:
                with run.watchdog.busy(run.catalogue.describe()):
                    ids = run.catalogue.register_datafiles(self.dataset_id,
                                                           [s.spec for s in batch])
                break
            except BaseException as e:
                if (classify(e) is not Reaction.RETRY or tries >= policy.attempts
                        or run.controls.cancelled):
                    raise
                delay = policy.delay(tries, getattr(e, "retry_after", None))
                log.warning("catalogue registration failed (%s); retrying in %.1fs", e, delay)
                if run.clock.sleep(delay, run.controls.cancel_event):
                    raise CancelledError() from None
        run.bus.emit(FilesRegistered(run.job.id, self.dataset_id,
                                     tuple(s.task_id for s in batch), tuple(str(i) for i in ids)))
