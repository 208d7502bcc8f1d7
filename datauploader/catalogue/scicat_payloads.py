"""What SciCat accepts, per API version: each payload carries exactly the fields that version
requires and never one it would reject (its validation forbids unknown fields).

* v4 (``/api/v4``, ``CreateDatasetDto``): plural ``proposalIds``, ``sampleIds``,
  ``principalInvestigators``; ``datasetName`` required.
* v3 (``/api/v3``, the obsolete raw DTO): singular ``proposalId``, ``sampleId``,
  ``principalInvestigator``; ``owner``, ``principalInvestigator`` and ``creationLocation``
  required for raw datasets.

DataUploader's own bookkeeping lives in ``scientificMetadata.datauploader``: the job key (so
a resumed or re-run job finds its dataset: free-form JSON that both versions return and can
filter on by dotted path, unlike keywords, which are the users' own tags shown in the portal)
and ``complete`` (SciCat has no such field).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
from urllib.parse import urlsplit

from datauploader.catalogue.base import DatafileSpec, DatasetSpec
from datauploader.errors import InputError

OURS = "datauploader"  # key of our bookkeeping in scientificMetadata
IMAGE_TYPES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
THUMBNAIL_MAX = 1 << 20  # bytes of image; an attachment lives in one database document
THUMBNAIL_KEY = "thumbnail"  # metadata key naming an image the user picked
#: a host name with a domain: what sourceFolderHost must be (IsFQDN up to backend 4.25)
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
FQDN = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")


def folder_host(value: str) -> str:
    """sourceFolderHost as every backend release takes it: the bare host name. Releases up to
    4.25 validate it with IsFQDN (no scheme, no port, no path; a domain with a top-level
    part), later ones with IsUrl, which takes a bare host name too. Raises ValueError."""
    value = (value or "").strip()
    if not value:
        return ""
    host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
    if not FQDN.match(host):
        raise ValueError(f"'{value}' is not a host name with a domain (such as "
                         "s3.example.org); SciCat refuses it as sourceFolderHost.")
    return host


def totals(blocks: list[dict]) -> tuple[int, int]:
    """(size, numberOfFiles) as the backend defines them: over the dataset's origdatablocks."""
    return (sum(int(b.get("size") or 0) for b in blocks),
            sum(len(b.get("dataFileList") or ()) for b in blocks))


def totals_recorded(ds: dict) -> tuple[int, int]:
    return int(ds.get("size") or 0), int(ds.get("numberOfFiles") or 0)


def size_fields(ds: dict, size: int, count: int) -> dict:
    """The fields a partial update must name so that the backend does not set them to 0: the
    true size and file count, and the archive figures as the dataset has them."""
    out = {"size": size, "numberOfFiles": count}
    for name in ("packedSize", "numberOfFilesArchived"):
        if isinstance(ds.get(name), int):
            out[name] = ds[name]
    return out


def iso(ts: float | None = None) -> str:
    d = dt.datetime.fromtimestamp(ts if ts is not None else dt.datetime.now().timestamp(),
                                  dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def dataset(version: str, spec: DatasetSpec, *, proposal: dict, owner: str, owner_email: str,
            contact_email: str, owner_group: str, access_groups: list[str], pi: str,
            creation_location: str, source_folder_host: str = "") -> dict:
    dtype = spec.dataset_type or "raw"
    if dtype == "derived" or (version == "v3" and dtype != "raw"):
        raise InputError(f"DataUploader registers raw data in SciCat; '{dtype}' datasets need "
                         "input datasets and software it does not know. Choose the type raw.")
    # a picked image on this computer is attached now, its path means nothing to others; a
    # picked file of the dataset stays named in the metadata until it is registered
    metadata = {k: v for k, v in spec.metadata.items()
                if not (k == THUMBNAIL_KEY and os.path.isabs(str(v)))}
    metadata[OURS] = {"key": spec.dataset_key, "complete": False}
    body: dict = {
        "type": dtype, "datasetName": spec.name, "ownerGroup": owner_group,
        "accessGroups": list(access_groups), "owner": owner, "contactEmail": contact_email,
        "sourceFolder": spec.location or spec.name, "creationTime": iso(),
        "creationLocation": creation_location, "scientificMetadata": metadata,
        "isPublished": False}
    if owner_email:
        body["ownerEmail"] = owner_email
    if spec.description:
        body["description"] = spec.description
    if spec.keywords:
        body["keywords"] = list(spec.keywords)
    if source_folder_host:
        body["sourceFolderHost"] = source_folder_host
    pid = proposal.get("proposalId")
    if version == "v4":
        if pid:
            body["proposalIds"] = [pid]
        if spec.sample:
            body["sampleIds"] = [spec.sample]
        body["principalInvestigators"] = [pi]
    else:
        if pid:
            body["proposalId"] = pid
        if spec.sample:
            body["sampleId"] = spec.sample
        body["principalInvestigator"] = pi
    return body


def origdatablock(version: str, dataset_pid: str, entries: list[dict], algorithm: str) -> dict:
    body = {"size": sum(e["size"] for e in entries), "chkAlg": algorithm,
            "dataFileList": entries}
    if version == "v4":
        body["datasetId"] = dataset_pid
    return body


def datafile_entry(f: DatafileSpec, path: str) -> dict:
    return {"path": path, "size": f.size, "time": iso(f.mtime), "chk": f.checksum}


def image_type(path: str) -> str | None:
    return IMAGE_TYPES.get(os.path.splitext(path)[1].lower())


def thumbnail_data_uri(path: str) -> str | None:
    """``data:image/<type>;base64,…`` of a small image file, or None if it is not one."""
    kind = image_type(path)
    if kind is None:
        return None
    try:
        if os.path.getsize(path) > THUMBNAIL_MAX:
            return None
        with open(path, "rb") as f:
            data = f.read(THUMBNAIL_MAX + 1)
    except OSError:
        return None
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def attachment(version: str, dataset_pid: str, data_uri: str, caption: str, owner_group: str,
               access_groups: list[str]) -> dict:
    body = {"thumbnail": data_uri, "caption": caption, "ownerGroup": owner_group,
            "accessGroups": list(access_groups)}
    if version == "v4":
        body["isPublished"] = False
        body["relationships"] = [{"targetId": dataset_pid, "targetType": "dataset",
                                  "relationType": "is attached to"}]
    else:
        body["datasetId"] = dataset_pid
    return body
