"""AWS Signature Version 4 for S3, header-based (the ``Authorization`` header).

Small and fast on purpose: signing a request costs a few tens of microseconds, because the
derived signing key is cached per (secret, date, region, service) and nothing else is
allocated beyond the canonical request itself. botocore's ``S3SigV4Auth`` is the reference
implementation; ``tests/unit/test_sigv4.py`` checks that both produce the same signature.

S3 rules, which differ from the generic SigV4 rules:

* The canonical URI is the request path exactly as sent: each segment percent-encoded once
  with only ``A-Za-z0-9-_.~`` left alone, ``/`` kept, no normalisation of ``.``, ``..`` or
  ``//`` (S3 does not normalise keys). :func:`encode_path` builds such a path from a key.
* The canonical query string has its parameters sorted by encoded name, then value, names
  and values encoded like path segments (``/`` encoded too). A parameter without a value
  (``?uploads``) is ``uploads=``. :func:`encode_query` builds it; send the same string.
* The payload hash is the hex sha256 of the body, or ``UNSIGNED-PAYLOAD``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# quote() never encodes ASCII letters, digits and "_.-~"; ``safe`` adds to that set.
_SAFE_PATH = "/"
_SAFE_QUERY = ""


def encode_path(path: str) -> str:
    """Percent-encode a raw path (e.g. ``/bucket/key with spaces``) the S3 way: UTF-8, every
    byte outside ``A-Za-z0-9-_.~/`` as ``%XX``. The result is both the request path and the
    canonical URI."""
    return quote(path, safe=_SAFE_PATH)


def encode_query(params: dict[str, str] | None) -> str:
    """The canonical query string for ``params``; also the query string to send."""
    if not params:
        return ""
    pairs = sorted(
        (quote(k, safe=_SAFE_QUERY), quote(v or "", safe=_SAFE_QUERY)) for k, v in params.items()
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def _is_signed(name: str) -> bool:
    return (name.startswith("x-amz-") or name == "host" or name == "content-md5"
            or name == "content-type" or name == "if-none-match" or name == "if-match")


class SigV4Signer:
    """Signs S3 requests for one region (and service, ``s3`` by default).

    Thread-safe: the only shared state is the signing-key cache, a dict whose single-key reads
    and writes are atomic; at worst two threads derive the same key once each.
    """

    __slots__ = ("region", "service", "_keys", "_scope_tail")

    _MAX_CACHED_KEYS = 16

    def __init__(self, region: str = "us-east-1", service: str = "s3"):
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}
        self._scope_tail = f"/{region}/{service}/aws4_request"

    def signing_key(self, secret_key: str, datestamp: str) -> bytes:
        """``kSigning`` for ``datestamp`` (``YYYYMMDD``), cached per (secret, date) — the region
        and service are fixed per signer, so the cache is per (secret, date, region)."""
        cache_key = (secret_key, datestamp)
        key = self._keys.get(cache_key)
        if key is None:
            k = hmac.digest(("AWS4" + secret_key).encode("utf-8"), datestamp.encode("ascii"),
                            "sha256")
            k = hmac.digest(k, self.region.encode("utf-8"), "sha256")
            k = hmac.digest(k, self.service.encode("utf-8"), "sha256")
            key = hmac.digest(k, b"aws4_request", "sha256")
            if len(self._keys) >= self._MAX_CACHED_KEYS:
                self._keys.clear()  # old dates and rotated secrets: simply start again
            self._keys[cache_key] = key
        return key

    def sign(self, method: str, canonical_uri: str, canonical_query: str, headers: dict[str, str],
             payload_hash: str, access_key: str, secret_key: str, token: str | None = None,
             date: str | None = None) -> dict[str, str]:
        """Sign a request in place and return ``headers``.

        ``headers`` maps *lower-case* header names to values and must contain ``host``;
        ``canonical_uri`` and ``canonical_query`` are the encoded path and query exactly as
        sent (see :func:`encode_path`, :func:`encode_query`). This adds ``x-amz-date``,
        ``x-amz-content-sha256``, ``x-amz-security-token`` (when ``token`` is given) and
        ``authorization``. Signed are ``host``, every ``x-amz-*`` header, and ``content-md5``,
        ``content-type``, ``if-none-match``, ``if-match`` when present; other headers
        (``content-length``, ``user-agent``, ``range``…) are sent unsigned.
        ``date`` (``YYYYMMDDTHHMMSSZ``) is for tests; default: now.
        """
        if date is None:
            date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers["x-amz-date"] = date
        headers["x-amz-content-sha256"] = payload_hash
        if token:
            headers["x-amz-security-token"] = token
        names = sorted(n for n in headers if _is_signed(n))
        signed_headers = ";".join(names)
        canonical_headers = "".join(
            f"{n}:{' '.join(headers[n].split())}\n" for n in names
        )
        canonical_request = (
            f"{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n"
            f"{signed_headers}\n{payload_hash}"
        )
        datestamp = date[:8]
        scope = datestamp + self._scope_tail
        string_to_sign = (
            f"{ALGORITHM}\n{date}\n{scope}\n"
            + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        )
        signature = hmac.new(self.signing_key(secret_key, datestamp),
                             string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        return headers
