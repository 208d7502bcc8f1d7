"""What WebDAV requests and answers look like, apart from any server connection: request
heads, the paths of keys, PROPFIND and its XML answer, and the checksum headers servers send
(``Digest`` per RFC 3230, ownCloud's ``OC-Checksum``, ETags)."""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit

from datauploader.errors import UnsafeKeyError

DAV, OC = "{DAV:}", "{http://owncloud.org/ns}"
PROPFIND_BODY = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
                 b'xmlns:oc="http://owncloud.org/ns"><d:prop><d:resourcetype/>'
                 b'<d:getcontentlength/><d:getetag/><oc:checksums/></d:prop></d:propfind>')
PROPFIND_TYPE = "application/xml; charset=utf-8"
WANT_DIGEST = "sha-256;q=1, md5;q=0.8, adler32;q=0.5"
PUT_HEADERS = {"If-None-Match": "*", "Content-Type": "application/octet-stream",
               "Want-Digest": WANT_DIGEST}
HEAD_HEADERS = {"Want-Digest": WANT_DIGEST}
_ALGS = {"sha-256": "sha256", "sha256": "sha256", "md5": "md5", "sha": "sha1", "sha1": "sha1",
         "sha-1": "sha1", "adler32": "adler32", "adler-32": "adler32", "crc32": "crc32"}
_BODY_METHODS = ("PUT", "POST", "MKCOL", "MOVE")

#: one PROPFIND entry: (key relative to the base folder, is a folder, size, etag, checksums)
Entry = tuple[str, bool, int, str | None, dict]


def parse_digest(value: str | None) -> dict[str, str]:
    """RFC 3230 ``Digest: sha-256=<base64>, md5=<base64>, adler32=<hex>`` → {alg: hex}."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        name, sep, v = part.strip().partition("=")
        alg = _ALGS.get(name.strip().lower())
        v = v.strip().strip('"')
        if not sep or not alg or not v:
            continue
        if alg in ("adler32", "crc32"):
            out[alg] = v.lower().rjust(8, "0")
            continue
        try:
            out[alg] = base64.b64decode(v, validate=True).hex()
        except (binascii.Error, ValueError):
            if all(c in "0123456789abcdefABCDEF" for c in v):
                out[alg] = v.lower()
    return out


def parse_oc_checksums(value: str | None) -> dict[str, str]:
    """ownCloud's ``SHA1:<hex> MD5:<hex> ADLER32:<hex>`` (header or property) → {alg: hex}."""
    out: dict[str, str] = {}
    for token in (value or "").replace(",", " ").split():
        name, sep, v = token.partition(":")
        alg = _ALGS.get(name.lower())
        if sep and alg and v:
            out[alg] = v.lower().rjust(8, "0") if alg in ("adler32", "crc32") else v.lower()
    return out


def strong_etag(value: str | None) -> str | None:
    """A strong ETag without quotes, lower case; None for none or a weak one."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("W/"):
        return None  # a weak ETag says nothing about the bytes
    return v.strip('"').lower()


def request_head(method: str, path: str, fixed: str, headers: dict | None,
                 length: int | None) -> bytes:
    """A request's head: ``fixed`` holds the lines every request carries (Host, User-Agent,
    Authorization); ``length`` its Content-Length (None: none, and none needed)."""
    head = [method, " ", path, " HTTP/1.1\r\n", fixed]
    if headers:
        for k, v in headers.items():
            if "\n" in v or "\r" in v:
                raise ValueError(f"a line break in the {k} header")
            head += (k, ": ", v, "\r\n")
    if length is None and method in _BODY_METHODS:
        length = 0
    if length is not None:
        head += ("Content-Length: ", str(length), "\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1")


def key_path(base: str, key: str) -> str:
    """The request path of ``key`` under the (encoded) folder path ``base``."""
    parts = [p for p in key.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise UnsafeKeyError(f"The remote key '{key}' would escape the storage folder.")
    return base + "".join("/" + quote(p, safe="") for p in parts)


def parse_multistatus(body: bytes, base_decoded: str) -> list[Entry]:
    """The entries of a PROPFIND answer that lie under the folder ``base_decoded`` (a
    decoded path); raises ET.ParseError for a body that is not XML."""
    root = ET.fromstring(body)
    out = []
    for resp in root.iter(DAV + "response"):
        href = unquote(urlsplit(resp.findtext(DAV + "href") or "").path).rstrip("/")
        if href == base_decoded:
            rel = ""
        elif href.startswith(base_decoded + "/"):
            rel = href[len(base_decoded) + 1:]
        else:
            continue
        folder, size, etag, sums = False, 0, None, {}
        for ps in resp.iter(DAV + "propstat"):
            if " 200" not in (ps.findtext(DAV + "status") or " 200"):
                continue
            prop = ps.find(DAV + "prop")
            if prop is None:
                continue
            rt = prop.find(DAV + "resourcetype")
            if rt is not None and rt.find(DAV + "collection") is not None:
                folder = True
            length = (prop.findtext(DAV + "getcontentlength") or "").strip()
            if length.isdigit():
                size = int(length)
            etag = strong_etag(prop.findtext(DAV + "getetag")) or etag
            for c in prop.iter(OC + "checksum"):
                sums.update(parse_oc_checksums(c.text))
        out.append((rel, folder, size, etag, sums))
    return out
