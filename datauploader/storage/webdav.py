"""WebDAV storage: Nextcloud, ownCloud, dCache, Apache/nginx/IIS, ``rclone serve webdav``.

* **Upload**: ``MKCOL`` for missing folders (once per folder), then a streamed ``PUT`` of the
  file to ``.<name>.du-<job>-<task>.part`` (the filesystem backend's temporary names) with
  ``If-None-Match: *``, verification, then ``MOVE`` to the real name with ``Overwrite: F``.
  ``If-None-Match`` alone is not trusted (``rclone serve webdav`` ignores it on PUT), so the
  real name is only ever written by that MOVE, which RFC 4918 servers refuse (412) when the
  name exists (checked on rclone and nginx in the tests), and the job lists its prefix first.
* **Verification**, cheapest proof first: a checksum the server states in the PUT answer
  (``Digest`` per RFC 3230 as dCache sends it, ``OC-Checksum`` as ownCloud does, or an ETag that
  is the MD5 of the content, e.g. ``rclone serve webdav --etag-hash MD5``), else ``HEAD`` (size,
  and the same headers, asked for with ``Want-Digest``), else the temporary file is read back
  (``GET``) and hashed. The size is always checked. What a server offers is learnt on the first
  file, so later files skip requests that cannot help and hashes nobody will compare.
* **Resume**: per file. WebDAV has no standard way to append to a file, so a file cut off in
  the middle is sent again from its start; every file finished before is not sent again (the
  journal, the listing and ``adopt`` see to that).
* **Speed**: one persistent ``http.client`` connection per worker thread (the S3 client's
  plumbing: the body of a small file leaves in the same send as the headers, a light header
  parser). ``requests`` was measured at three times the client CPU per small file here.
* **Auth**: basic (user name; password from the OS keyring or ``DATAUPLOADER_WEBDAV_PASSWORD``)
  or bearer token (OS keyring or ``DATAUPLOADER_WEBDAV_TOKEN``). TLS verified by default;
  ``ca_bundle`` for a facility's own certificate authority.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import logging
import posixpath
import select
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit

from datauploader import __version__
from datauploader.checksums import new_hasher
from datauploader.core.keys import RULES
from datauploader.credentials import service_name
from datauploader.errors import (AuthError, CancelledError, FileChangedError, FileError,
                                 PermissionDeniedError, RemoteExistsError, StorageFullError,
                                 TransientError, UnreachableError, UnsafeKeyError,
                                 UserFacingError, VerificationError)
from datauploader.storage.base import (Option, RemoteObject, StorageBackend, TransferContext,
                                       TransferItem, UploadResult)
from datauploader.storage.filesystem import _is_temp, _temp_name
# the fast http.client plumbing shared with the S3 client (see the module docstring)
from datauploader.storage.s3_client import (_STALE_ERRORS, _HTTPConnection, _HTTPSConnection,
                                            _peer_closed)

log = logging.getLogger(__name__)

KiB, MiB = 1 << 10, 1 << 20
SMALL_BODY = 256 * KiB  # read whole and sent with the headers
CHUNK = MiB
USER_AGENT = f"datauploader/{__version__}"
DAV, OC = "{DAV:}", "{http://owncloud.org/ns}"
PROPFIND_BODY = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
                 b'xmlns:oc="http://owncloud.org/ns"><d:prop><d:resourcetype/>'
                 b'<d:getcontentlength/><d:getetag/><oc:checksums/></d:prop></d:propfind>')
WANT_DIGEST = "sha-256;q=1, md5;q=0.8, adler32;q=0.5"
_ALGS = {"sha-256": "sha256", "sha256": "sha256", "md5": "md5", "sha": "sha1", "sha1": "sha1",
         "sha-1": "sha1", "adler32": "adler32", "adler-32": "adler32", "crc32": "crc32"}
COMPUTABLE = ("sha256", "md5", "sha1", "adler32", "crc32")


def _hasher(algorithm: str):
    return hashlib.sha1(usedforsecurity=False) if algorithm == "sha1" else new_hasher(algorithm)


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


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip()
    if v.startswith("W/"):
        return None  # a weak ETag says nothing about the bytes
    return v.strip('"').lower()


class _Resp:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


class WebDAVStorage(StorageBackend):
    kind = "webdav"
    OPTIONS = (
        Option("url", "URL of the folder that receives the files, e.g. https://cloud.example."
               "org/remote.php/dav/files/jdoe/beamline", required=True),
        Option("prefix", "template of the folder for each dataset under 'url'",
               default="{proposal}/{dataset}"),
        Option("auth", "basic (user name + password), bearer (a token) or none",
               default="basic", choices=("basic", "bearer", "none")),
        Option("username", "user name (basic auth; also names the keyring entry)", default=""),
        Option("ca_bundle", "PEM file of the certificate authorities to trust (default: the "
               "system's)", default=""),
        Option("verify_tls", "verify the server's TLS certificate", default=True, type=bool),
        Option("verify", "auto: a checksum the server offers, else read each file back; "
               "reread: always read back; size: size only", default="auto",
               choices=("auto", "reread", "size")),
        Option("names", "file-name rules of the server: portable (valid everywhere), posix "
               "or windows", default="portable", choices=("posix", "windows", "portable")),
        Option("timeout", "seconds to wait for an answer", default=120.0, type=float),
        Option("password", "never here: OS keyring or DATAUPLOADER_WEBDAV_PASSWORD",
               secret=True),
        Option("token", "never here: OS keyring or DATAUPLOADER_WEBDAV_TOKEN", secret=True),
    )

    def __init__(self, url: str, prefix: str = "{proposal}/{dataset}", auth: str = "basic",
                 username: str = "", ca_bundle: str = "", verify_tls: bool = True,
                 verify: str = "auto", names: str = "portable", timeout: float = 120.0,
                 password: str | None = None, token: str | None = None,
                 storage_name: str | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserFacingError(f"'{url}' is not an http:// or https:// URL; fix 'url' in the "
                                  "storage configuration.")
        self.url = url.rstrip("/")
        self.https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self.https else 80)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base = parts.path.rstrip("/")  # as given (percent-encoded)
        self._base_decoded = unquote(self._base)
        self.prefix_template = prefix
        self.name_rules = RULES[names]
        self.verify_mode = verify
        self.timeout = float(timeout)
        self.storage_name = storage_name or "STORAGE"
        self._auth_kind = auth
        self.username = username
        if auth == "basic":
            if not username or password is None:
                raise AuthError(
                    f"No password for the WebDAV server {self.url}" + (f" and user {username}"
                                                                         if username else "")
                    + ": set 'username' in [storage:" + self.storage_name + "] and store the "
                    f"password with 'datauploader credentials set {self.storage_name}', or set "
                    "DATAUPLOADER_WEBDAV_PASSWORD.")
            raw = f"{username}:{password}".encode("utf-8")
            self._auth = "Basic " + base64.b64encode(raw).decode("ascii")
        elif auth == "bearer":
            if not token:
                raise AuthError(
                    f"No token for the WebDAV server {self.url}: store it with 'datauploader "
                    f"credentials set {self.storage_name}', or set DATAUPLOADER_WEBDAV_TOKEN.")
            self._auth = f"Bearer {token}"
        else:
            self._auth = None
        self._ssl = self._ssl_context(ca_bundle, verify_tls) if self.https else None
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        self._conns: list = []
        self._lock = threading.Lock()
        self._collections: set[str] = set()  # folders (relative) known to exist
        # what the server offers, learnt on the first files (None: not known yet)
        self._etag_is_md5: bool | None = None
        self._head_helps: bool | None = None
        self._server_algs: set[str] = set()

    # -- construction from the configuration -----------------------------------------------
    @classmethod
    def from_config(cls, options: dict, ctx) -> "WebDAVStorage":
        options = dict(options)
        options.pop("password", None)
        options.pop("token", None)
        svc = service_name("webdav", options["url"].rstrip("/"))
        user = options.get("username", "")
        password = token = None
        if options.get("auth", "basic") == "basic" and user:
            password = ctx.secrets.get(svc, user)
            if password is None:
                password = ctx.env.get("DATAUPLOADER_WEBDAV_PASSWORD")
        elif options.get("auth") == "bearer":
            token = ctx.secrets.get(svc, user or "token") or \
                ctx.env.get("DATAUPLOADER_WEBDAV_TOKEN") or None
        return cls(**options, password=password, token=token, storage_name=ctx.section)

    # -- HTTP -------------------------------------------------------------------------------
    def _ssl_context(self, ca_bundle: str, verify_tls: bool) -> ssl.SSLContext:
        if not verify_tls:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            return c
        try:
            return ssl.create_default_context(cafile=ca_bundle or None)
        except (OSError, ssl.SSLError) as e:
            raise UserFacingError(f"The CA bundle {ca_bundle} could not be read ({e}); fix "
                                  "'ca_bundle' in the storage configuration.") from e

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.https:
                conn = _HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                        context=self._ssl)
            else:
                conn = _HTTPConnection(self._host, self._port, timeout=self.timeout)
            conn._du_thread = threading.current_thread()
            self._local.conn = conn
            with self._lock:
                stale = [c for c in self._conns if not c._du_thread.is_alive()]
                self._conns = [c for c in self._conns if c._du_thread.is_alive()] + [conn]
            for c in stale:  # connections of worker threads of earlier jobs
                c.close()
        return conn

    def _connect(self, conn) -> None:
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise UserFacingError(
                f"The certificate of the WebDAV server at {self._origin} could not be verified "
                f"({e.verify_message or e.reason}). If the server uses a certificate from your "
                f"facility's own authority, set ca_bundle to that authority's PEM file in "
                f"[storage:{self.storage_name}].", details=str(e)) from e
        except ssl.SSLError as e:
            conn.close()
            raise UserFacingError(f"The TLS handshake with the WebDAV server at {self._origin} "
                                  f"failed ({e.reason or e}); check that the URL is right "
                                  "(https:// or http://).", details=str(e)) from e
        except OSError as e:
            conn.close()
            raise self._unreachable(e, connecting=True) from e
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _unreachable(self, e: BaseException, connecting: bool = False) -> UnreachableError:
        if isinstance(e, socket.gaierror):
            reason = f"the host name {self._host} could not be resolved"
        elif isinstance(e, (TimeoutError, socket.timeout)):
            reason = "no answer in time"
        elif isinstance(e, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                            ssl.SSLEOFError)):
            reason = "the server closed the connection"
        elif isinstance(e, OSError) and e.strerror:
            reason = e.strerror
        else:
            reason = str(e) or type(e).__name__
        if connecting:
            msg = (f"Cannot reach the WebDAV server at {self._origin}: {reason}. Check the address "
                   "and the network; the job can be resumed.")
        else:
            msg = (f"The connection to the WebDAV server at {self._origin} failed: {reason}. The "
                   "transfer can be retried; the job can be resumed.")
        return UnreachableError(msg, details=f"{type(e).__name__}: {e}")

    def _request(self, method: str, path: str, headers: dict | None = None,
                 body: bytes | bytearray | memoryview | None = None, chunks=None,
                 length: int = 0, on_data=None) -> _Resp:
        """One request on this thread's connection. ``body`` goes with the headers (and may be
        sent again on a fresh connection if a kept-alive one turns out dead); ``chunks``
        (an iterator of buffers, ``length`` bytes in all) is streamed and never resent.
        ``on_data`` receives a 2xx answer's body in pieces instead of keeping it."""
        h = {"User-Agent": USER_AGENT}
        if self._auth:
            h["Authorization"] = self._auth
        if headers:
            h.update(headers)
        if body is not None:
            h["Content-Length"] = str(len(body))
        elif chunks is not None:
            h["Content-Length"] = str(length)
        elif method in ("PUT", "POST", "MKCOL", "MOVE"):
            h["Content-Length"] = "0"
        conn = self._conn()
        for attempt in (0, 1):
            reused = conn.sock is not None
            if reused and _peer_closed(conn.sock):
                conn.close()
                reused = False
            if conn.sock is None:
                self._connect(conn)
            try:
                conn.putrequest(method, path, skip_accept_encoding=True)
                for k, v in h.items():
                    conn.putheader(k, v)
                if chunks is None:
                    conn.endheaders(body if body is not None and len(body) else None)
                else:
                    conn.endheaders()
                    self._stream_body(conn, chunks, length)
                resp = conn.getresponse()
            except _STALE_ERRORS as e:
                conn.close()
                if attempt == 0 and reused and chunks is None:
                    continue  # a kept-alive connection the server had closed: once more
                raise self._unreachable(e) from e
            except _EarlyAnswer as e:
                return e.resp
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise self._unreachable(e) from e
            except BaseException:
                conn.close()  # a half-sent request must never be completed by the next one
                raise
            break
        try:
            if on_data is not None and 200 <= resp.status < 300 and method != "HEAD":
                buf = bytearray(CHUNK)
                mv = memoryview(buf)
                while True:
                    n = resp.readinto(mv)
                    if not n:
                        break
                    on_data(mv[:n])
                data = b""
            else:
                data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._unreachable(e) from e
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        return _Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def _stream_body(self, conn, chunks, length: int) -> None:
        sock = conn.sock
        watch = not isinstance(sock, ssl.SSLSocket)  # TLS may have records to read anyway
        sent = 0
        for piece in chunks:  # reading the file, hashing and ctx.sent happen in here
            try:
                conn.send(piece)
                sent += len(piece)
                # an answer before the body is complete means the server refused it
                if watch and sent < length and select.select([sock], [], [], 0)[0]:
                    raise ConnectionResetError("the server answered before the body was sent")
            except ConnectionError:
                try:
                    early = conn.getresponse()
                    resp = _Resp(early.status, {k.lower(): v for k, v in early.getheaders()},
                                 early.read())
                except Exception:  # noqa: BLE001 - no answer: the connection broke
                    raise ConnectionResetError("the connection broke while sending") from None
                finally:
                    conn.close()
                if resp.status >= 300:
                    raise _EarlyAnswer(resp) from None
                raise

    def _path(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UnsafeKeyError(f"The remote key '{key}' would escape the storage folder.")
        return self._base + "".join("/" + quote(p, safe="") for p in parts)

    def _fail(self, r: _Resp, doing: str, what: str) -> Exception:
        """A plain sentence for an HTTP error answer."""
        s = r.status
        said = f"HTTP {s}"
        if r.body and len(r.body) < 400 and not r.body.lstrip().startswith(b"<"):
            said += ": " + " ".join(r.body.decode("utf-8", "replace").split())
        details = f"{doing} {what}: {said}"
        if s == 401:
            who = f"the password for user {self.username}" if self._auth_kind == "basic" else \
                "the token" if self._auth_kind == "bearer" else "the request without credentials"
            return AuthError(f"The WebDAV server at {self.url} refused {who}. Store the right "
                             f"one with 'datauploader credentials set {self.storage_name}'.",
                             details=details)
        if s == 403:
            return PermissionDeniedError(f"The WebDAV server at {self.url} does not allow "
                                         f"{doing} {what}; ask for write access to the folder.",
                                         details=details)
        if s == 507:
            return StorageFullError(f"The WebDAV server at {self.url} has no space left (or "
                                    f"your quota is used up) for {what}. Free some space, then "
                                    "resume the job.", details=details)
        if s in (408, 423, 425, 429) or s >= 500:
            retry = r.headers.get("retry-after")
            return TransientError(f"The WebDAV server at {self.url} had a temporary problem "
                                  f"{doing} {what} ({said}); it will be retried.",
                                  details=details,
                                  retry_after=float(retry) if retry and retry.isdigit() else None)
        if s == 413:
            return FileError(f"The WebDAV server at {self.url} refuses files as large as {what}.",
                             details=details)
        return FileError(f"The WebDAV server at {self.url} refused {doing} {what} ({said}).",
                         details=details)

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        self._local = threading.local()

    # -- folders and listings ---------------------------------------------------------------
    def _propfind(self, path: str, depth: str) -> list[tuple[str, bool, int, str | None, dict]]:
        """(relative key, is folder, size, etag, checksums) per entry; [] if there is none."""
        r = self._request("PROPFIND", path, {"Depth": depth,
                                            "Content-Type": "application/xml; charset=utf-8"},
                          body=PROPFIND_BODY)
        if r.status == 404:
            return []
        if r.status != 207:
            raise self._fail(r, "listing", unquote(path))
        try:
            root = ET.fromstring(r.body)
        except ET.ParseError as e:
            raise TransientError(f"The WebDAV server at {self.url} sent a listing that is not "
                                 "valid XML; it will be retried.", details=str(e)) from e
        out = []
        for resp in root.iter(DAV + "response"):
            href = unquote(urlsplit(resp.findtext(DAV + "href") or "").path).rstrip("/")
            if href == self._base_decoded:
                rel = ""
            elif href.startswith(self._base_decoded + "/"):
                rel = href[len(self._base_decoded) + 1:]
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
                etag = _etag(prop.findtext(DAV + "getetag")) or etag
                for c in prop.iter(OC + "checksum"):
                    sums.update(parse_oc_checksums(c.text))
            out.append((rel, folder, size, etag, sums))
        return out

    def _ensure_collection(self, rel: str) -> None:
        if not rel or rel in self._collections:
            return
        path = self._path(rel) + "/"
        r = self._request("MKCOL", path)
        if r.status == 409:  # the parent is missing: make it, then this one
            self._ensure_collection(posixpath.dirname(rel))
            r = self._request("MKCOL", path)
        # 405: exists already (RFC 4918; rclone answers 201 to that too)
        if r.status not in (200, 201, 204, 405):
            raise self._fail(r, "creating the folder", unquote(path))
        with self._lock:
            self._collections.add(rel)

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        return f"WebDAV {self.url}"

    def location(self, key: str) -> str:
        return self._origin + self._path(key)

    def check(self) -> None:
        r = self._request("PROPFIND", self._base + "/", {"Depth": "0", "Content-Type":
                                                         "application/xml; charset=utf-8"},
                          body=PROPFIND_BODY)
        if r.status == 404:
            raise UserFacingError(f"The folder {self.url} does not exist on the WebDAV server; "
                                  "create it or fix 'url' in the storage configuration.")
        if r.status in (405, 501):
            raise UserFacingError(f"{self.url} does not answer WebDAV requests (HTTP {r.status}); "
                                  "check the URL (for Nextcloud it ends in "
                                  "/remote.php/dav/files/USER/…).")
        if r.status != 207:
            raise self._fail(r, "opening", self.url)

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        found: dict[str, RemoteObject] = {}
        todo = [prefix.strip("/")]
        while todo:
            rel = todo.pop()
            path = (self._path(rel) if rel else self._base) + "/"
            for key, folder, size, etag, sums in self._propfind(path, "1"):
                if key == rel or not key.startswith(rel):
                    continue  # the folder itself
                if folder:
                    todo.append(key)
                elif not _is_temp(posixpath.basename(key)):
                    found[key] = RemoteObject(key=key, size=size, etag=etag,
                                              metadata={"checksums": sums} if sums else {})
        return found

    def stat(self, key: str) -> RemoteObject | None:
        for rel, folder, size, etag, sums in self._propfind(self._path(key), "0"):
            if not folder:
                return RemoteObject(key=key, size=size, etag=etag,
                                    metadata={"checksums": sums} if sums else {})
        return None

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        return self._read_back(self._path(key), algorithm, cancel)

    def _read_back(self, path: str, algorithm: str, cancel) -> tuple[str, int]:
        h = _hasher(algorithm)
        n = [0]

        def take(view):
            if cancel is not None and cancel.is_set():
                raise CancelledError()
            h.update(view)
            n[0] += len(view)

        r = self._request("GET", path, on_data=take)
        if r.status != 200:
            raise self._fail(r, "reading back", unquote(path))
        return h.hexdigest(), n[0]

    def _extra_algorithms(self, algorithm: str) -> list[str]:
        """Hashes worth computing besides the job's, for what the server can state."""
        with self._lock:
            want = [a for a in self._server_algs if a in COMPUTABLE]
        if self._etag_is_md5 is not False:
            want.append("md5")
        return [a for a in dict.fromkeys(want) if a != algorithm]

    def _proof(self, headers: dict, sums: dict[str, str], where: str) -> str | None:
        """How ``headers`` prove the content equals ``sums`` (None: they do not say);
        raises VerificationError when a checksum the server computed differs."""
        stated = parse_digest(headers.get("digest"))
        stated.update(parse_oc_checksums(headers.get("oc-checksum")))
        if stated:
            with self._lock:
                self._server_algs.update(stated)
        for alg, value in stated.items():
            if alg in sums:
                if value != sums[alg]:
                    raise VerificationError(f"The WebDAV server reports {alg} {value} for "
                                            f"{where}, but {sums[alg]} was sent; the data was "
                                            "damaged on the way or on the server.")
                return f"server-{alg}"
        etag = _etag(headers.get("etag"))
        if etag and "md5" in sums:
            if etag == sums["md5"]:
                self._etag_is_md5 = True
                return "etag-md5"
            if self._etag_is_md5 is None:
                self._etag_is_md5 = False  # an opaque ETag: stop computing MD5 for it
        return None

    def _verify(self, path: str, size: int, sums: dict[str, str], algorithm: str,
                put_headers: dict, cancel) -> str:
        where = unquote(path)
        if self.verify_mode == "auto":
            how = self._proof(put_headers, sums, where)
            if how:
                return how
        if self.verify_mode == "size" or (self.verify_mode == "auto" and
                                          self._head_helps is not False):
            r = self._request("HEAD", path, {"Want-Digest": WANT_DIGEST})
            if r.status != 200:
                raise self._fail(r, "checking", where)
            length = r.headers.get("content-length")
            if length is None or int(length) != size:
                raise VerificationError(f"After uploading, the WebDAV server reports {length} "
                                        f"bytes for {where}, {size} were sent.")
            if self.verify_mode == "size":
                return "size"
            how = self._proof(r.headers, sums, where)
            if self._head_helps is None:
                self._head_helps = how is not None
            if how:
                return f"size+{how}"
        got, n = self._read_back(path, algorithm, cancel)
        if n != size or got != sums[algorithm]:
            raise VerificationError(f"Reading {where} back gave {n} bytes with {algorithm} "
                                    f"{got}; {size} bytes with {sums[algorithm]} were sent.")
        return f"size+{algorithm}-reread"

    def _hash_local(self, src, extras: dict, buf: bytearray, ctx: TransferContext | None,
                    size: int):
        """Read ``size`` bytes in chunks, feeding the extra hashers (and ctx.sent)."""
        view = memoryview(buf)
        done = 0
        while done < size:
            n = src.readinto(view[:min(len(buf), size - done)])
            if not n:
                raise FileChangedError(f"{src.path} shrank while it was read; it is probably "
                                       "still being written. Resume the job once it is "
                                       "complete.")
            for h in extras.values():
                h.update(view[:n])
            if ctx is not None:
                ctx.sent(n)
            done += n
            yield view[:n]

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        target = self._path(item.key)
        temp = self._path(_temp_name(item))
        self._ensure_collection(posixpath.dirname(item.key))
        for attempt in (0, 1):
            with ctx.open_source(item) as src:
                size = src.size
                extras = {a: _hasher(a) for a in self._extra_algorithms(item.algorithm)}
                headers = {"If-None-Match": "*", "Content-Type": "application/octet-stream",
                           "Want-Digest": WANT_DIGEST}
                if size <= SMALL_BODY:
                    body = bytearray(size)
                    for _ in self._hash_local(src, extras, body, None, size):
                        pass
                    if src.readinto(bytearray(1)):
                        raise FileChangedError(f"{item.path} grew while it was read; it is "
                                               "probably still being written.")
                    checksum = src.finish()  # before a byte leaves: a changing file is not sent
                    ctx.sent(size)
                    r = self._request("PUT", temp, headers, body=body)
                else:
                    r = self._request("PUT", temp, headers,
                                      chunks=_hashed_alongside(src, extras, ctx, size),
                                      length=size)
                    if r.status in (200, 201, 204):
                        if src.readinto(bytearray(1)):
                            raise FileChangedError(f"{item.path} grew while it was read; it is "
                                                   "probably still being written.")
                        checksum = src.finish()
            if r.status == 412 and attempt == 0:
                # a temporary file of ours from an earlier, interrupted attempt: replace it
                self._request("DELETE", temp)
                continue
            if r.status == 409 and attempt == 0:  # folder removed behind our back
                with self._lock:
                    self._collections.discard(posixpath.dirname(item.key))
                self._ensure_collection(posixpath.dirname(item.key))
                continue
            if r.status not in (200, 201, 204):
                raise self._fail(r, "uploading", unquote(target))
            break
        sums = {a: h.hexdigest() for a, h in extras.items()}
        sums[item.algorithm] = checksum
        verified = self._verify(temp, size, sums, item.algorithm, r.headers, ctx.cancel)
        self._move_into_place(temp, target)
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified, etag=_etag(r.headers.get("etag")))

    def _move_into_place(self, temp: str, target: str) -> None:
        # RFC 4918: with Overwrite: F the server must refuse (412) if the target exists. Its
        # 201/204 cannot tell more: nginx answers 204 to every successful MOVE.
        r = self._request("MOVE", temp, {"Destination": self._origin + target, "Overwrite": "F"})
        if r.status in (200, 201, 204):
            return
        if r.status == 412:
            raise RemoteExistsError(f"{self._origin}{unquote(target)} appeared while it was "
                                    "being uploaded; it was not overwritten.")
        raise self._fail(r, "moving into place", unquote(target))

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        where = self.location(item.key)
        path = self._path(item.key)
        with self._lock:
            known = list(self._server_algs)
        algs = [a for a in (*known, "md5",
                            *remote.metadata.get("checksums", {})) if a in COMPUTABLE]
        extras = {a: _hasher(a) for a in dict.fromkeys(algs) if a != item.algorithm}
        with ctx.open_source(item) as src:
            buf = bytearray(CHUNK)
            for _ in self._hash_local(src, extras, buf, None, src.size):
                if ctx.cancel.is_set():
                    raise CancelledError()
            if src.readinto(bytearray(1)):
                raise FileChangedError(f"{item.path} grew while it was read.")
            checksum = src.finish()
            size = src.read_bytes
        if remote.size != size:
            raise RemoteExistsError(f"{where} already exists with other content ({remote.size} "
                                    f"bytes, the local file has {size}); it was not overwritten.")
        sums = {a: h.hexdigest() for a, h in extras.items()}
        sums[item.algorithm] = checksum
        how = None
        try:
            listed = remote.metadata.get("checksums", {})
            how = self._proof({"oc-checksum": " ".join(f"{a}:{v}" for a, v in listed.items())},
                              sums, where) if listed else None
            if how is None:
                r = self._request("HEAD", path, {"Want-Digest": WANT_DIGEST})
                if r.status == 200:
                    how = self._proof(r.headers, sums, where)
        except VerificationError:
            raise RemoteExistsError(f"{where} already exists with other content (its checksum "
                                    "differs); it was not overwritten.") from None
        if how is None:
            got, n = self._read_back(path, item.algorithm, ctx.cancel)
            if (got, n) != (checksum, size):
                raise RemoteExistsError(f"{where} already exists with other content (its "
                                        f"{item.algorithm} differs); it was not overwritten.")
            how = f"{item.algorithm}-reread"
        return UploadResult(size=size, checksum=checksum, location=where,
                            verified_by=f"already present ({how})", etag=remote.etag,
                            skipped=True)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        self._request("DELETE", self._path(_temp_name(item)))  # ours by name; 404 is fine


