"""IDS (ICAT Data Service) as a storage backend: each file is sent with ``PUT /ids/put`` into
the ICAT dataset the engine created, and IDS registers the Datafile itself.

* **Session and dataset.** IDS works in the ICAT session of the profile's ICAT catalogue
  (named by ``catalogue``; the service hands the session over) and takes the dataset id,
  which the engine hands over through ``use_dataset(prefix, dataset_id)`` once the dataset
  exists; a key is the prefix plus the datafile's name in the dataset.
* **Verification.** IDS answers with the CRC32 it computed; we compute one in the same pass
  that computes the job's checksum and compare, with the size. A file that changed while it
  was read, or whose CRC32 differs, is deleted again (it is ours: IDS just gave us its id).
* **Archived datasets.** ``DataNotOnlineException`` (503): ask IDS to restore the dataset, poll
  its status with backoff until ONLINE (bounded by ``restore_timeout``), then put again.
* **Read-only IDS** (``isReadOnly``, or 501 on put) is reported in plain words before any
  transfer starts; a URL IDS does not know (501 ``NOT_IMPLEMENTED``) is a configuration error.
* **A partial copy of ours.** A datafile of the same name that IDS holds with fewer bytes
  whose CRC32 is that of the start of our file is what an interrupted put of this very file
  left (an IDS that kept a truncated body): it is deleted and the file put again, so that
  the resume ends in a correct datafile. Anything else is never replaced.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from urllib.parse import urlsplit

from datauploader import proofs
from datauploader.checksums import new_hasher, normalize
from datauploader.errors import (CancelledError, CatalogueError, ConfigError, FileChangedError,
                                 FileError, PermissionDeniedError, RemoteExistsError,
                                 StorageFullError, TransientError, UserFacingError,
                                 VerificationError)
from datauploader.names import RULES
from datauploader.net.icat import ICATSession, decode_checksum
from datauploader.net.webclient import WebClient, json_or_none, redact, where
from datauploader.options import Option
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, WritesIntoDataset)

log = logging.getLogger(__name__)

CHUNK = 1 << 20
SMALL = 8 << 20  # read whole (and checked for changes) before a byte is sent
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_ONLINE_WAITS = 6


class IDSReadOnlyError(UserFacingError):
    """The IDS accepts no uploads."""


class _NotOnline(Exception):
    pass


class _AlreadyThere(Exception):
    pass


class IDSStorage(StorageBackend, WritesIntoDataset):
    kind = "ids"
    OPTIONS = (
        Option("catalogue", "the [catalogue:NAME] (type icat) whose session IDS uses",
               required=True),
        Option("url", "address of the IDS server (its REST API is under /ids); default: the "
               "ICAT catalogue's url", default=""),
        Option("datafile_format", "DatafileFormat of uploaded files (name or name:version); "
               "default: the catalogue's", default=""),
        Option("prefix", "template of each dataset's part of the keys (shown as its location)",
               default="{proposal}/{dataset}"),
        Option("names", "file-name rules for datafile names: posix, windows or portable",
               default="posix", choices=("posix", "windows", "portable")),
        Option("restore_timeout", "seconds to wait for an archived dataset to come back online",
               default=3600.0, type=float),
        Option("timeout", "seconds to wait for an answer", default=300.0, type=float),
    )

    def __init__(self, session: ICATSession, url: str = "", datafile_format: str = "",
                 prefix: str = "{proposal}/{dataset}", names: str = "posix",
                 restore_timeout: float = 3600.0, timeout: float = 300.0):
        self.session = session
        self.base = (url or session.base).rstrip("/")
        self.web = WebClient(self.base, verify=session.verify, timeout=(10.0, timeout),
                             pool_size=32, what="IDS")
        self.datafile_format = datafile_format
        self.prefix_template = prefix
        self.name_rules = RULES[names]
        self.restore_timeout = restore_timeout
        self._datasets: dict[str, str] = {}  # prefix → ICAT dataset id
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, options: dict, ctx) -> "IDSStorage":
        options = dict(options)
        name = options.pop("catalogue")
        resolve = getattr(ctx, "session", None)
        if resolve is None:
            raise ConfigError("IDS storage needs its ICAT catalogue, which is not available here.",
                              section=f"storage:{ctx.section}", key="catalogue")
        session = resolve(name)
        if not isinstance(session, ICATSession):
            raise ConfigError(f"[catalogue:{name}] is not an ICAT catalogue; IDS works with ICAT "
                              "only.", section=f"storage:{ctx.section}", key="catalogue")
        return cls(session, **options)

    # -- the dataset the engine created -----------------------------------------------------
    def use_dataset(self, prefix: str, dataset_id: str) -> None:
        """Files under ``prefix`` go into ICAT dataset ``dataset_id`` (called by the engine)."""
        with self._lock:
            self._datasets[prefix.strip("/")] = str(dataset_id)

    def _target(self, key: str) -> tuple[str, str]:
        with self._lock:
            for prefix in sorted(self._datasets, key=len, reverse=True):
                if not prefix or key.startswith(prefix + "/"):
                    return self._datasets[prefix], key[len(prefix) + 1:] if prefix else key
        raise UserFacingError(f"No ICAT dataset is known for {key}: IDS needs the dataset "
                              "before files can be sent.")

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        return f"IDS at {where(self.base)}"

    def location(self, key: str) -> str:
        return f"ids://{urlsplit(self.base).netloc}/{key}"

    def _call(self, method: str, path: str, what: str, **kw):
        sid = kw.pop("sid", None)
        resp = self.web.request(method, "/ids" + path, secrets=(sid,), **kw)
        if resp.status_code >= 300:
            raise self._error(resp, what, sid)
        return resp

    def check(self) -> None:
        self.session.require_session()  # logged in?
        ping = self._call("GET", "/ping", "answer a ping")
        if ping.text.strip() != "IdsOK":
            raise UserFacingError(f"{self.base}/ids does not answer like IDS; check its 'url'.")
        if self._call("GET", "/isReadOnly", "say whether it is read-only").text.strip().lower() == "true":
            raise self._read_only()

    def _read_only(self) -> IDSReadOnlyError:
        return IDSReadOnlyError(f"The IDS at {where(self.base)} is read-only: it accepts no "
                                "uploads at the moment. Ask the facility, then resume the job.")

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        ds = self._datasets.get(prefix.strip("/"))
        if ds is None:
            return {}
        return {f"{prefix}/{f['name']}": self._remote(f"{prefix}/{f['name']}", f)
                for f in self.session.datafiles(ds)}

    @staticmethod
    def _remote(key: str, f: dict) -> RemoteObject:
        value, alg = decode_checksum(f.get("checksum"))
        return RemoteObject(key=key, size=int(f.get("fileSize", 0)), checksum=value,
                            algorithm=alg, metadata={"id": str(f["id"]),
                                                     "location": f.get("location", "")})

    def stat(self, key: str) -> RemoteObject | None:
        ds, name = self._target(key)
        f = self.session.find_datafile(ds, name)
        return None if f is None else self._remote(key, f)

    # -- upload -----------------------------------------------------------------------------
    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        ds, name = self._target(item.key)
        for attempt in range(MAX_ONLINE_WAITS):
            try:
                return self._put(item, ctx, ds, name)
            except _NotOnline as e:
                self._wait_online(ds, str(e), attempt, ctx.cancel, lambda: ctx.sent(0))
            except _AlreadyThere:
                # a put whose answer was lost, or someone else's file of that name
                remote = self.stat(item.key)
                if remote is None:
                    raise TransientError(f"IDS reported {name} as existing but it cannot be "
                                         "found; it will be retried.") from None
                return self.adopt(item, remote, ctx)
        raise TransientError(f"The dataset of {name} did not come online in IDS; it will be "
                             "retried.")

    def _put(self, item: TransferItem, ctx: TransferContext, ds: str, name: str) -> UploadResult:
        fmt = self.session.datafile_format_id(self.datafile_format or None)
        sid = self.session.require_session()
        with ctx.open_source(item) as src:
            millis = str(src.mtime_ns // 1_000_000)
            params = {"sessionId": sid, "name": name, "datasetId": ds,
                      "datafileFormatId": str(fmt), "datafileCreateTime": millis,
                      "datafileModTime": millis}
            crc = [0]
            if src.size <= SMALL:
                body = bytearray(src.size)
                src.readinto(body)
                if src.readinto(bytearray(1)):
                    raise FileChangedError(f"{item.path} grew while it was being read; it is "
                                           "probably still being written. Resume the job once "
                                           "it is complete.")
                checksum = src.finish()  # before a byte leaves: a changing file is never sent
                crc[0] = zlib.crc32(body)
                ctx.sent(len(body))
                data = bytes(body)
            else:
                checksum = None
                data = self._stream(src, ctx, crc)
            resp = self.web.request("PUT", "/ids/put", params=params, data=data, secrets=(sid,),
                                    headers={"Content-Type": "application/octet-stream"})
            if resp.status_code != 201:
                raise self._error(resp, f"store {name}", sid)
            answer = json_or_none(resp) or {}
            if checksum is None:
                try:
                    checksum = src.finish()
                except FileChangedError:
                    self._delete(answer.get("id"), sid)
                    raise
            size = src.read_bytes
        ours = crc[0] & 0xFFFFFFFF
        if answer.get("size") != size or answer.get("checksum") != ours:
            self._delete(answer.get("id"), sid)
            raise VerificationError(
                f"IDS stored {name} with {answer.get('size')} bytes and CRC32 "
                f"{answer.get('checksum')}, but {size} bytes with CRC32 {ours} were sent; the "
                "copy was deleted and the file will be sent again when the job is resumed.")
        return UploadResult(size=size, checksum=checksum, location=str(answer.get("location", "")),
                            verified_by=proofs.both(Proof.IDS_CRC32, Proof.SIZE))

    @staticmethod
    def _stream(src, ctx: TransferContext, crc: list):
        buf = bytearray(CHUNK)
        while True:
            n = src.readinto(buf)
            if not n:
                return
            chunk = bytes(buf[:n])
            crc[0] = zlib.crc32(chunk, crc[0])
            ctx.sent(n)
            yield chunk

    def _delete(self, datafile_id, sid: str) -> None:
        if datafile_id is None:
            return
        try:
            self.web.request("DELETE", "/ids/delete", secrets=(sid,),
                             params={"sessionId": sid, "datafileIds": str(datafile_id)})
        except Exception:  # noqa: BLE001 - best effort; the resume compares CRC32 and refuses
            log.warning("could not delete datafile %s after a failed check", datafile_id)

    def _wait_online(self, ds: str, why: str, attempt: int, cancel: threading.Event,
                     tick=lambda: None) -> None:
        """Restore an archived dataset and poll until IDS says it is ONLINE."""
        sid = self.session.require_session()
        log.info("IDS: dataset %s is not online (%s); restoring", ds, why)
        try:
            self._call("POST", "/restore", "restore the dataset", sid=sid, headers=FORM,
                       data={"sessionId": sid, "datasetIds": ds})
        except IDSReadOnlyError:
            pass  # single-level storage: nothing to restore, the data is only busy
        deadline = time.monotonic() + self.restore_timeout
        delay = 0.1 * (2 ** attempt)
        while True:
            status = self._call("GET", "/getStatus", "report the dataset's status", sid=sid,
                                params={"sessionId": sid, "datasetIds": ds}).text.strip()
            if status == "ONLINE" and attempt == 0:
                return
            if time.monotonic() > deadline:
                raise TransientError(f"The dataset is still being restored from the archive "
                                     f"(status {status}) after {self.restore_timeout:.0f} s; "
                                     "resume the job later.")
            tick()  # honours pause and cancel
            if cancel.wait(min(delay, 15.0)):
                raise CancelledError()
            if status == "ONLINE":
                return  # it was busy: we waited a little before trying again
            delay *= 2

    # -- errors -----------------------------------------------------------------------------
    def _error(self, resp, what: str, sid: str | None) -> Exception:
        body = json_or_none(resp)
        code = body.get("code") if isinstance(body, dict) else None
        message = redact(str(body.get("message", "")) if isinstance(body, dict) else "", sid)
        status = resp.status_code
        if code == "DataNotOnlineException":
            return _NotOnline(message)
        if code == "NotImplementedException":
            return self._read_only()
        if code == "NOT_IMPLEMENTED":  # IDS's answer to a URL it does not know: no retry mends it
            path = resp.request.path_url.split("?")[0] if resp.request is not None else "it"
            return ConfigError(
                f"IDS at {where(self.base)} does not implement {path} (NOT_IMPLEMENTED) while "
                f"trying to {what}: check the 'url' of the IDS storage (the server's address, "
                "without /ids); the server may also be an IDS older than DataUploader needs.")
        if code == "InsufficientPrivilegesException":
            self.session.check_session()  # an expired session shows up here too: ask ICAT
            return PermissionDeniedError(f"IDS at {where(self.base)} does not allow you to {what} "
                                         f"({message}).")
        if code == "InsufficientStorageException":
            return StorageFullError(f"IDS at {where(self.base)} has no space left to {what}; ask "
                                    "the facility, then resume the job.")
        if code == "BadRequestException":
            return FileError(f"IDS at {where(self.base)} refused to {what}: {message}")
        if code == "NotFoundException":
            return CatalogueError(f"IDS at {where(self.base)} could not {what}: {message}")
        if code == "InternalException" and "OBJECT_ALREADY_EXISTS" in message:
            return _AlreadyThere(message)
        if status >= 500:
            return TransientError(f"IDS at {where(self.base)} failed to {what} (HTTP {status}"
                                  + (f": {message}" if message else "") + "); it will be retried.")
        if code is None and status == 404:
            return UserFacingError(f"There is no IDS at {self.base}/ids (HTTP 404); check the "
                                   "'url' of the IDS storage.")
        return FileError(f"IDS at {where(self.base)} refused to {what} (HTTP {status}"
                         + (f": {message}" if message else "") + ").")

    # -- existing files, verify -------------------------------------------------------------
    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        """A datafile of that name exists: prove it holds the same bytes (CRC32 and size, which
        is what IDS records), replace it if it is a partial copy of this file, or refuse."""
        crc, head_crc, done = 0, None, 0
        buf = bytearray(CHUNK)
        with ctx.open_source(item) as src:
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                view = memoryview(buf)[:n]
                if head_crc is None and done + n >= remote.size:
                    cut = remote.size - done  # the CRC32 of our first remote.size bytes
                    head_crc = zlib.crc32(view[:cut], crc)
                crc = zlib.crc32(view, crc)
                done += n
                if ctx.cancel.is_set():
                    raise CancelledError()
            checksum = src.finish()
            size = src.read_bytes
        if remote.size == 0:
            head_crc = 0
        where_ = f"{self.describe()}: {item.key}"
        if (remote.size < size and remote.algorithm == "crc32" and remote.checksum
                and head_crc is not None
                and normalize(remote.checksum, "crc32") == f"{head_crc & 0xFFFFFFFF:08x}"):
            return self._replace_partial(item, remote, ctx)
        same = None
        if remote.size != size:
            same = False
        elif remote.algorithm == "crc32" and remote.checksum:
            same = normalize(remote.checksum, "crc32") == f"{crc & 0xFFFFFFFF:08x}"
        elif remote.algorithm == item.algorithm and remote.checksum:
            same = normalize(remote.checksum, item.algorithm) == checksum
        if not same:
            raise RemoteExistsError(f"{where_} already exists and "
                                    + ("has other content" if same is False else
                                       "cannot be proven identical") + "; it was not replaced.")
        return UploadResult(size=size, checksum=checksum,
                            location=remote.metadata.get("location", ""),
                            verified_by=proofs.already_present(
                                proofs.both(Proof.IDS_CRC32, Proof.SIZE)), skipped=True)

    def _replace_partial(self, item: TransferItem, remote: RemoteObject,
                         ctx: TransferContext) -> UploadResult:
        log.info("IDS holds %s bytes of %s (a partial copy of ours); replacing it", remote.size,
                 item.key)
        datafile = remote.metadata.get("id")
        sid = self.session.require_session()
        self._call("DELETE", "/delete", f"delete the partial copy of {item.key}", sid=sid,
                   params={"sessionId": sid, "datafileIds": str(datafile)})
        return self.upload(item, ctx)

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        ds, name = self._target(key)
        f = self.session.find_datafile(ds, name)
        if f is None:
            raise FileError(f"{key} is not in the ICAT dataset.")
        cancel = cancel or threading.Event()
        for attempt in range(MAX_ONLINE_WAITS):
            sid = self.session.require_session()
            resp = self.web.request("GET", "/ids/getData", secrets=(sid,), stream=True,
                                    params={"sessionId": sid, "datafileIds": str(f["id"])})
            try:
                if resp.status_code >= 300:
                    err = self._error(resp, f"send {name} back", sid)
                    if isinstance(err, _NotOnline):
                        self._wait_online(ds, str(err), attempt, cancel)
                        continue
                    raise err
                h = new_hasher(algorithm)
                n = 0
                for chunk in resp.iter_content(CHUNK):
                    if cancel.is_set():
                        raise CancelledError()
                    h.update(chunk)
                    n += len(chunk)
                return h.hexdigest(), n
            finally:
                resp.close()
        raise TransientError(f"The dataset of {name} did not come online in IDS.")

    def close(self) -> None:
        self.web.close()
