"""A job's claim on its dataset's prefix: of two computers uploading to one dataset at the same
time, one writes and the other stops before it sends a byte.

Two uploads racing on one prefix each store some of the keys last; on a server that ignores
``If-None-Match`` (rclone serve s3) the later one silently replaces the earlier one's objects,
even objects that the earlier job already proved and registered, after it ended: its catalogue
then describes bytes that are not stored. The closing check catches what is replaced while a
job runs, not what happens after it. So a job first claims the prefix, with an object of its
own (``<prefix>/.du-claim-<job uuid>``: the job, the computer, the process) written, then
listed together with any other claim:

* alone: the job goes on, and writes its claim again every ``HEARTBEAT`` seconds while it
  runs, so that a claim left by a killed process goes stale (``STALE``) and is ignored;
* another claim clearly older than its own (by the server's clock): another upload is
  writing; the job withdraws its claim and stops, with a sentence saying who writes;
* another claim as young as its own (both began together): both withdraw and try again after
  a random pause, so that one of them comes back alone first.

Two jobs never both go on: each lists after its own write, so the later of the two writes is
followed by a listing that shows the earlier (S3 lists are read-after-write consistent). Claim
objects are ours and hidden from the job's listings; each job removes its own when it ends.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import random
import socket
import threading
import time

from datauploader.errors import RemoteExistsError, TransientError
from datauploader.storage.s3.errors import NoSuchKey, S3Error

log = logging.getLogger(__name__)

CLAIM_MARK = ".du-claim-"
HEARTBEAT = 120.0  # seconds between two writes of a running job's claim
STALE = 600.0  # a claim not written for this long was left by a process that is gone
CONTENTION = 2.0  # claims this close (server time) began together: both try again
ROUNDS = 8


class DatasetClaimedError(RemoteExistsError):
    """Another upload (another computer) is writing the same dataset: nothing was sent."""


def _when(value: str | None) -> float | None:
    """Seconds since the epoch of a LastModified (ISO 8601 in listings, HTTP date in HEAD)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


class Claims:
    """The claims of one S3 storage (``client``, ``bucket``; ``where(prefix)`` names a
    prefix for messages)."""

    def __init__(self, client, bucket: str, where):
        self.client = client
        self.bucket = bucket
        self.where = where
        self._beats: dict[str, threading.Event] = {}
        self._sleep = time.sleep

    @staticmethod
    def base(prefix: str) -> str:
        return (prefix.rstrip("/") + "/" if prefix else "") + CLAIM_MARK

    def claim(self, prefix: str, job_uuid: str) -> None:
        """Claim ``prefix`` for job ``job_uuid``, or raise DatasetClaimedError."""
        base = self.base(prefix)
        mine = base + job_uuid
        body = json.dumps({"job": job_uuid, "host": socket.gethostname(),
                           "pid": os.getpid()}).encode("utf-8")
        for attempt in range(ROUNDS):
            self.client.put_object(self.bucket, mine, body, if_none_match=False,
                                   content_type="application/json")
            try:
                found = {o.key: o for o in self.client.list_objects(self.bucket, base)}
            except BaseException:
                self._remove(mine)
                raise
            own = _when(found[mine].last_modified) if mine in found else None
            if own is None:
                raise TransientError(f"{self.where(prefix)} did not list the claim just written "
                                     "for this upload.")
            others = [(own - t, k) for k, o in found.items() if k != mine
                      for t in (_when(o.last_modified),) if t is not None and own - t < STALE]
            if not others:
                self._beat(mine, body)
                return
            older, key = max(others)
            if older > CONTENTION or attempt == ROUNDS - 1:
                self._remove(mine)
                raise self._busy(prefix, key, older)
            log.info("%s: another upload claimed it at the same moment; trying again",
                     self.where(prefix))
            self._remove(mine)
            self._sleep(random.uniform(0.2, 1.0) * (attempt + 1))

    def release(self, prefix: str, job_uuid: str) -> None:
        mine = self.base(prefix) + job_uuid
        stop = self._beats.pop(mine, None)
        if stop is not None:
            stop.set()
        self._remove(mine)

    def close(self) -> None:
        """Stop renewing every claim (the storage is closed; what is left goes stale)."""
        beats, self._beats = self._beats, {}
        for stop in beats.values():
            stop.set()

    def _beat(self, key: str, body: bytes) -> None:
        """Write the claim again and again while the job runs (a thread of its own)."""
        old = self._beats.pop(key, None)
        if old is not None:
            old.set()
        stop = self._beats[key] = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT):
                try:
                    self.client.put_object(self.bucket, key, body, if_none_match=False,
                                           content_type="application/json")
                except Exception:  # noqa: BLE001 - the next beat tries again
                    log.warning("could not renew the claim %s", key, exc_info=True)

        threading.Thread(target=beat, name="s3-claim", daemon=True).start()

    def _remove(self, key: str) -> None:
        try:
            self.client.delete_object(self.bucket, key)
        except Exception:  # noqa: BLE001 - a claim left behind goes stale
            log.warning("could not remove the claim %s", key, exc_info=True)

    def _busy(self, prefix: str, key: str, older: float) -> DatasetClaimedError:
        who = "another upload"
        try:
            take = bytearray()
            self.client.get_object(self.bucket, key, take.extend)
            info = json.loads(bytes(take))
            who = f"job {str(info.get('job', '?'))[:8]} on {info.get('host', '?')}"
        except (S3Error, NoSuchKey, ValueError, TransientError):
            pass
        ago = f"{older / 60:.0f} min" if older >= 90 else f"{max(older, 0):.0f} s"
        return DatasetClaimedError(
            f"Another upload is writing this dataset ({self.where(prefix)}): {who} (its claim "
            f"on the storage is {ago} older than this job's). Nothing was sent. Wait for it to "
            "end, then resume this job (its files are then compared with what that upload "
            "stored), or upload under another dataset name.")
