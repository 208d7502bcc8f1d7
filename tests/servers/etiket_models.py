"""The request bodies an etiket server takes, written from the documented protocol (etiket's
client is proprietary and cannot be used here): the emulator validates every body against
these, unknown fields refused, as FastAPI with pydantic models that forbid extras would.

Limits are those of etiket's data model: attribute keys and values, and keywords, of 2 to 20
characters; a dataset name of 1 to 100; an ``alt_uid`` of 5 to 80 that is not the uuid; a
collection name of 2 to 255.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Short = Annotated[str, StringConstraints(min_length=2, max_length=20)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileType(str, enum.Enum):
    HDF5 = "HDF5"
    HDF5_NETCDF = "HDF5_NETCDF"
    HDF5_CACHE = "HDF5_CACHE"
    NDARRAY = "NDARRAY"
    JSON = "JSON"
    TEXT = "TEXT"
    UNKNOWN = "UNKNOWN"


class DatasetCreate(Strict):
    uuid: uuid.UUID
    alt_uid: Optional[Annotated[str, StringConstraints(min_length=5, max_length=80)]] = None
    collected: datetime.datetime
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    creator: str
    description: Optional[str] = None
    notes: Optional[str] = None
    keywords: list[Short]
    ranking: int
    scope_uuid: uuid.UUID
    attributes: dict[Short, Short] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _alt_uid_is_another_id(self):
        if self.alt_uid == str(self.uuid):
            raise ValueError("The uuid and alternative uid need to be different.")
        return self


class DatasetUpdate(Strict):
    alt_uid: Optional[str] = None
    name: Optional[str] = None
    description: Optional[str] = None
    notes: Optional[str] = None
    keywords: Optional[list[Short]] = None
    ranking: Optional[int] = None
    attributes: Optional[dict[Short, Short]] = None


class FileCreate(Strict):
    name: str
    filename: str
    uuid: uuid.UUID
    creator: str
    collected: datetime.datetime
    size: int = Field(ge=0)
    type: FileType
    file_generator: Optional[str]
    version_id: int
    ranking: int = 0
    ds_uuid: uuid.UUID
    immutable: bool = True


class FileValidate(Strict):
    uuid: uuid.UUID
    version_id: int
    md5_checksum: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    upload_id: str
    etags: list[str]


class CollectionIn(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=255)]
    scope: str
    description: Optional[str] = None


def problems(err) -> list[dict]:
    """FastAPI's 422 ``detail``: one entry per problem, with its location."""
    return [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in err.errors(include_url=False, include_context=False)]
