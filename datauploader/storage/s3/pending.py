"""Multipart uploads begun but not yet known to the journal.

The journal commits a multipart upload's id before the first part is sent, but the id only
exists once the server answered CreateMultipartUpload: a process killed between that answer
and the commit, or an answer lost on the way, leaves an upload in progress that nobody knows
of (it costs storage until a lifecycle rule removes it). S3 lists uploads in progress with
their key, id and date only, never with the metadata they were created with, so the job
cannot recognise its own by asking the server alone.

So a marker is written, durably, before each CreateMultipartUpload is sent: this job, this
task, this key. It is removed once the journal holds the upload's id. A marker that is still
there later (at the job's next start, or at the end of its transfers) names a key on which
this job may have begun an upload it does not know: there, an upload in progress that the
journal does not hold and that has no parts (this job sends none before the journal holds the
id) is that orphan, and is aborted. Nothing else is touched: another client's upload has a
journal of its own and, soon after it began, parts.

Markers live in the state folder (``s3-pending/``), one small file each; without one (a
backend built in a test) in memory, which covers lost answers but not a killed process.
"""

from __future__ import annotations

import json
import os
import secrets
import threading


class PendingUploads:
    def __init__(self, state_dir: str | None):
        self.folder = os.path.join(state_dir, "s3-pending") if state_dir else None
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    def add(self, target: str, job_uuid: str, task_id: int, key: str) -> str:
        """Record that a CreateMultipartUpload for ``key`` is about to be sent; returns the
        marker's name. Durable before it returns."""
        name = f"{job_uuid}.{task_id}.{secrets.token_hex(4)}.json"
        entry = {"target": target, "job": job_uuid, "task": task_id, "key": key}
        if self.folder is None:
            with self._lock:
                self._memory[name] = entry
            return name
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps(entry).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.folder)
        return name

    def remove(self, name: str) -> None:
        if self.folder is None:
            with self._lock:
                self._memory.pop(name, None)
            return
        try:
            os.unlink(os.path.join(self.folder, name))
        except FileNotFoundError:
            pass

    def of_job(self, target: str, job_uuid: str) -> list[tuple[str, str]]:
        """(marker, key) of every marker this job left for ``target`` (key None: a marker
        cut short by a kill, whose request was never sent)."""
        if self.folder is None:
            with self._lock:
                entries = list(self._memory.items())
        else:
            entries = []
            try:
                names = [n for n in os.listdir(self.folder) if n.startswith(job_uuid + ".")]
            except FileNotFoundError:
                names = []
            for n in names:
                try:
                    with open(os.path.join(self.folder, n), encoding="utf-8") as f:
                        entries.append((n, json.load(f)))
                except (OSError, ValueError):  # half written: its request was never sent
                    entries.append((n, {"job": job_uuid, "target": target, "key": None}))
        return [(n, e["key"]) for n, e in entries
                if e.get("job") == job_uuid and e.get("target") == target]


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # (Windows cannot open a folder; its file system keeps the entry)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
