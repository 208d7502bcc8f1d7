"""What S3 requests and answers carry besides the signature: user metadata headers, ETags,
XML answers, and the records made from them.

User metadata (``x-amz-meta-<name>``): names are lower-cased ASCII (letters, digits, ``-``,
``_``); values are sent ASCII-safe: ``%``, control characters and every non-ASCII character
are percent-encoded (UTF-8), everything else goes as is. :func:`info_from_headers` decodes
values containing ``%``, so our own values round-trip exactly; a value written by another tool
that happens to contain ``%XX`` is decoded too.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import quote, unquote

from datauploader.storage.s3.errors import S3Error

MAX_PARTS = 10_000
# our metadata on each object
META_CHECKSUM = "du-checksum"  # "<algorithm>:<hex>", single PUT only (known before sending)
META_JOB = "du-job"
META_TASK = "du-task"
META_PART_SIZE = "du-part-size"


def md5(data) -> "hashlib._Hash":
    return hashlib.md5(data, usedforsecurity=False)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def is_md5(etag: str | None) -> bool:
    """A plain MD5 ETag (32 hex digits), as S3 gives a single PUT's object and each part
    (not a multipart object's ``…-N``, nor the other ETags of encrypted objects)."""
    return bool(etag) and len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


@dataclass(frozen=True, slots=True)
class PutResult:
    etag: str  # without quotes
    headers: dict  # response headers, lower-case names


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None  # without quotes
    last_modified: str | None = None  # as the server wrote it (HTTP date or ISO 8601)
    metadata: dict = field(default_factory=dict)  # lower-case names without x-amz-meta-
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    part_number: int
    size: int
    etag: str  # without quotes


class MultipartUploadInfo(NamedTuple):
    key: str
    upload_id: str
    initiated: str | None


_META_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def add_metadata(h: dict, metadata: dict[str, str]) -> None:
    """``x-amz-meta-*`` headers for ``metadata`` into ``h``."""
    for name, value in metadata.items():
        lname = name.lower()
        if not lname or not set(lname) <= _NAME_OK:
            raise ValueError(f"metadata name {name!r}: use ASCII letters, digits, '-' and '_'")
        v = quote(str(value), safe=_META_SAFE)
        if v != v.strip():  # HTTP drops leading and trailing blanks
            stripped = v.strip()
            lead = len(v) - len(v.lstrip())
            trail = len(v) - len(v.rstrip())
            v = "%20" * lead + stripped + "%20" * trail
        h["x-amz-meta-" + lname] = v


def info_from_headers(key: str, h: dict) -> ObjectInfo:
    meta = {}
    for name, value in h.items():
        if name.startswith("x-amz-meta-"):
            meta[name[11:]] = unquote(value) if "%" in value else value
    size = h.get("content-length")
    return ObjectInfo(key, int(size) if size and size.isdigit() else 0,
                      unquote_etag(h.get("etag")), h.get("last-modified"), meta,
                      h.get("content-type"))


def unquote_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def parse_xml(body: bytes, op: str) -> ET.Element:
    try:
        # S3 may send whitespace first (to keep a slow CompleteMultipartUpload alive)
        root = ET.fromstring(body.lstrip())
    except ET.ParseError as e:
        raise S3Error(f"The S3 server answered {op} with something that is not XML.",
                      details=body[:500].decode("utf-8", "replace")) from e
    return root
