"""WebDAV storage: Nextcloud, ownCloud, dCache, Apache/nginx/IIS, ``rclone serve webdav``.

* **Upload**: ``MKCOL`` for missing folders (once per folder), then a streamed ``PUT`` of the
  file to ``.<name>.du-<job>-<task>.part`` (the filesystem backend's temporary names) with
  ``If-None-Match: *``, verification, then ``MOVE`` to the real name with ``Overwrite: F``.
  ``If-None-Match`` alone is not trusted (``rclone serve webdav`` ignores it on PUT), so the
  real name is only ever written by that MOVE, which RFC 4918 servers refuse (412) when the
  name exists (checked on rclone and nginx in the tests), and the job lists its prefix first.
* **Verification** (``verify = auto``): the size the server reports, and the server's checksum
  where it states one: in the PUT answer (``Digest`` per RFC 3230 as dCache sends it,
  ``OC-Checksum`` as ownCloud does, or an ETag that is the MD5 of the content, e.g.
  ``rclone serve webdav --etag-hash MD5``), else from ``HEAD`` (the size, and the same headers,
  asked for with ``Want-Digest``) or, where only that states checksums, ``PROPFIND``
  (ownCloud's ``oc:checksums``). No read-back by default: that is ``verify = reread`` (and
  ``datauploader verify JOB``). What a server offers is learnt on a job's first file
  (before a large first file, from an empty PUT of a probe file, deleted at once), so that
  later files skip requests that cannot help and hashes nobody will compare (an MD5 only
  where the ETags are MD5s). ``verified_by`` says what was compared: ``etag-md5``, ``oc-checksum-sha1``,
  ``size+digest-adler32``, ``size``, ``sha256-reread`` …
* **Resume**: per file. WebDAV has no standard way to append to a file, so a file cut off in
  the middle is sent again from its start; every file finished before is not sent again (the
  journal, the listing and ``adopt`` see to that).
* **Speed**: one kept-alive connection per worker thread, with a lean HTTP/1.1 client
  (``fastio.Connection``: one ``sendmsg`` for head and small body, ``recv`` straight into a
  small parser, no poll per call; ``http.client`` cost twice the CPU per request, ``requests``
  six times). The HEAD of a small file's verification is pipelined behind its PUT. A large
  file is hashed on helper threads while it is sent (``fastio.hashed_chunks``).
* **Auth**: basic (user name; password from the OS keyring or ``DATAUPLOADER_WEBDAV_PASSWORD``)
  or bearer token (OS keyring or ``DATAUPLOADER_WEBDAV_TOKEN``). TLS verified by default;
  ``ca_bundle`` for a facility's own certificate authority.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import logging
import posixpath
import ssl
import threading
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit

from datauploader import __version__, proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (AuthError, CancelledError, ConfigError, FileChangedError,
                                 FileError, PermissionDeniedError, RemoteExistsError,
                                 StorageFullError, TransientError, UnreachableError, UnsafeKeyError,
                                 UserFacingError, VerificationError, unreachable)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.fastio import STALE_ERRORS, Connection, hashed_chunks
from datauploader.storage.tempnames import TEMP_SUFFIX, is_temp, temp_name

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
PUT_HEADERS = {"If-None-Match": "*", "Content-Type": "application/octet-stream",
               "Want-Digest": WANT_DIGEST}
HEAD_HEADERS = {"Want-Digest": WANT_DIGEST}
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
_ALGS = {"sha-256": "sha256", "sha256": "sha256", "md5": "md5", "sha": "sha1", "sha1": "sha1",
         "sha-1": "sha1", "adler32": "adler32", "adler-32": "adler32", "crc32": "crc32"}
COMPUTABLE = ("sha256", "md5", "sha1", "adler32", "crc32")
CHEAPEST_FIRST = ("crc32", "adler32", "sha1", "sha256", "md5")  # to compute, of what is stated


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


def _looks_like_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


class _Suspect(Exception):
    """An ETag that is (or looks like) the MD5 of the content differs from it: only reading
    the file back can tell damage from an opaque ETag."""


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip()
    if v.startswith("W/"):
        return None  # a weak ETag says nothing about the bytes
    return v.strip('"').lower()


class _Resp:
    __slots__ = ("status", "headers", "body", "then")

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body
        self.then = None  # the answer to a request pipelined behind this one


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
        Option("verify", "auto: the size the server reports and its checksum where it states "
               "one (Digest, OC-Checksum, an MD5 ETag); size: the size only; reread: read "
               "every file back and compare its checksum", default="auto",
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
        hostport = parts.netloc.rpartition("@")[2]  # never user:password@ in a request
        if not hostport.isascii():
            hostport = parts.hostname.encode("idna").decode("ascii") + \
                (f":{parts.port}" if parts.port else "")
        self._origin = f"{parts.scheme}://{hostport}"
        # as given (percent-encoded), with whatever may not stand in a request line encoded
        self._base = quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=~")
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
        if self._auth and any(c in self._auth for c in "\r\n"):
            raise AuthError(f"The {auth} credentials for the WebDAV server {self.url} contain a "
                            "line break; store them again with 'datauploader credentials set "
                            f"{self.storage_name}'.")
        # the lines every request carries
        self._fixed_head = (f"Host: {hostport}\r\nUser-Agent: {USER_AGENT}\r\n" +
                            (f"Authorization: {self._auth}\r\n" if self._auth else ""))
        self._ssl = self._ssl_context(ca_bundle, verify_tls) if self.https else None
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        self._conns: list = []
        self._lock = threading.Lock()
        self._collections: set[str] = set()  # folders (relative) known to exist
        # what the server offers, learnt on the first file (None: not known yet)
        self._learnt = False
        self._probed = False  # an empty PUT showed what the server states
        self._put_proves = False  # a PUT's answer proved a file (no HEAD needed after it)
        self._etag_is_md5: bool | None = None
        self._stat_by: str | None = None  # "head", or "propfind" where it states checksums
        self._server_algs: frozenset[str] = frozenset()  # replaced, never changed in place

    # -- construction from the configuration -----------------------------------------------
    @classmethod
    def secret_slot(cls, options: dict, section: str) -> SecretSlot | None:
        url = options["url"].rstrip("/")
        user = options.get("username", "")
        auth = options.get("auth", "basic")
        if auth == "none":
            return None
        if auth == "bearer":
            return SecretSlot(keyring_service("webdav", url), user or "token",
                              f"Token for {url}", f"the token of {url}")
        if not user:
            raise ConfigError("set 'username' first; its password then goes to the OS keyring.",
                              section=f"storage:{section}", key="username")
        return SecretSlot(keyring_service("webdav", url), user, f"Password for {user} at {url}",
                          f"{user} at {url}")

    @classmethod
    def from_config(cls, options: dict, ctx) -> "WebDAVStorage":
        options = dict(options)
        options.pop("password", None)
        options.pop("token", None)
        password = token = None
        auth = options.get("auth", "basic")
        if auth == "basic" and options.get("username"):
            slot = cls.secret_slot(options, ctx.section)
            password = ctx.secrets.get(slot.service, slot.user)
            if password is None:
                password = ctx.env.get("DATAUPLOADER_WEBDAV_PASSWORD")
        elif auth == "bearer":
            slot = cls.secret_slot(options, ctx.section)
            token = ctx.secrets.get(slot.service, slot.user) or \
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

    def _conn(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection(self._host, self._port, self.timeout, self._ssl)
            conn.thread = threading.current_thread()
            self._local.conn = conn
            with self._lock:
                stale = [c for c in self._conns if not c.thread.is_alive()]
                self._conns = [c for c in self._conns if c.thread.is_alive()] + [conn]
            for c in stale:  # connections of worker threads of earlier jobs
                c.close()
        return conn

    def _connect(self, conn: Connection) -> None:
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

    def _unreachable(self, e: BaseException, connecting: bool = False) -> UnreachableError:
        return unreachable(f"the WebDAV server at {self._origin}", e, connecting, self._host)

    def _head(self, method: str, path: str, headers: dict | None, length: int | None) -> bytes:
        """A request's head; ``length``: its Content-Length (None: none, and none needed)."""
        head = [method, " ", path, " HTTP/1.1\r\n", self._fixed_head]
        if headers:
            for k, v in headers.items():
                if "\n" in v or "\r" in v:
                    raise ValueError(f"a line break in the {k} header")
                head += (k, ": ", v, "\r\n")
        if length is None and method in ("PUT", "POST", "MKCOL", "MOVE"):
            length = 0
        if length is not None:
            head += ("Content-Length: ", str(length), "\r\n")
        head.append("\r\n")
        return "".join(head).encode("latin-1")

    def _request(self, method: str, path: str, headers: dict | None = None,
                 body: bytes | bytearray | memoryview | None = None, chunks=None,
                 length: int = 0, on_data=None, then: tuple | None = None) -> _Resp:
        """One request on this thread's connection. ``body`` goes with the headers (and may be
        sent again on a fresh connection if a kept-alive one turns out dead); ``chunks``
        (an iterator of buffers, ``length`` bytes in all) is streamed and never resent.
        ``on_data`` receives a 2xx answer's body in pieces instead of keeping it.
        ``then`` (method, path, headers): a request without a body sent right behind this one
        (HTTP/1.1 pipelining, which servers answer in order): its answer is in ``.then``, or
        None where it did not come (the caller asks again)."""
        data = self._head(method, path, headers,
                          len(body) if body is not None else length if chunks is not None
                          else None)
        tail = self._head(then[0], then[1], then[2], None) if then else b""
        conn = self._conn()
        for attempt in (0, 1):
            reused = conn.usable()  # (checks an idle connection for a server-side close)
            if not reused:
                self._connect(conn)
            try:
                if chunks is None:
                    conn.send_head(data, body, tail)
                else:
                    conn.send_head(data)
                    self._stream_body(conn, chunks, length)
                resp = conn.read_response(method, on_data, more=bool(tail))
            except STALE_ERRORS as e:
                started = conn.answered
                conn.close()
                if attempt == 0 and reused and chunks is None and not started:
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
            out = _Resp(resp.status, resp.headers, resp.body)
            if tail and not resp.will_close:
                try:
                    second = conn.read_response(then[0])
                    out.then = _Resp(second.status, second.headers, second.body)
                except (OSError, http.client.HTTPException):
                    conn.close()  # no second answer: the caller asks again
                except BaseException:
                    conn.close()
                    raise
            return out

    def _stream_body(self, conn: Connection, chunks, length: int) -> None:
        sent = 0
        for piece in chunks:  # reading the file, hashing and ctx.sent happen in here
            try:
                conn.send(piece)
                sent += len(piece)
                # an answer before the body is complete means the server refused it
                if sent < length and conn.answer_waiting():
                    raise ConnectionResetError("the server answered before the body was sent")
            except ConnectionError:
                try:
                    early = conn.read_response("PUT")
                    resp = _Resp(early.status, early.headers, early.body)
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
                elif not is_temp(posixpath.basename(key)):
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
        take = HashingSink(algorithm, cancel)
        r = self._request("GET", path, on_data=take)
        if r.status != 200:
            raise self._fail(r, "reading back", unquote(path))
        return take.result()

    def _extra_algorithms(self, algorithm: str) -> tuple[str, ...]:
        """Hashes worth computing besides the job's: one the server states (the cheapest),
        else MD5 while its ETags are (or may be) MD5s; while the server's habits are still
        unknown (the first files of a job), ADLER32 too (dCache's). None where ``verify``
        compares no server checksum (size, reread)."""
        if self.verify_mode != "auto":
            return ()
        stated = self._server_algs
        if stated:
            if algorithm in stated:
                return ()
            for a in CHEAPEST_FIRST:
                if a in stated:
                    return (a,)
        want = ()
        if self._etag_is_md5 is not False and algorithm != "md5":
            want = ("md5",)
        if not (self._learnt or self._probed) and algorithm != "adler32":
            want += ("adler32",)
        return want

    def _proof(self, stated: tuple, etag: str | None, sums: dict[str, str],
               where: str) -> str | None:
        """How the server's statements prove the content equals ``sums``: ``stated`` are
        (kind, {alg: hex}) pairs (``digest``, ``oc-checksum``), ``etag`` the strong ETag.
        None: they do not say. Raises VerificationError when a checksum the server computed
        differs, _Suspect when an ETag that is (or looks like) an MD5 differs."""
        for kind, values in stated:
            if not values:
                continue
            if not self._server_algs.issuperset(values):
                with self._lock:
                    self._server_algs = self._server_algs | {a for a in values
                                                             if a in COMPUTABLE}
            for alg, value in values.items():
                if alg in sums:
                    if value != sums[alg]:
                        raise VerificationError(
                            f"The WebDAV server reports {alg} {value} for {where}, but "
                            f"{sums[alg]} was sent; the data was damaged on the way or on the "
                            "server.")
                    return proofs.stated(kind, alg)
        if etag and "md5" in sums:
            if etag == sums["md5"]:
                self._etag_is_md5 = True
                return Proof.ETAG_MD5
            if self._etag_is_md5 or (self._etag_is_md5 is None and _looks_like_md5(etag)):
                raise _Suspect()  # damaged, or an opaque ETag that looks like an MD5
            self._etag_is_md5 = False  # an opaque ETag: stop computing MD5 for it
        return None

    @staticmethod
    def _stated(headers: dict) -> tuple:
        return (("digest", parse_digest(headers.get("digest"))),
                ("oc-checksum", parse_oc_checksums(headers.get("oc-checksum"))))

    def _head_behind(self, temp: str) -> tuple | None:
        """The HEAD that verification will need, to be pipelined behind the PUT of a small
        file (one send, one wait less), unless the PUT's answer will do or a PROPFIND is
        needed instead."""
        if self.verify_mode == "size":
            return ("HEAD", temp, None)
        if self.verify_mode == "auto" and not self._put_proves and self._stat_by != "propfind":
            return ("HEAD", temp, HEAD_HEADERS)
        return None

    def _verify(self, path: str, size: int, sums: dict[str, str], algorithm: str,
                put_headers: dict, cancel, head: _Resp | None = None) -> str:
        """Prove what the server holds at ``path`` (auto: its checksum where it states one,
        else its size; size: its size; reread: read back); returns how, for the journal.
        ``head``: the answer to a HEAD pipelined behind the PUT, if there was one."""
        where = unquote(path)
        mode = self.verify_mode
        try:
            if mode == "reread":
                return self._reread(path, size, sums, algorithm, where, cancel)
            if mode == "auto":
                how = self._proof(self._stated(put_headers), _etag(put_headers.get("etag")),
                                  sums, where)
                if how:
                    self._put_proves = True
                    return how
                if self._stat_by == "propfind":
                    how, _ = self._propfind_proof(path, size, sums, where)
                    return proofs.both(Proof.SIZE, how) if how else Proof.SIZE
            r = head if head is not None and head.status == 200 else \
                self._request("HEAD", path, HEAD_HEADERS if mode == "auto" else None)
            if r.status != 200:
                raise self._fail(r, "checking", where)
            self._check_size(r.headers.get("content-length"), size, where)
            if mode == "size":
                return Proof.SIZE
            how = self._proof(self._stated(r.headers), _etag(r.headers.get("etag")), sums,
                              where)
            if how is None and self._stat_by is None:
                # learning: does a PROPFIND state checksums (ownCloud's oc:checksums)?
                how, states = self._propfind_proof(path, size, sums, where)
                self._stat_by = "propfind" if states else "head"
            return proofs.both(Proof.SIZE, how) if how else Proof.SIZE
        except _Suspect:
            how = self._reread(path, size, sums, algorithm, where, cancel)
            if self._etag_is_md5 is None:
                self._etag_is_md5 = False  # the content is right, the ETag is not its MD5
            return how
        finally:
            if not self._learnt:
                self._learnt = True
                if self._etag_is_md5 is None:
                    self._etag_is_md5 = False

    def _propfind_proof(self, path: str, size: int, sums: dict[str, str],
                        where: str) -> tuple[str | None, bool]:
        """(proof or None, whether the server states checksums there) from a PROPFIND."""
        entries = [e for e in self._propfind(path, "0") if not e[1]]
        if not entries:
            raise VerificationError(f"After uploading, the WebDAV server does not list "
                                    f"{where}.")
        _, _, length, etag, listed = entries[0]
        self._check_size(str(length), size, where)
        return self._proof((("oc-checksum", listed),), etag, sums, where), bool(listed)

    @staticmethod
    def _check_size(length: str | None, size: int, where: str) -> None:
        if length is None or not length.isdigit() or int(length) != size:
            raise VerificationError(f"After uploading, the WebDAV server reports {length} "
                                    f"bytes for {where}, {size} were sent.")

    def _reread(self, path: str, size: int, sums: dict[str, str], algorithm: str, where: str,
                cancel) -> str:
        got, n = self._read_back(path, algorithm, cancel)
        if n != size or got != sums[algorithm]:
            raise VerificationError(f"Reading {where} back gave {n} bytes with {algorithm} "
                                    f"{got}; {size} bytes with {sums[algorithm]} were sent.")
        return proofs.reread(algorithm)

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
        temp = self._path(temp_name(item))
        folder = posixpath.dirname(item.key)
        if folder not in self._collections:
            self._ensure_collection(folder)
        headers = PUT_HEADERS
        if item.size > SMALL_BODY and self._etag_is_md5 is None and not self._server_algs \
                and self.verify_mode == "auto":
            # not known yet whether an MD5 of the whole file would be compared with anything
            self._probe(temp, folder)
        for attempt in (0, 1):
            with ctx.open_source(item) as src:
                size = src.size
                extras = {a: new_hasher(a) for a in self._extra_algorithms(item.algorithm)}
                if size <= SMALL_BODY:
                    body = bytearray(size)
                    if src.readinto(body) != size:
                        raise FileChangedError(f"{item.path} shrank while it was read; it is "
                                               "probably still being written.")
                    for h in extras.values():
                        h.update(body)
                    # before a byte leaves: a changing file is not sent (a file that grew
                    # shows in its size)
                    checksum = src.finish()
                    ctx.sent(size)
                    r = self._request("PUT", temp, headers, body=body,
                                      then=self._head_behind(temp))
                else:
                    r = self._request("PUT", temp, headers,
                                      chunks=hashed_chunks(src, extras, ctx, size),
                                      length=size)
                    if r.status in (200, 201, 204):
                        checksum = src.finish()
            if r.status == 412 and attempt == 0:
                # a temporary file of ours from an earlier, interrupted attempt: replace it
                self._request("DELETE", temp)
                continue
            if r.status == 409 and attempt == 0:  # folder removed behind our back
                with self._lock:
                    self._collections.discard(folder)
                self._ensure_collection(folder)
                continue
            if r.status not in (200, 201, 204):
                raise self._fail(r, "uploading", unquote(target))
            break
        sums = {a: h.hexdigest() for a, h in extras.items()}
        sums[item.algorithm] = checksum
        verified = self._verify(temp, size, sums, item.algorithm, r.headers, ctx.cancel,
                                r.then)
        self._move_into_place(temp, target)
        return UploadResult(size=size, checksum=checksum, location=self._origin + target,
                            verified_by=verified, etag=_etag(r.headers.get("etag")))

    def _probe(self, temp: str, folder: str) -> None:
        """Before a job's first large file: learn from an empty PUT whether the server's ETags
        are MD5s (the MD5 of nothing is d41d8cd98f00b204e9800998ecf8427e) and which checksums
        it states, so that a whole file is hashed with MD5 only for a server that will state
        its MD5. The empty file has a name of its own (ours by the temporary-name pattern) and
        is deleted at once: a PUT over an existing file can cost a server more than a new one
        (``rclone serve webdav``: half a second more per GiB)."""
        probe = temp[:-len(TEMP_SUFFIX)] + "-probe" + TEMP_SUFFIX
        r = self._request("PUT", probe, PUT_HEADERS, body=b"")
        if r.status == 412:  # left by an interrupted attempt of ours
            self._request("DELETE", probe)
            r = self._request("PUT", probe, PUT_HEADERS, body=b"")
        if r.status == 409:  # folder removed behind our back: the upload will see to it
            with self._lock:
                self._collections.discard(folder)
            return
        if r.status not in (200, 201, 204):
            return
        try:
            headers = r.headers
            if not (headers.get("etag") or headers.get("digest") or headers.get("oc-checksum")):
                h = self._request("HEAD", probe, {"Want-Digest": WANT_DIGEST})
                if h.status == 200:
                    headers = h.headers
            try:
                self._proof(self._stated(headers), _etag(headers.get("etag")),
                            {"md5": EMPTY_MD5}, unquote(probe))
            except (VerificationError, _Suspect):
                pass  # (an empty file: nothing to prove; what it taught is kept)
            self._probed = True
        finally:
            self._request("DELETE", probe)

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
        algs = [a for a in (*self._server_algs, "md5",
                            *remote.metadata.get("checksums", {})) if a in COMPUTABLE]
        extras = {a: new_hasher(a) for a in dict.fromkeys(algs) if a != item.algorithm}
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
            raise other_content(where, f"{remote.size} bytes, the local file has {size}")
        sums = {a: h.hexdigest() for a, h in extras.items()}
        sums[item.algorithm] = checksum
        how = None
        try:
            listed = remote.metadata.get("checksums", {})
            how = self._proof((("oc-checksum", listed),), None, sums, where) if listed else None
            if how is None:
                r = self._request("HEAD", path, {"Want-Digest": WANT_DIGEST})
                if r.status == 200:
                    how = self._proof(self._stated(r.headers), _etag(r.headers.get("etag")),
                                      sums, where)
        except VerificationError:
            raise other_content(where, "its checksum differs") from None
        except _Suspect:
            how = None  # read back
        if how is None:
            got, n = self._read_back(path, item.algorithm, ctx.cancel)
            if (got, n) != (checksum, size):
                raise other_content(where, f"its {item.algorithm} differs")
            how = proofs.reread(item.algorithm)
        return UploadResult(size=size, checksum=checksum, location=where,
                            verified_by=proofs.already_present(how), etag=remote.etag,
                            skipped=True)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        self._request("DELETE", self._path(temp_name(item)))  # ours by name; 404 is fine


class _EarlyAnswer(Exception):
    """The server answered before the request body was complete (a refusal)."""

    def __init__(self, resp: _Resp):
        super().__init__(resp.status)
        self.resp = resp
