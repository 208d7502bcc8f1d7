"""The states a job and its files go through: in the journal (``JobState``, ``TaskState``) and
in the progress display (``FileStatus``).

String enums: their values are what the journal stores and what ``--json`` and the reports
show, and they compare equal to those strings.
"""

from __future__ import annotations

from enum import Enum


class _Values(str, Enum):
    def __str__(self) -> str:
        return self.value


class JobState(_Values):
    PLANNED = "planned"  # in the journal, nothing moved yet
    RUNNING = "running"  # an engine is working on it (or was, until it was killed)
    COMPLETED = "completed"  # every file uploaded, verified, registered; dataset finalized
    INCOMPLETE = "incomplete"  # ran to the end, some files failed: resume retries them
    FAILED = "failed"  # stopped by a job-level error (credentials, unreachable server)
    CANCELLED = "cancelled"  # stopped by the user
    INTERRUPTED = "interrupted"  # RUNNING in the journal but no process holds it: it was killed

    @property
    def resumable(self) -> bool:
        return self is not JobState.COMPLETED


class TaskState(_Values):
    PLANNED = "planned"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"  # the server accepted the bytes
    VERIFIED = "verified"  # what the server reports matches what we read
    REGISTERED = "registered"  # the catalogue knows the datafile
    FAILED = "failed"
    #: should be in the dataset but could not even be planned (an unreadable folder, a file
    #: that vanished, a path too long for the OS): a failure; resume scans it again
    UNPLANNED = "unplanned"
    #: the operator decided to leave it out of the dataset (recorded, with why it failed)
    LEFT_OUT = "left-out"


class FileStatus(_Values):
    """A file's row in a progress display (this run's view; the journal keeps TaskState)."""

    WAITING = "waiting"
    UPLOADING = "uploading"
    RETRYING = "retrying"
    VERIFIED = "verified"
    REGISTERED = "registered"
    FAILED = "failed"
    SKIPPED = "skipped"  # already there with the same content

    @property
    def done(self) -> bool:
        return self in (FileStatus.VERIFIED, FileStatus.REGISTERED, FileStatus.SKIPPED)


class WatchState(_Values):
    """A folder watched in sync mode."""

    WATCHING = "watching"
    UNAVAILABLE = "unavailable"  # gone (an unmounted share): looked for again, nothing lost


class WatchMethod(_Values):
    """How a watched folder learns of new files."""

    EVENTS = "events"  # the operating system's file-system events
    POLLING = "polling"  # listing it again and again (network shares, no events)
