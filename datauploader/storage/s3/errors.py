"""What an S3 server's refusals mean: its error answers sorted into our error classes, each
with a sentence for the operator (the server's code and message included)."""

from __future__ import annotations

import email.utils
import re
import time
import xml.etree.ElementTree as ET

from datauploader.errors import (AuthError, DataUploaderError, PermissionDeniedError,
                                 StorageFullError, TransientError, UsageError, UserFacingError,
                                 VerificationError)


class S3Error(DataUploaderError):
    """The S3 server refused a request.

    ``message`` is our sentence for the operator (it includes the server's code and message);
    ``status`` the HTTP status, ``code`` and ``s3_message`` what the server said,
    ``request_id`` its request id (for the server's administrators)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 s3_message: str | None = None, request_id: str | None = None,
                 details: str | None = None, **kw):
        super().__init__(message, details=details, **kw)
        self.status = status
        self.code = code
        self.s3_message = s3_message
        self.request_id = request_id


class S3AuthError(S3Error, AuthError):
    """The access key or the signature was refused (or the session token expired)."""


class S3PermissionDenied(S3Error, PermissionDeniedError):
    """Authenticated, but not allowed (``AccessDenied``)."""


class S3TransientError(S3Error, TransientError):
    """5xx, throttling, request timeouts: retry with backoff (``retry_after`` if the server
    said so)."""


class S3ChecksumMismatch(S3TransientError, VerificationError):
    """The bytes were damaged on the way: the server refused them (its MD5/SHA-256 is not the
    one sent) or stored them and answered with an ETag that is not their MD5. Retried; when
    the tries are used up, that file fails (the server is not unavailable for it)."""


def damaged(endpoint: str, bucket: str, key: str, etag: str, md5_hex: str,
            part: int | None = None) -> S3ChecksumMismatch:
    """The error for a write the server answered with ETag ``etag``, an MD5 other than
    ``md5_hex``, the MD5 of what was sent: the server stored other bytes (it does not check
    Content-MD5, and the body changed on the way)."""
    what = f"part {part} of '{bucket}/{key}'" if part else f"'{bucket}/{key}'"
    gone = "" if part else " The damaged object was removed."
    return S3ChecksumMismatch(
        f"The S3 server at {endpoint} stored {what} damaged: its ETag {etag} is not {md5_hex}, "
        f"the MD5 of the bytes sent (they changed on the way, and the server does not check "
        f"Content-MD5).{gone}", status=200, code="ETagMismatch",
        details=f"ETag {etag}, MD5 sent {md5_hex}")


class S3StorageFull(S3Error, StorageFullError):
    """507, ``EntityTooLarge``, quota exceeded."""


class NoSuchBucket(S3Error, UserFacingError):
    pass


class NoSuchKey(S3Error):
    pass


class NoSuchUpload(S3Error):
    """The multipart upload is gone (completed, aborted or expired)."""


class PreconditionFailed(S3Error):
    """412: with ``If-None-Match: *``, the key exists already."""


class WrongRegion(S3Error, UsageError):
    """The bucket lives in another region than the one configured."""


class ClockSkewError(S3Error, UserFacingError):
    """This computer's clock is too far from the server's for signatures to be accepted."""


_AUTH_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "TokenRefreshRequired", "InvalidSecurity", "MissingSecurityHeader",
})
_TRANSIENT_CODES = frozenset({
    "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
    "ThrottlingException", "RequestThrottled", "TooManyRequests", "OperationAborted",
    "ConditionalRequestConflict", "IncompleteBody",
})
_CHECKSUM_CODES = frozenset({"BadDigest", "XAmzContentSHA256Mismatch"})
_FULL_CODES = frozenset({"EntityTooLarge", "QuotaExceeded", "XMinioStorageFull", "StorageFull",
                         "InsufficientStorage"})
_REGION_CODES = frozenset({"AuthorizationHeaderMalformed", "PermanentRedirect",
                           "IllegalLocationConstraintException",
                           "AuthorizationQueryParametersError"})


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from an S3 error body; tolerates non-XML bodies."""
    if not body:
        return None, None, None
    text = body.lstrip()
    if text.startswith(b"<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            root = None
        if root is not None:
            err = root if local_name(root.tag) == "Error" else root.find("{*}Error")
            if err is not None:
                return (err.findtext("{*}Code") or None, err.findtext("{*}Message") or None,
                        err.findtext("{*}RequestId") or None)
            # Some other markup (an HTML page from a proxy): keep its text.
            words = " ".join(" ".join(root.itertext()).split())
            return None, (words[:200] or None), None
    snippet = text[:200].decode("utf-8", "replace")
    return None, (" ".join(snippet.split()) or None), None


_EXPECTING = re.compile(r"expecting '([a-z0-9-]+)'")
_ENDPOINT_REGION = re.compile(r"\.s3[.-](?:dualstack\.)?([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws")


def bucket_region(resp) -> str | None:
    """The region an AWS-like server says the bucket is in: the ``x-amz-bucket-region``
    header (also on a HEAD answer, which has no body), else the error body's ``Region``, the
    region in its ``Endpoint`` (a 301 PermanentRedirect) or in its message ("… expecting
    'eu-west-1'")."""
    found = resp.headers.get("x-amz-bucket-region")
    if found:
        return found.strip()
    text = resp.body.lstrip() if resp.body else b""
    if not text.startswith(b"<"):
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    found = root.findtext("{*}Region") or root.findtext("Region")
    if found:
        return found.strip()
    endpoint = root.findtext("{*}Endpoint") or root.findtext("Endpoint") or ""
    m = _ENDPOINT_REGION.search("." + endpoint)
    if m:
        return m.group(1)
    m = _EXPECTING.search(root.findtext("{*}Message") or root.findtext("Message") or "")
    return m.group(1) if m else None


def local_name(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rpartition("}")[2]


def error_for(resp, op: str, bucket: str, key: str | None, access_key: str, endpoint: str,
              region: str) -> S3Error:
    """The error for the refusal ``resp`` (status, headers, body) of ``op`` on
    ``bucket``/``key`` by the server at ``endpoint``."""
    status = resp.status
    code, s3msg, request_id = parse_error_body(resp.body)
    if code is None:
        code = resp.headers.get("x-amz-error-code") or resp.headers.get("x-minio-error-code")
    if s3msg is None:
        s3msg = resp.headers.get("x-amz-error-message") or \
            resp.headers.get("x-minio-error-desc")
    request_id = request_id or resp.headers.get("x-amz-request-id")
    what = f"'{bucket}/{key}'" if key else f"'{bucket}'"
    if code and s3msg and s3msg != code:
        said = f"{code}: {s3msg}"
    else:
        said = code or s3msg or f"HTTP {status}"
    kw = dict(status=status, code=code, s3_message=s3msg, request_id=request_id,
              details=f"{op} {what}: HTTP {status} {said} (request id {request_id})")
    ep = endpoint

    right = bucket_region(resp)
    if right and right != region and (status in (301, 307, 400) or code in _REGION_CODES):
        return WrongRegion(
            f"The bucket '{bucket}' is in region '{right}', not in '{region}' as configured "
            f"({said}): set region = {right} in the storage configuration (and endpoint_url, "
            "if it names the region).", **kw)
    if code in _REGION_CODES or status == 301:
        return WrongRegion(
            f"The S3 server at {ep} says bucket '{bucket}' is not in region "
            f"'{region}' ({said}). Check the region and the address in the storage "
            "configuration.", **kw)
    if code == "RequestTimeTooSkewed":
        return ClockSkewError(
            f"The S3 server at {ep} refused the request because this computer's clock is "
            "too far from the server's. Correct the system time and try again.", **kw)
    if code in _AUTH_CODES or status == 401:
        if code in ("ExpiredToken", "TokenRefreshRequired"):
            text = (f"The session token for access key {access_key} has expired ({code}). "
                    "Log in again or refresh the credentials.")
        elif code == "InvalidAccessKeyId":
            text = (f"The S3 server at {ep} refused the access key {access_key} "
                    f"({code}). Check the credentials.")
        elif code == "SignatureDoesNotMatch":
            text = (f"The S3 server at {ep} refused the secret key of access key "
                    f"{access_key} ({code}). Check the credentials.")
        else:
            text = (f"The S3 server at {ep} refused the credentials of access key "
                    f"{access_key} ({code or status}). Check the credentials.")
        return S3AuthError(text, **kw)
    if code == "AccessDenied":
        return S3PermissionDenied(
            f"The S3 server at {ep} denied access key {access_key} access to {what} "
            "(AccessDenied). Check the credentials and the bucket's permissions.", **kw)
    if status == 403 and code is None:
        # HEAD answers have no body: the code is unknown.
        return S3AuthError(
            f"The S3 server at {ep} refused access to {what} with access key "
            f"{access_key} (403 Forbidden). Check the credentials and the bucket's "
            "permissions.", **kw)
    if code == "NoSuchBucket" or (status == 404 and key is None and code is None):
        return NoSuchBucket(
            f"The bucket '{bucket}' does not exist at {ep}; check the bucket name in the "
            "configuration.", **kw)
    if code == "NoSuchUpload":
        return NoSuchUpload(f"The multipart upload of {what} no longer exists at {ep} "
                            f"({said}).", **kw)
    if code == "NoSuchKey" or (status == 404 and code is None):
        return NoSuchKey(f"The object {what} does not exist at {ep}.", **kw)
    if status == 412 or code == "PreconditionFailed":
        return PreconditionFailed(f"The object {what} already exists at {ep} ({said}).", **kw)
    if code in _CHECKSUM_CODES:
        return S3ChecksumMismatch(
            f"The S3 server at {ep} received {what} damaged: its checksum does not match "
            f"({said}).", **kw)
    if status == 507 or code in _FULL_CODES:
        return S3StorageFull(f"The S3 server at {ep} has no room for {what} ({said}).", **kw)
    if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
        return S3TransientError(
            f"The S3 server at {ep} had a temporary problem with {what} ({said}).",
            retry_after=retry_after(resp.headers.get("retry-after")), **kw)
    return S3Error(f"The S3 server at {ep} refused {op} of {what} ({said}).", **kw)
