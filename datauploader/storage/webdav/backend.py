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
  (ownCloud's ``oc:checksums``); see :mod:`~datauploader.storage.webdav.proof`. No read-back
  by default: that is ``verify = reread`` (and ``datauploader verify JOB``).
* **Resume**: per file. WebDAV has no standard way to append to a file, so a file cut off in
  the middle is sent again from its start; every file finished before is not sent again (the
  journal, the listing and ``adopt`` see to that).
* **Speed**: one kept-alive connection per worker thread from the storage HTTP client
  (:mod:`datauploader.net.http`: one ``sendmsg`` for head and small body, ``recv`` straight
  into a small parser, no poll per call; ``http.client`` cost twice the CPU per request,
  ``requests`` six times). The HEAD of a small file's verification is pipelined behind its
  PUT. A large file is hashed on helper threads while it is sent (``fastio.hashed_chunks``).
* **Auth**: basic (user name; password from the OS keyring or ``DATAUPLOADER_WEBDAV_PASSWORD``)
  or bearer token (OS keyring or ``DATAUPLOADER_WEBDAV_TOKEN``). TLS verified by default;
  ``ca_bundle`` for a facility's own certificate authority.
"""

from __future__ import annotations

import base64
import http.client
import logging
import posixpath
import secrets
import threading
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit

from datauploader import __version__, proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (AuthError, CancelledError, ConfigError, FileChangedError,
                                 FileError, PermissionDeniedError, RemoteExistsError,
                                 StorageFullError, TransientError, UserFacingError,
                                 VerificationError)
from datauploader.names import RULES
from datauploader.net import tls
from datauploader.net.http import IDLE_CHECK, EarlyAnswer, Pool, Response
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.fastio import hashed_chunks
from datauploader.storage.target_traits import TraitCache
from datauploader.storage.tempnames import TEMP_MARK, TEMP_SUFFIX, is_temp, temp_name
from datauploader.storage.webdav.proof import COMPUTABLE, Proofs, SuspectETag
from datauploader.storage.webdav.protocol import (HEAD_HEADERS, PROPFIND_BODY, PROPFIND_TYPE,
                                                  PUT_HEADERS, Entry, key_path, parse_multistatus,
                                                  request_head, strong_etag)

log = logging.getLogger(__name__)

KiB, MiB = 1 << 10, 1 << 20
SMALL_BODY = 256 * KiB  # read whole and sent with the headers
CHUNK = MiB
USER_AGENT = f"datauploader/{__version__}"


def _never() -> bool:
    return False


class WebDAVStorage(Proofs, StorageBackend):
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
                 storage_name: str | None = None, state_dir: str | None = None):
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
        where = f"[storage:{self.storage_name}]"
        self.ca_bundle = ca_bundle
        self._pool = Pool(f"the WebDAV server at {self._origin}", self._port,
                          timeout=self.timeout, where=where,
                          ssl_context=tls.context(ca_bundle, verify_tls, where)
                          if self.https else None)
        self._lock = threading.Lock()
        self._collections: set[str] = set()  # folders (relative) known to exist
        # what the server offers, learnt on the first file (None: not known yet)
        self._learnt = False
        self._probed = False  # an empty PUT showed what the server states
        self._put_proves = False  # a PUT's answer proved a file (no HEAD needed after it)
        self._etag_is_md5: bool | None = None
        self._stat_by: str | None = None  # "head", or "propfind" where it states checksums
        self._server_algs: frozenset[str] = frozenset()  # replaced, never changed in place
        # whether MOVE with Overwrite: F refuses an existing name: learnt once per target
        self._traits = TraitCache(state_dir)
        self._exclusive: bool | None = None

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
        options["ca_bundle"] = tls.bundle_from_env(ctx.env, options.get("ca_bundle", ""))
        paths = getattr(ctx, "paths", None)
        return cls(**options, password=password, token=token, storage_name=ctx.section,
                   state_dir=paths.state_dir if paths else None)

    # -- HTTP -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, headers: dict | None = None,
                 body: bytes | bytearray | memoryview | None = None, chunks=None,
                 length: int = 0, on_data=None, then: tuple | None = None) -> Response:
        """One request on this thread's connection. ``body`` goes with the headers (and may be
        sent again on a fresh connection if a kept-alive one turns out dead); ``chunks``
        (an iterator of buffers, ``length`` bytes in all) is streamed and never resent.
        ``on_data`` receives a 2xx answer's body in pieces instead of keeping it.
        ``then`` (method, path, headers): a request without a body sent right behind this one
        (HTTP/1.1 pipelining, which servers answer in order): its answer is in ``.then``, or
        None where it did not come (the caller asks again). An answer the server gave before
        a streamed body was complete (a refusal) is returned like any other."""
        head = request_head(method, path, self._fixed_head, headers,
                            len(body) if body is not None else length if chunks is not None
                            else None)
        tail = request_head(then[0], then[1], self._fixed_head, then[2], None) if then else b""
        if chunks is None:
            def send(conn):
                conn.send_head(head, body, tail)
            resend, max_idle = None, IDLE_CHECK
        else:
            def send(conn):
                conn.send_head(head)
                conn.send_body(chunks, length)  # reading, hashing and ctx.sent happen in there
            resend, max_idle = _never, 0  # never resent: see to the connection first
        conn = self._pool.get(self._host)
        try:
            resp = self._pool.exchange(conn, send, method, resend=resend, on_data=on_data,
                                       more=bool(tail), max_idle=max_idle)
        except EarlyAnswer as e:
            return e.response
        if tail and not resp.will_close:
            try:
                resp.then = conn.read_response(then[0])
            except (OSError, http.client.HTTPException):
                conn.close()  # no second answer: the caller asks again
            except BaseException:
                conn.close()
                raise
        return resp

    def _path(self, key: str) -> str:
        return key_path(self._base, key)

    def _fail(self, r: Response, doing: str, what: str) -> Exception:
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
                                  f"{doing} {what} ({said}).",
                                  details=details,
                                  retry_after=float(retry) if retry and retry.isdigit() else None)
        if s == 413:
            return FileError(f"The WebDAV server at {self.url} refuses files as large as {what}.",
                             details=details)
        return FileError(f"The WebDAV server at {self.url} refused {doing} {what} ({said}).",
                         details=details)

    def interrupt(self) -> None:
        self._pool.interrupt()

    def close(self) -> None:
        self._pool.close()

    # -- folders and listings ---------------------------------------------------------------
    def _propfind(self, path: str, depth: str) -> list[Entry]:
        """(relative key, is folder, size, etag, checksums) per entry; [] if there is none."""
        r = self._request("PROPFIND", path, {"Depth": depth, "Content-Type": PROPFIND_TYPE},
                          body=PROPFIND_BODY)
        if r.status == 404:
            return []
        if r.status != 207:
            raise self._fail(r, "listing", unquote(path))
        try:
            return parse_multistatus(r.body, self._base_decoded)
        except ET.ParseError as e:
            raise TransientError(f"The WebDAV server at {self.url} sent a listing that is not "
                                 "valid XML.", details=str(e)) from e

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
        r = self._request("PROPFIND", self._base + "/",
                          {"Depth": "0", "Content-Type": PROPFIND_TYPE}, body=PROPFIND_BODY)
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
                            verified_by=verified, etag=strong_etag(r.headers.get("etag")))

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
                r = self._request("HEAD", path, HEAD_HEADERS)
                if r.status == 200:
                    how = self._proof(self._stated(r.headers), strong_etag(r.headers.get("etag")),
                                      sums, where)
        except VerificationError:
            raise other_content(where, "its checksum differs") from None
        except SuspectETag:
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

    def exclusive_writes(self) -> bool:
        """A file's real name is only ever written by a MOVE with ``Overwrite: F``: where the
        server refuses that for an existing name (RFC 4918; rclone, nginx), of two uploads
        racing on one name only one succeeds. Learnt once per target with probe files of our
        own in the root folder, kept for a day."""
        with self._lock:
            if self._exclusive is None:
                kept = self._traits.get(self.describe())
                if kept is not None:
                    self._exclusive = bool(kept.get("move_refuses_existing"))
                else:
                    found = self._probe_overwrite()
                    if found is not None:  # (nothing learnt: not exclusive, as far as we know)
                        self._traits.put(self.describe(), {"move_refuses_existing": found})
                    self._exclusive = bool(found)
            return self._exclusive

    def _probe_overwrite(self) -> bool | None:
        """MOVE one probe file onto another with Overwrite: F: refused (412) or done? None if
        the server would not even take the probe files."""
        tag = secrets.token_hex(6)
        a, b = (self._base + f"/.probe-{n}{TEMP_MARK}{tag}{TEMP_SUFFIX}" for n in "ab")
        try:
            for path in (a, b):
                r = self._request("PUT", path, PUT_HEADERS, body=b"DataUploader probe")
                if r.status not in (200, 201, 204):
                    log.warning("%s: cannot learn whether MOVE replaces files (%s)",
                                self.describe(), self._fail(r, "writing", unquote(path)))
                    return None
            r = self._request("MOVE", a, {"Destination": self._origin + b, "Overwrite": "F"})
            if r.status == 412:
                return True
            if r.status in (200, 201, 204):
                return False
            log.warning("%s: cannot learn whether MOVE replaces files (HTTP %s)",
                        self.describe(), r.status)
            return None
        finally:
            for path in (a, b):
                try:
                    self._request("DELETE", path)
                except Exception:  # noqa: BLE001 - a probe left behind is ours and harmless
                    log.warning("could not remove the probe file %s", path, exc_info=True)