def _hashed_alongside(src, extras: dict, ctx: TransferContext, size: int):
    """The file's chunks for sending, hashed on a helper thread meanwhile (hashlib lets go of
    the GIL for large buffers, so hashing and sending use two cores). Two buffers: a chunk is
    read while the previous one is still being hashed; a buffer is reused only once its
    hash is done. The checksums see the chunks in order."""
    from concurrent.futures import ThreadPoolExecutor

    bufs = (bytearray(CHUNK), bytearray(CHUNK))
    pending: list = [None, None]

    def digest(view):
        src.skip_hash(view)
        for h in extras.values():
            h.update(view)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        done = i = 0
        try:
            while done < size:
                slot = i % 2
                if pending[slot] is not None:
                    pending[slot].result()
                view = memoryview(bufs[slot])[:min(CHUNK, size - done)]
                n = src.readinto(view, hash_it=False)
                if not n:
                    raise FileChangedError(f"{src.path} shrank while it was read; it is "
                                           "probably still being written. Resume the job once "
                                           "it is complete.")
                pending[slot] = pool.submit(digest, view[:n])
                ctx.sent(n)
                yield view[:n]
                done += n
                i += 1
        finally:
            for f in pending:
                if f is not None:
                    f.result()


class _EarlyAnswer(Exception):
    """The server answered before the request body was complete (a refusal)."""

    def __init__(self, resp: _Resp):
        super().__init__(resp.status)
        self.resp = resp
