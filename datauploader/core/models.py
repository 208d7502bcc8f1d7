"""Plain data: what the user asks for (a dataset definition) and the states things go through."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum


class JobState(str, Enum):
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

    def __str__(self) -> str:
        return self.value


class TaskState(str, Enum):
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

    def __str__(self) -> str:
        return self.value


#: states in which a file still has to be uploaded
TO_UPLOAD = (TaskState.PLANNED, TaskState.UPLOADING, TaskState.UPLOADED, TaskState.FAILED)
#: states of a file that should have gone and did not
FAILED_STATES = (TaskState.FAILED, TaskState.UNPLANNED)


class Mode(str, Enum):
    BATCH = "batch"  # upload at the end of the experiment
    SYNC = "sync"  # upload during acquisition

    def __str__(self) -> str:
        return self.value


@dataclass
class DatasetDefinition:
    """What the operator defines: where the data belongs, what it is, and which files."""

    proposal: str
    name: str
    paths: list[str] = field(default_factory=list)
    description: str = ""
    dataset_type: str = "raw"
    sample: str = ""
    keywords: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    investigation_title: str = ""
    mode: str = Mode.BATCH.value

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DatasetDefinition":
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class LinkPolicy(str, Enum):
    """What the planner does with a symbolic link inside the selected folders."""

    INSIDE = "inside"  # follow links that point inside the selection; report the others
    FOLLOW = "follow"  # follow every link (loops are still detected)
    SKIP = "skip"  # follow none; report each

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file of a plan: where it is, what it is called in the dataset, where it goes."""

    path: str  # absolute local path
    relpath: str  # name within the dataset, '/'-separated, as the user sees it
    key: str  # remote key, safe for the target
    size: int
    mtime_ns: int
