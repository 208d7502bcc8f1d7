"""Plain data: what the user asks for (a dataset definition) and the files of a plan.

The states a job and its files go through live in ``datauploader.states`` (the events carry
them); they are importable from here too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum

from datauploader.states import JobState, TaskState

__all__ = ["JobState", "TaskState", "TO_UPLOAD", "FAILED_STATES", "Mode", "LinkPolicy",
           "DatasetDefinition", "PlannedFile"]


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
    prefix: str = ""  # the storage prefix template for this dataset ('': the storage's own)

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
