"""etiket (QHarbor) as a storage: each file becomes a version in the etiket dataset the engine
created, its bytes go to the pre-signed URLs of the server's object store, and the server
validates them with their MD5.

* **One version per file, whatever happens.** The version's uuid is derived from the dataset
  and the file's name, its ``version_id`` from the file's modification time (etiket's
  milliseconds), and both are in the journal (``remote_file_status``, committed) before the
  version is registered; its status is journaled again before its bytes are sent
  (``pending``) and once the server validated them (``secured``), the server's own status
  deciding on a resume. A kill at any moment is resumed with that very
  version: registered again only if the server does not have it, its bytes sent again if it is
  not secured, adopted if it is secured with our MD5. A second version is never made.
* **Single part** below ``multipart_threshold``: ``GET …/presigned_link/single_part/``, one PUT;
  above it, ``GET …/presigned_link/`` gives an upload id, the server's part size and one URL
  per part; each part's ETag is its MD5, compared and journaled (an interrupted upload goes on
  from its recorded parts, each re-read and proven identical), and the ETags go to the
  validation. A URL the object store refuses (expired) is asked for again.
* **Verification.** The MD5 (and the job's checksum) is computed in the same pass that sends
  the bytes; the object store's ETag must be that MD5, then ``validate_upload`` has the server
  check the stored object against it. A file that changed while it was read is never
  validated; a refused validation fails the file (the version stays pending, and a resume
  sends it again).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid as uuidlib
from urllib.parse import urlsplit

from datauploader import proofs
from datauploader.checksums import new_hasher
from datauploader.errors import (CancelledError, ConfigError, FileError, RemoteExistsError,
                                 TransientError, UserFacingError, VerificationError)
from datauploader.names import RULES
from datauploader.net import etiket_files as F
from datauploader.net.etiket import EtiketError, EtiketSession
from datauploader.net.webclient import WebClient, where
from datauploader.options import Option
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, WritesIntoDataset)

log = logging.getLogger(__name__)

PIECE = 1 << 16
LINK_TRIES = 3  # a URL refused (expired) is asked for again this often


class _Body:
    """A request body of known length read in pieces from ``read``: each piece hashed and
    accounted (``ctx.sent``: the bandwidth limit, pause and cancel)."""

    def __init__(self, read, length: int, ctx: TransferContext, hashers):
        self._read, self.length, self._ctx, self._hashers = read, length, ctx, hashers
        self.done = 0

    def __len__(self) -> int:
        return self.length

    def read(self, n: int = -1) -> bytes:
        n = self.length - self.done if n < 0 else min(n, self.length - self.done, PIECE)
        if n <= 0:
            return b""
        data = self._read(n)
        for h in self._hashers:
            h.update(data)
        self.done += len(data)
        self._ctx.sent(len(data))
        return data


class EtiketStorage(StorageBackend, WritesIntoDataset):
    kind = "etiket"
    OPTIONS = (
        Option("catalogue", "the [catalogue:NAME] (type etiket) whose login and datasets the "
               "files go into", required=True),
        Option("prefix", "template of each dataset's part of the keys (shown as its location)",
               default="{proposal}/{dataset}"),
        Option("names", "file-name rules for file names: posix, windows or portable",
               default="posix", choices=("posix", "windows", "portable")),
        Option("multipart_threshold", "files from this size on go in parts of the server's "
               "part size", default=64 << 20, type="size"),
        Option("timeout", "seconds to wait for an answer", default=300.0, type=float),
    )

    def __init__(self, session: EtiketSession, prefix: str = "{proposal}/{dataset}",
                 names: str = "posix", multipart_threshold: int = 64 << 20,
                 timeout: float = 300.0):
        self.session = session
        self.prefix_template = prefix
        self.name_rules = RULES[names]
        self.multipart_threshold = int(multipart_threshold)
        self.store = WebClient(session.url, verify=session.verify, timeout=(10.0, timeout),
                               pool_size=32, what="etiket's object store")
        self.netloc = urlsplit(session.url).netloc
        self._datasets: dict[str, str] = {}  # prefix → dataset uuid
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, options: dict, ctx) -> "EtiketStorage":
        options = dict(options)
        name = options.pop("catalogue")
        resolve = getattr(ctx, "session", None)
        session = resolve(name) if resolve is not None else None
        if not isinstance(session, EtiketSession):
            raise ConfigError(f"[catalogue:{name}] is not an etiket catalogue; the etiket storage "
                              "works with etiket only.", section=f"storage:{ctx.section}",
                              key="catalogue")
        return cls(session, **options)

    # -- the dataset the engine created -----------------------------------------------------
    def use_dataset(self, prefix: str, dataset_id: str) -> None:
        with self._lock:
            self._datasets[prefix.strip("/")] = str(dataset_id)

    def _target(self, key: str) -> tuple[str, str]:
        with self._lock:
            for prefix in sorted(self._datasets, key=len, reverse=True):
                if not prefix or key.startswith(prefix + "/"):
                    return self._datasets[prefix], key[len(prefix) + 1:] if prefix else key
        raise UserFacingError(f"No etiket dataset is known for {key}: the files need their "
                              "dataset first.")

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        return f"etiket files at {where(self.session.url)}"

    def location(self, key: str) -> str:
        return f"etiket://{self.netloc}/{key}"

    def _location(self, ds_uuid: str, file_uuid: str, version: int) -> str:
        return f"etiket://{self.netloc}/datasets/{ds_uuid}/files/{file_uuid}/{version}"

    def check(self) -> None:
        """Logged in: the login works; not yet (``config check --online``): the server answers."""
        if self.session.logged_in():
            self.session.whoami()
            return
        resp = self.store.request("GET", self.session.url + "/api/v3/token/userinfo")
        if resp.status_code not in (401, 403):
            raise UserFacingError(f"There is no etiket API at {self.session.url}/api (HTTP "
                                  f"{resp.status_code}); check the catalogue's 'url'.")

    def exclusive_writes(self) -> bool:
        return True  # every upload writes a version of its own; a secured one is immutable

    def _remote(self, key: str, versions: list[F.FileVersion]) -> RemoteObject | None:
        """The version that stands for the name: the newest secured one, else the newest."""
        if not versions:
            return None
        secured = [v for v in versions if v.status == F.SECURED]
        v = max(secured or versions, key=lambda v: v.version_id)
        return RemoteObject(key=key, size=v.size, etag=v.etag or v.md5,
                            checksum=v.md5 if v.status == F.SECURED else None, algorithm="md5",
                            metadata={"uuid": v.uuid, "version_id": v.version_id,
                                      "status": v.status, "versions": len(versions)})

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        ds_uuid = self._datasets.get(prefix.strip("/"))
        if ds_uuid is None:
            return {}
        ds = self.session.json("GET", "/dataset/", "list the dataset's files",
                               params={"dataset_uuid": ds_uuid}) or {}
        by_name: dict[str, list[F.FileVersion]] = {}
        for f in ds.get("files") or []:
            by_name.setdefault(f["name"], []).append(F.FileVersion.from_json(f))
        return {f"{prefix}/{n}": self._remote(f"{prefix}/{n}", vs) for n, vs in by_name.items()}

    def stat(self, key: str) -> RemoteObject | None:
        ds_uuid, name = self._target(key)
        return self._remote(key, F.versions(self.session, ds_uuid, name))

    # -- upload -----------------------------------------------------------------------------
    def _ours(self, ds_uuid: str, name: str, item: TransferItem, ctx: TransferContext):
        """(uuid, version_id) of this file's version: as journaled, else as derived."""
        rec = ctx.remote_file()
        if rec is not None:
            return rec.remote_id, int(rec.version)
        with ctx.open_source(item) as src:
            mtime_ns = src.mtime_ns
        file_uuid = str(uuidlib.uuid5(uuidlib.UUID(ds_uuid), name))
        return file_uuid, F.version_id_for(mtime_ns)

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        ds_uuid, name = self._target(item.key)
        file_uuid, version = self._ours(ds_uuid, name, item, ctx)
        found = F.versions(self.session, ds_uuid, name)
        mine = next((v for v in found if (v.uuid, v.version_id) == (file_uuid, version)), None)
        if found and mine is None:
            return self.adopt(item, self._remote(item.key, found), ctx)
        if mine is not None and mine.status == F.SECURED:
            return self._adopt_secured(item, ctx, mine, ds_uuid)
        if mine is None:
            ctx.remote_file_status(file_uuid, str(version), F.ANNOUNCED, durable=True)
            with ctx.open_source(item) as src:
                size, mtime = src.size, src.mtime_ns / 1e9
            try:
                F.register(self.session, ds_uuid=ds_uuid, name=name,
                           filename=name.rsplit("/", 1)[-1], file_uuid=file_uuid,
                           version_id=version, size=size, collected=mtime,
                           creator=self.session.user)
            except EtiketError as e:
                if e.status not in (400, 409) or F.read(self.session, file_uuid, version) is None:
                    raise  # (a register whose answer was lost is there: go on with it)
        ctx.remote_file_status(file_uuid, str(version), F.PENDING)
        if item.size >= self.multipart_threshold:
            checksum, md5, etags, size = self._multipart(item, ctx, file_uuid, version, name)
            F.validate(self.session, file_uuid, version, md5, name,
                       ctx.multipart_state().upload_id, etags)
            proof = proofs.both(Proof.PARTS_MD5, Proof.VALIDATED_MD5)
        else:
            checksum, md5, stated, size = self._single(item, ctx, file_uuid, version, name)
            F.validate(self.session, file_uuid, version, md5, name)
            proof = (proofs.both(Proof.ETAG_MD5, Proof.VALIDATED_MD5) if stated
                     else str(Proof.VALIDATED_MD5))
        ctx.remote_file_status(file_uuid, str(version), F.SECURED)
        return UploadResult(size=size, checksum=checksum,
                            location=self._location(ds_uuid, file_uuid, version),
                            verified_by=proof, etag=md5)

    def _single(self, item, ctx, file_uuid: str, version: int, name: str):
        """One PUT; returns (checksum, md5, the ETag stated) of what was read and sent."""
        for _ in range(LINK_TRIES):
            url = F.single_link(self.session, file_uuid, version, name)
            with ctx.open_source(item) as src:
                md5 = hashlib.md5()
                buf = bytearray(PIECE)

                def read(n, src=src, buf=buf):
                    got = src.readinto(memoryview(buf)[:n])
                    return bytes(buf[:got])
                body = _Body(read, src.size, ctx, [md5])
                try:
                    resp = F.put(self.store, url, body, src.size, name)
                except F.LinkRefused:
                    ctx.resumed(-body.done)  # sent for nothing: it goes again
                    continue
                checksum = src.finish()  # before validation: a changed file is never validated
                size = src.read_bytes
            stated = F.etag_md5(resp)
            if stated is not None and stated != md5.hexdigest():
                raise VerificationError(
                    f"etiket's object store stored {name} with MD5 {stated}, but the bytes read "
                    f"here have {md5.hexdigest()}; it was not validated and will be sent again "
                    "when the job is resumed.")
            return checksum, md5.hexdigest(), stated, size
        raise FileError(f"etiket's object store refused every upload link for {name} (they "
                        "may expire too soon); resume the job to try again.")

    def _multipart(self, item, ctx, file_uuid: str, version: int, name: str):
        """The parts the server sized, each proven by its ETag; returns (checksum, md5 of the
        whole file, the parts' ETags in order)."""
        upload_id, part_size, urls = F.multipart_links(self.session, file_uuid, version, name)
        mp = ctx.multipart_state()
        done = {}
        if mp is not None and (mp.upload_id, mp.part_size) == (upload_id, part_size):
            done = dict(mp.parts)
        else:
            if mp is not None:
                ctx.multipart_forgotten()
            ctx.multipart_started(upload_id, part_size)
        whole, etags = hashlib.md5(), []
        with ctx.open_source(item) as src:
            count = max(1, -(-src.size // part_size))
            if len(urls) != count:
                raise FileError(f"{self.session.describe()} handed out {len(urls)} upload links "
                                f"for the {count} parts of {name}; resume the job to try again.")
            for number in range(1, count + 1):
                length = min(part_size, src.size - (number - 1) * part_size)
                data = bytearray(length)
                if src.readinto(data) != length:
                    src.finish()  # raises FileChangedError
                whole.update(data)
                part_md5 = hashlib.md5(data).hexdigest()
                have = done.get(number)
                if have is not None and have[0] == length and have[2] == part_md5:
                    etags.append(have[1])  # on the server already, proven the same
                    ctx.resumed(length)
                    continue
                etag, urls = self._put_part(ctx, data, number, urls, upload_id,
                                            (file_uuid, version, name))
                if F.etag_md5(_Tag(etag)) != part_md5:
                    raise VerificationError(f"etiket's object store stored part {number} of "
                                            f"{name} with ETag {etag}, not its MD5 {part_md5}; "
                                            "it will be sent again when the job is resumed.")
                ctx.part_done(number, length, etag, part_md5)
                etags.append(etag)
            checksum = src.finish()
            size = src.read_bytes
        return checksum, whole.hexdigest(), etags, size

    def _put_part(self, ctx, data: bytearray, number: int, urls: list[str], upload_id: str,
                  which: tuple) -> tuple[str, list[str]]:
        file_uuid, version, name = which
        for _ in range(LINK_TRIES):
            view = memoryview(data)
            pos = [0]

            def read(n, view=view, pos=pos):
                chunk = bytes(view[pos[0]:pos[0] + n])
                pos[0] += len(chunk)
                return chunk
            body = _Body(read, len(data), ctx, [])
            try:
                resp = F.put(self.store, urls[number - 1], body, len(data),
                             f"part {number} of {name}")
                return resp.headers.get("ETag", ""), urls
            except F.LinkRefused:
                ctx.resumed(-body.done)
                again, _, urls = F.multipart_links(self.session, file_uuid, version, name)
                if again != upload_id:
                    ctx.multipart_forgotten()
                    raise TransientError(f"{self.session.describe()} started the upload of {name} "
                                         "afresh; it will be sent again.") from None
        raise FileError(f"etiket's object store refused every upload link for part {number} of "
                        f"{name}; resume the job to try again.")

    # -- what is there already --------------------------------------------------------------
    def _hash(self, item: TransferItem, ctx: TransferContext) -> tuple[str, str, int]:
        """(job checksum, md5, size) of the local file, read once."""
        md5 = hashlib.md5()
        buf = bytearray(1 << 20)
        with ctx.open_source(item) as src:
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                md5.update(memoryview(buf)[:n])
                if ctx.cancel.is_set():
                    raise CancelledError()
            return src.finish(), md5.hexdigest(), src.read_bytes

    def _adopt_secured(self, item, ctx, v: F.FileVersion, ds_uuid: str) -> UploadResult:
        checksum, md5, size = self._hash(item, ctx)
        if (v.md5 or "").lower() != md5 or v.size != size:
            raise RemoteExistsError(f"{self.session.describe()}: {v.name} is already in the "
                                    "dataset with other content (its MD5 or size differs); it "
                                    "was not replaced.")
        ctx.remote_file_status(v.uuid, str(v.version_id), F.SECURED)
        return UploadResult(size=size, checksum=checksum,
                            location=self._location(ds_uuid, v.uuid, v.version_id),
                            verified_by=proofs.already_present(str(Proof.VALIDATED_MD5)), etag=md5,
                            skipped=True)

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        """The name has a version: ours (go on with it, or prove it the same if secured), or
        another client's (proven the same if secured, else refused: never touched)."""
        ds_uuid, name = self._target(item.key)
        found = F.versions(self.session, ds_uuid, name)
        file_uuid, version = self._ours(ds_uuid, name, item, ctx)
        mine = next((v for v in found if (v.uuid, v.version_id) == (file_uuid, version)), None)
        if mine is not None and mine.status != F.SECURED:
            return self.upload(item, ctx)  # our version, not secured yet: send it again
        if mine is not None:
            return self._adopt_secured(item, ctx, mine, ds_uuid)
        secured = [v for v in found if v.status == F.SECURED]
        if not secured:
            raise RemoteExistsError(f"{self.session.describe()}: {name} is being uploaded to the "
                                    "dataset by another client (a version not yet secured); "
                                    "it was not touched. Resume the job once that is done.")
        return self._adopt_secured(item, ctx, max(secured, key=lambda v: v.version_id), ds_uuid)

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        ds_uuid, name = self._target(key)
        remote = self.stat(key)
        if remote is None or remote.metadata.get("status") != F.SECURED:
            raise FileError(f"{key} is not secured in the etiket dataset.")
        v = F.read(self.session, remote.metadata["uuid"], remote.metadata["version_id"])
        if v is None or not v.link:
            raise FileError(f"{self.session.describe()} gives no download link for {name}.")
        resp = self.store.request("GET", v.link, stream=True,
                                  secrets=(urlsplit(v.link).query,))
        try:
            if resp.status_code != 200:
                raise FileError(f"etiket's object store did not send {name} back (HTTP "
                                f"{resp.status_code}).")
            h, n = new_hasher(algorithm), 0
            for chunk in resp.iter_content(1 << 20):
                if cancel is not None and cancel.is_set():
                    raise CancelledError()
                h.update(chunk)
                n += len(chunk)
            return h.hexdigest(), n
        finally:
            resp.close()

    def close(self) -> None:
        self.store.close()


class _Tag:
    """An ETag as a response header, for ``etiket_files.etag_md5``."""

    def __init__(self, etag: str):
        self.headers = {"ETag": etag}
