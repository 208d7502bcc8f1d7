"""etiket's files: a version registered in a dataset, its bytes put to the pre-signed URLs of
the server's object store, then validated by the server with their MD5.

A file is ``(uuid, version_id)`` in a dataset, under a ``name`` (several versions may share
one). Its status goes ``announced`` (registered, no bytes) → ``pending`` (an upload link was
handed out) → ``secured`` (the server checked the stored object against the MD5 sent). Shared
by the etiket storage (every file of a job, journaled) and the etiket catalogue (the
thumbnail, a small file of its own).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from datauploader.errors import FileError, TransientError, VerificationError
from datauploader.net.etiket import EtiketError, EtiketSession
from datauploader.net.webclient import WebClient, where

SECURED, PENDING, ANNOUNCED = "secured", "pending", "announced"
#: etiket's file types by file-name ending (everything else is UNKNOWN)
TYPES = {".h5": "HDF5", ".hdf5": "HDF5", ".nc": "HDF5_NETCDF", ".npy": "NDARRAY",
         ".json": "JSON", ".txt": "TEXT", ".csv": "TEXT", ".log": "TEXT", ".md": "TEXT",
         ".yaml": "TEXT", ".yml": "TEXT"}
#: the files dataQruiser shows a dataset with: an ordinary, hidden file of the dataset
THUMBNAIL_NAME = "__thumbnail_0"
THUMBNAIL_FILENAME = "__thumbnail_0.jpg"
HIDDEN_RANKING = -1


@dataclass(frozen=True)
class FileVersion:
    name: str
    filename: str
    uuid: str
    version_id: int
    size: int
    status: str
    md5: str | None = None
    etag: str | None = None
    link: str | None = None  # a download URL (S3_link) while it is valid

    @classmethod
    def from_json(cls, d: dict) -> "FileVersion":
        return cls(d["name"], d.get("filename", d["name"]), str(d["uuid"]), int(d["version_id"]),
                   int(d.get("size") or 0), str(d.get("status", ANNOUNCED)),
                   d.get("md5_checksum"), d.get("etag"), d.get("S3_link"))


class LinkRefused(Exception):
    """The object store refused a pre-signed URL (expired, most likely): ask for a new one."""


def utc_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def version_id_for(mtime_ns: int) -> int:
    """etiket's version ids are milliseconds since the epoch (here: of the file's mtime)."""
    return mtime_ns // 1_000_000


def file_type(filename: str) -> str:
    return TYPES.get(os.path.splitext(filename)[1].lower(), "UNKNOWN")


def versions(session: EtiketSession, ds_uuid: str, name: str) -> list[FileVersion]:
    rows = session.json("GET", "/file/by_name/", f"list the versions of {name}",
                        params={"dataset_uuid": ds_uuid, "name": name}) or []
    return [FileVersion.from_json(r) for r in rows]


def read(session: EtiketSession, file_uuid: str, version_id: int) -> FileVersion | None:
    rows = session.json("GET", "/file/read/", "read a file back",
                        params={"uuid": file_uuid, "version_id": str(version_id)}) or []
    return FileVersion.from_json(rows[0]) if rows else None


def register(session: EtiketSession, *, ds_uuid: str, name: str, filename: str, file_uuid: str,
             version_id: int, size: int, collected: float, creator: str,
             ranking: int = 0) -> None:
    """Announce a version (no bytes yet); 201 with an empty body."""
    session.call("POST", "/file/", f"register {name}", json={
        "name": name, "filename": filename, "uuid": file_uuid, "creator": creator,
        "collected": utc_iso(collected), "size": size, "type": file_type(filename),
        "file_generator": "DataUploader", "version_id": version_id, "ranking": ranking,
        "ds_uuid": ds_uuid, "immutable": True})


def single_link(session: EtiketSession, file_uuid: str, version_id: int, name: str) -> str:
    answer = session.json("GET", "/file/presigned_link/single_part/",
                          f"hand out an upload link for {name}",
                          params={"file_uuid": file_uuid, "version_id": str(version_id)}) or {}
    return answer["url"]


def multipart_links(session: EtiketSession, file_uuid: str, version_id: int,
                    name: str) -> tuple[str, int, list[str]]:
    """(upload_id, part_size, one URL per part) for a large file."""
    a = session.json("GET", "/file/presigned_link/", f"hand out the upload links for {name}",
                     params={"file_uuid": file_uuid, "version_id": str(version_id)}) or {}
    return a["upload_id"], int(a["part_size"]), list(a["presigned_urls"])


def validate(session: EtiketSession, file_uuid: str, version_id: int, md5: str, name: str,
             upload_id: str = "", etags: list[str] | None = None) -> None:
    """Ask the server to check the stored object against ``md5``; it is ``secured`` after.
    A refusal is a VerificationError: the bytes stored are not the ones read here."""
    path = "/file/validate_upload/" if upload_id else "/file/validate_upload/single_part/"
    try:
        session.call("POST", path, f"validate {name}", json={
            "uuid": file_uuid, "version_id": version_id, "md5_checksum": md5,
            "upload_id": upload_id, "etags": list(etags or [])})
    except EtiketError as e:
        if e.status in (400, 409, 422):
            raise VerificationError(f"{session.describe()} did not validate {name}: the object "
                                    f"it stored is not the file read here ({e}); it will be "
                                    "sent again when the job is resumed.") from None
        raise


def put(store: WebClient, url: str, body, size: int, what: str):
    """PUT to a pre-signed URL (``x-ms-blob-type`` for Azure stores, harmless on S3); the
    answer's ETag (the MD5 on S3 and Azure block blobs) is the caller's to compare."""
    headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream",
               "Content-Length": str(size)}
    secret = urlsplit(url).query
    resp = store.request("PUT", url, data=body, headers=headers, secrets=(secret,))
    if resp.status_code in (200, 201):
        return resp
    text = resp.text[:300] if resp.text else ""
    if resp.status_code in (400, 401, 403) and ("xpired" in text or resp.status_code == 403):
        raise LinkRefused(text)
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TransientError(f"The object store at {where(url)} failed to take {what} (HTTP "
                             f"{resp.status_code}); it will be retried.")
    raise FileError(f"The object store at {where(url)} refused {what} (HTTP {resp.status_code}).",
                    details=text.replace(secret, "…") if secret else text)


def etag_md5(resp) -> str | None:
    """The hex MD5 an answer states: its ETag (S3, Azure) or Content-MD5 (base64)."""
    import base64

    tag = (resp.headers.get("ETag") or "").strip().removeprefix("W/").strip('"').lower()
    if len(tag) == 32 and all(c in "0123456789abcdef" for c in tag):
        return tag
    b64 = resp.headers.get("Content-MD5")
    if b64:
        try:
            return base64.b64decode(b64).hex()
        except ValueError:
            return None
    return None


def upload_small(session: EtiketSession, store: WebClient, ds_uuid: str, name: str,
                 filename: str, data: bytes, creator: str, ranking: int = 0) -> str:
    """A small file of our own (the thumbnail) in one go: registered, put, validated; a
    version already secured under that name is kept. Returns its ``uuid:version``."""
    done = [v for v in versions(session, ds_uuid, name) if v.status == SECURED]
    if done:
        return f"{done[-1].uuid}:{done[-1].version_id}"
    file_uuid, version_id = str(uuidlib.uuid4()), int(time.time() * 1000)
    register(session, ds_uuid=ds_uuid, name=name, filename=filename, file_uuid=file_uuid,
             version_id=version_id, size=len(data), collected=time.time(), creator=creator,
             ranking=ranking)
    md5 = hashlib.md5(data).hexdigest()
    for _ in range(2):
        try:
            resp = put(store, single_link(session, file_uuid, version_id, name), data, len(data),
                       name)
            break
        except LinkRefused:
            continue
    else:
        raise FileError(f"The object store refused the upload links for {name}.")
    stated = etag_md5(resp)
    if stated is not None and stated != md5:
        raise VerificationError(f"The object store stored {name} with MD5 {stated}, not {md5}.")
    validate(session, file_uuid, version_id, md5, name)
    return f"{file_uuid}:{version_id}"
