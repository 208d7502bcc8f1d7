"""One process at a time per job, and per upload target on this computer: OS file locks,
released by the OS if the process is killed (so a crash never leaves a job locked)."""

from __future__ import annotations

import hashlib
import os

import filelock


class JobLock:
    """One process at a time per job: an OS file lock, released by the OS if we are killed."""

    def __init__(self, lock_dir: str, job_uuid: str, name: str | None = None):
        os.makedirs(lock_dir, exist_ok=True)
        self._lock = filelock.FileLock(os.path.join(lock_dir, name or f"job-{job_uuid}.lock"),
                                       thread_local=False)

    def acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
            return True
        except filelock.Timeout:
            return False

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def held_elsewhere(self) -> bool:
        if self._lock.is_locked:
            return False
        if self.acquire():
            self.release()
            return False
        return True


class TargetLock(JobLock):
    """One job at a time per upload target (storage and prefix) on this computer: a second
    job writing the same dataset prefix is refused before it sends anything."""

    def __init__(self, lock_dir: str, storage: str, prefix: str):
        digest = hashlib.sha256(f"{storage}\x1f{prefix}".encode("utf-8")).hexdigest()[:24]
        super().__init__(lock_dir, f"target-{digest}", name=f"target-{digest}.lock")
