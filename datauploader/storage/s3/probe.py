"""What an S3 server really checks, learnt with probe objects of our own.

S3 servers differ where it matters for the truth of a report: AWS refuses a write with
``If-None-Match: *`` on an existing key, a body whose ``Content-MD5`` does not match, and one
whose signed SHA-256 does not match; ``rclone serve s3`` ignores the first; moto server
ignores the last two. A proof may only be claimed where the server does the check, so each is
tried once per target:

* **conditional writes**: a probe object is written, then written again with
  ``If-None-Match: *`` (a PUT, and the completion of a one-part multipart upload): honoured
  if both are refused with 412;
* **Content-MD5**: a PUT whose ``Content-MD5`` is that of other bytes: checked if refused;
* **signed payload hash**: a PUT whose signed ``x-amz-content-sha256`` is that of other bytes:
  checked if refused.

Probe keys are new random names (``.du-probe-…``) under the static start of the prefix
template (where the job's own keys go), written with ``If-None-Match: *``, and removed
afterwards; nothing else is touched. A server that refuses the probe itself (permissions)
teaches nothing: every check counts as not done, and nothing is kept.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import asdict, dataclass

from datauploader.errors import TransientError
from datauploader.storage.s3.errors import PreconditionFailed, S3Error

log = logging.getLogger(__name__)

PROBE_MARK = ".du-probe-"
_BODY = b"DataUploader probe: what does this server check? Safe to delete.\n"
_OTHER = b"other bytes"


@dataclass(frozen=True)
class ServerChecks:
    conditional_writes: bool = False  # If-None-Match: * refused on an existing key
    content_md5: bool = False  # a body that does not match its Content-MD5 is refused
    payload_sha256: bool = False  # a body that does not match its signed SHA-256 is refused

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ServerChecks":
        return cls(**{k: bool(d.get(k)) for k in ("conditional_writes", "content_md5",
                                                   "payload_sha256")})


def _b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def static_head(template: str) -> str:
    """The part of a prefix template before its first placeholder, up to a ``/``: where every
    dataset of the target goes ("" for ``{proposal}/{dataset}``)."""
    head = template.split("{", 1)[0]
    return head[:head.rfind("/") + 1] if "/" in head else ""


def probe(client, bucket: str, under: str) -> ServerChecks | None:
    """Try the three checks with probe objects under ``under``; None if the server refused the
    probe itself (nothing learnt)."""
    made: list[str] = []

    def new_key() -> str:
        return f"{under}{PROBE_MARK}{secrets.token_hex(8)}"

    def put(key, body, md5=None, sha=None, if_none_match=True):
        res = client.put_object(bucket, key, body, content_md5_b64=md5 or _b64md5(body),
                                payload_sha256=sha or hashlib.sha256(body).hexdigest(),
                                if_none_match=if_none_match)
        made.append(key)
        return res

    try:
        key = new_key()
        put(key, _BODY)
        conditional = _refuses_overwrite(client, bucket, key, put, made)
        other = new_key()
        content_md5 = _refused(lambda: put(other, _BODY, md5=_b64md5(_OTHER)))
        other = new_key()
        payload = _refused(lambda: put(other, _BODY,
                                       sha=hashlib.sha256(_OTHER).hexdigest()))
        return ServerChecks(conditional, content_md5, payload)
    except (S3Error, TransientError) as e:
        log.warning("could not learn what the S3 server checks (%s); every check counts as "
                    "not done", e)
        return None
    finally:
        for key in dict.fromkeys(made):
            try:
                client.delete_object(bucket, key)
            except Exception:  # noqa: BLE001 - a probe left behind is ours and harmless
                log.warning("could not remove the probe object %s/%s", bucket, key,
                            exc_info=True)


def _refuses_overwrite(client, bucket: str, key: str, put, made: list) -> bool:
    """Does a second write of ``key`` with If-None-Match: * fail, as a PUT and as the
    completion of a multipart upload?"""
    try:
        put(key, _BODY)
    except PreconditionFailed:
        pass
    else:
        return False
    upload_id = client.create_multipart_upload(bucket, key)
    try:
        etag = client.upload_part(bucket, key, upload_id, 1, _BODY,
                                  content_md5_b64=_b64md5(_BODY))
        client.complete_multipart_upload(bucket, key, upload_id, [(1, etag)],
                                         if_none_match=True)
    except PreconditionFailed:
        client.abort_multipart_upload(bucket, key, upload_id)
        return True
    except BaseException:
        client.abort_multipart_upload(bucket, key, upload_id)
        raise
    made.append(key)
    return False


def _refused(write) -> bool:
    """Was ``write`` refused as damaged (400 BadDigest, InvalidDigest,
    XAmzContentSHA256Mismatch …)?"""
    try:
        write()
    except S3Error as e:
        if e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 412):
            return True
        raise
    except TransientError:
        raise
    return False
