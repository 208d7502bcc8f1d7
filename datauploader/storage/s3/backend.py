"""S3 storage: single PUT for small files, multipart above a threshold, resumable, never
overwriting.

* **Verification.** Every request body carries ``Content-MD5`` (the server refuses a body that
  does not match it), and the ETag it answers is compared with our MD5 (single PUT and each
  part). A completed multipart object's ETag is checked against the composite MD5 AWS uses
  (``md5(part md5s)-N``) or, where the server answers otherwise (rclone: the whole object's
  MD5), its size is read back after every part was proven. With sha256 (the default) the
  payload hash of a single PUT is signed too, so the server checks the sha256 as well.
* **Never overwrite.** The job lists its prefix once; a key that exists is proven identical
  (adopted) or refused. Writes carry ``If-None-Match: *`` so that servers which honour it
  refuse a key created by someone else in the meantime.
* **Resume.** A multipart upload id is journaled before the first part is sent. On resume,
  ``ListParts`` says which parts the server holds; each is re-read locally (the whole-file
  checksum needs every byte) and its MD5 compared with the server's ETag, so only missing
  parts are sent, and a file that changed in between is noticed.
* **Memory** is bounded by the configuration, never by file size or count: small files are
  read whole (below the threshold), parts use at most ``part_concurrency + 1`` buffers.

Credentials: an access key id in the configuration with its secret in the OS keyring, or the
standard AWS environment variables, or an AWS shared-credentials profile, never our files.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from datauploader import proofs
from datauploader.checksums import HashingSink
from datauploader.errors import (AuthError, CancelledError, ConfigError, FileChangedError,
                                 RemoteExistsError, VerificationError)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import resolve_credentials
from datauploader.storage.s3.errors import NoSuchUpload, PreconditionFailed

log = logging.getLogger(__name__)

MiB = 1 << 20
MAX_PARTS = 10_000
META_CHECKSUM = "du-checksum"  # "<algorithm>:<hex>", single PUT only (known before sending)
META_JOB = "du-job"
META_TASK = "du-task"
META_PART_SIZE = "du-part-size"


def _md5(data) -> hashlib._Hash:
    return hashlib.md5(data, usedforsecurity=False)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Storage(StorageBackend):
    kind = "s3"
    OPTIONS = (
        Option("endpoint_url", "URL of the S3 service (empty: AWS in the given region)",
               default=""),
        Option("region", "signing region", default="us-east-1"),
        Option("bucket", "bucket that receives the files", required=True),
        Option("prefix", "template of the key prefix of each dataset",
               default="{proposal}/{dataset}"),
        Option("addressing_style", "path, virtual (bucket in the host name) or auto",
               default="auto", choices=("auto", "path", "virtual")),
        Option("ca_bundle", "PEM file of the certificate authorities to trust (default: the "
               "system's)", default=""),
        Option("verify_tls", "verify the server's TLS certificate", default=True, type=bool),
        Option("multipart_threshold", "files from this size up are sent in parts",
               default=16 * MiB, type="size"),
        Option("part_size", "size of each part", default=16 * MiB, type="size"),
        Option("part_concurrency", "parts sent at the same time (over all files)", default=4,
               type=int),
        Option("access_key_id", "access key id; its secret comes from the OS keyring or "
               "AWS_SECRET_ACCESS_KEY", default=""),
        Option("aws_profile", "AWS shared-credentials profile to use", default=""),
        Option("secret_access_key", "never here: OS keyring or environment", secret=True),
        Option("timeout", "seconds an answer may take to begin (and its body to move 1 KiB): "
               "longer, and the request is given up and retried", default=60.0, type=float,
               minimum=1),
    )

    def __init__(self, bucket: str, endpoint_url: str = "", region: str = "us-east-1",
                 prefix: str = "{proposal}/{dataset}", addressing_style: str = "auto",
                 ca_bundle: str = "", verify_tls: bool = True, multipart_threshold: int = 16 * MiB,
                 part_size: int = 16 * MiB, part_concurrency: int = 4, credentials=None,
                 access_key_id: str = "", aws_profile: str = "", timeout: float = 60.0):
        self.bucket = bucket
        self.region = region or "us-east-1"
        self.endpoint_url = (endpoint_url or f"https://s3.{self.region}.amazonaws.com").rstrip("/")
        self.prefix_template = prefix
        self.name_rules = RULES["s3"]
        self.threshold = max(1, int(multipart_threshold))
        self.part_size = max(5 * MiB if "amazonaws.com" in self.endpoint_url else MiB,
                             int(part_size))
        self.part_concurrency = max(1, int(part_concurrency))
        if credentials is None:
            raise AuthError(f"No S3 credentials for {self.endpoint_url}.")
        self.client = S3Client(self.endpoint_url, self.region, credentials=credentials,
                               addressing_style=addressing_style, ca_bundle=ca_bundle or None,
                               verify_tls=verify_tls, read_timeout=float(timeout))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # buffers for parts in flight, shared by every file: memory bounded by configuration
        self._part_slots = threading.BoundedSemaphore(self.part_concurrency + 1)

    # -- construction from the configuration -----------------------------------------------
    @staticmethod
    def _endpoint(options: dict) -> str:
        return (options.get("endpoint_url") or
                f"https://s3.{options.get('region') or 'us-east-1'}.amazonaws.com").rstrip("/")

    @classmethod
    def secret_slot(cls, options: dict, section: str) -> SecretSlot:
        key_id = options.get("access_key_id")
        if not key_id:
            raise ConfigError("set 'access_key_id' first; its secret then goes to the OS "
                              "keyring.", section=f"storage:{section}", key="access_key_id")
        endpoint = cls._endpoint(options)
        return SecretSlot(keyring_service("s3", endpoint), key_id,
                          f"Secret access key for {key_id} at {endpoint}",
                          f"{key_id} at {endpoint}")

    @classmethod
    def from_config(cls, options: dict, ctx) -> "S3Storage":
        options = dict(options)
        options.pop("secret_access_key", None)
        slot = cls.secret_slot(options, ctx.section) if options.get("access_key_id") else None
        options["credentials"] = resolve_credentials(
            cls._endpoint(options), slot, options.get("aws_profile", ""), ctx.env, ctx.secrets,
            ctx.section)
        return cls(**options)

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        return f"s3://{self.bucket} at {self.endpoint_url}"

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check(self) -> None:
        self.client.head_bucket(self.bucket)

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        listing = prefix.rstrip("/") + "/" if prefix else ""
        return {o.key: RemoteObject(key=o.key, size=o.size, etag=o.etag)
                for o in self.client.list_objects(self.bucket, listing)}

    def stat(self, key: str) -> RemoteObject | None:
        info = self.client.head_object(self.bucket, key)
        if info is None:
            return None
        alg, _, value = info.metadata.get(META_CHECKSUM, "").partition(":")
        return RemoteObject(key=key, size=info.size, etag=info.etag, checksum=value or None,
                            algorithm=alg or None, job_uuid=info.metadata.get(META_JOB),
                            metadata=dict(info.metadata))

    def read_checksum(self, key: str, algorithm: str, cancel=None) -> tuple[str, int]:
        take = HashingSink(algorithm, cancel)
        self.client.get_object(self.bucket, key, take)
        return take.result()

    def interrupt(self) -> None:
        self.client.interrupt()

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()

    # -- upload -----------------------------------------------------------------------------
    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        mp = ctx.multipart_state()
        with ctx.open_source(item) as src:
            if mp is None and src.size < self.threshold:
                return self._put_single(item, src, ctx)
        for _ in range(2):
            try:
                with ctx.open_source(item) as src:
                    return self._put_multipart(item, src, ctx)
            except _Restart as r:
                log.info("restarting multipart upload of %s: %s", item.key, r)
        raise FileChangedError(f"{item.path} keeps changing while it is uploaded; resume the job "
                               "once it is complete.")

    def _put_single(self, item: TransferItem, src, ctx: TransferContext) -> UploadResult:
        body = bytearray(src.size)
        src.readinto(body)
        if src.readinto(bytearray(1)):  # bytes beyond the size seen at open: it is growing
            raise FileChangedError(f"{item.path} grew while it was being read; it is probably "
                                   "still being written. Resume the job once it is complete.")
        checksum = src.finish()  # before a byte leaves: a changing file is never sent
        md5 = _md5(body)
        payload_sha = checksum if item.algorithm == "sha256" else None
        # our checksum rides along, so that a later run can prove the object identical
        meta = {META_CHECKSUM: f"{item.algorithm}:{checksum}"}
        try:
            res = self.client.put_object(self.bucket, item.key, body,
                                         content_md5_b64=_b64(md5.digest()),
                                         payload_sha256=payload_sha, metadata=meta,
                                         if_none_match=True, on_chunk=ctx.sent)
        except PreconditionFailed:
            remote = self.stat(item.key)
            if remote is None:
                raise
            return self._compare_existing(item, remote, len(body), checksum, md5.hexdigest(),
                                          None)
        verified = Proof.CONTENT_MD5
        if res.etag == md5.hexdigest():
            verified = Proof.ETAG_MD5
        if payload_sha:
            verified = proofs.both(verified, Proof.SIGNED_SHA256)
        return UploadResult(size=len(body), checksum=checksum, location=self.location(item.key),
                            verified_by=verified, etag=res.etag)

    def _pool_get(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.part_concurrency,
                                                thread_name_prefix="s3-part")
            return self._pool

    def _put_multipart(self, item: TransferItem, src, ctx: TransferContext) -> UploadResult:
        size = src.size
        mp = ctx.multipart_state()
        server_parts: dict[int, tuple[int, str]] = {}
        upload_id = None
        part_size = self.part_size
        if mp is not None:
            try:
                server_parts = {p.part_number: (p.size, p.etag) for p in
                                self.client.list_parts(self.bucket, item.key, mp.upload_id)}
                upload_id, part_size = mp.upload_id, mp.part_size
            except NoSuchUpload:
                log.info("multipart upload %s of %s is gone on the server; starting afresh",
                         mp.upload_id, item.key)
                ctx.multipart_forgotten()
        part_size = max(part_size, math.ceil(size / MAX_PARTS))
        nparts = max(1, math.ceil(size / part_size))
        if upload_id is None:
            upload_id = self.client.create_multipart_upload(
                self.bucket, item.key, metadata={META_JOB: item.job_uuid,
                                                 META_TASK: str(item.task_id),
                                                 META_PART_SIZE: str(part_size)})
            ctx.multipart_started(upload_id, part_size)  # journaled before the first part

        pool = self._pool_get()
        futures: dict[int, Future] = {}
        md5s: dict[int, bytes] = {}
        failed: list[BaseException] = []

        def send(number: int, buf: bytearray, n: int, digest: bytes) -> str:
            try:
                etag = self.client.upload_part(self.bucket, item.key, upload_id, number,
                                               memoryview(buf)[:n],
                                               content_md5_b64=_b64(digest), on_chunk=ctx.sent)
                if etag and etag != digest.hex():
                    raise VerificationError(
                        f"The S3 server reported ETag {etag} for part {number} of {item.key}, "
                        f"but the part's MD5 is {digest.hex()}; the part was not stored as sent.")
                ctx.part_done(number, n, etag or digest.hex(), digest.hex())
                return etag
            finally:
                self._part_slots.release()

        try:
            for number in range(1, nparts + 1):
                if failed:
                    break
                expect = min(part_size, size - (number - 1) * part_size)
                have = server_parts.get(number)
                if have is not None and have[0] == expect:
                    # already on the server: re-read (the whole-file checksum needs it) and
                    # prove it is the same data
                    buf = bytearray(expect)
                    src.readinto(buf)
                    digest = _md5(buf).digest()
                    if have[1] != digest.hex():
                        self._abandon(item, upload_id, ctx)
                        raise _Restart(f"part {number} on the server differs from the file now")
                    md5s[number] = digest
                    if ctx.cancel.is_set():
                        raise CancelledError()
                    continue
                while not self._part_slots.acquire(timeout=0.5):
                    ctx.sent(0)  # honours pause and cancel while waiting for a buffer
                try:
                    buf = bytearray(expect)
                    got = src.readinto(buf)
                    if got != expect:
                        raise FileChangedError(f"{item.path} shrank while it was being read; it "
                                               "is probably still being written.")
                    digest = _md5(buf).digest()
                except BaseException:
                    self._part_slots.release()
                    raise
                md5s[number] = digest
                fut = pool.submit(send, number, buf, got, digest)
                fut.add_done_callback(lambda f: f.exception() and failed.append(f.exception()))
                futures[number] = fut
            wait(list(futures.values()))
            for f in futures.values():
                f.result()  # the first part that failed raises here
            if src.readinto(bytearray(1)):
                raise FileChangedError(f"{item.path} grew while it was being read; it is "
                                       "probably still being written.")
            checksum = src.finish()
        except FileChangedError:
            wait(list(futures.values()))
            self._abandon(item, upload_id, ctx)
            raise
        except BaseException:
            wait(list(futures.values()))  # never leave a part thread writing a released buffer
            raise

        parts = [(n, md5s[n].hex()) for n in range(1, nparts + 1)]
        composite = _md5(b"".join(md5s[n] for n in range(1, nparts + 1))).hexdigest() + f"-{nparts}"
        try:
            etag = self.client.complete_multipart_upload(self.bucket, item.key, upload_id, parts,
                                                         if_none_match=True)
        except PreconditionFailed:
            self._abandon(item, upload_id, ctx)
            remote = self.stat(item.key)
            if remote is None:
                raise
            return self._compare_existing(item, remote, size, checksum, None, composite)
        except NoSuchUpload:
            # completed by an earlier try whose answer was lost?
            remote = self.stat(item.key)
            if remote is None or remote.metadata.get(META_JOB) != item.job_uuid:
                ctx.multipart_forgotten()
                raise
            etag = remote.etag
        if etag == composite:
            verified = Proof.ETAG_MULTIPART_MD5
        else:
            remote = self.stat(item.key)
            if remote is None or remote.size != size:
                raise VerificationError(
                    f"After completing the upload of {item.key} the server reports "
                    f"{remote.size if remote else 'no'} object of {size} bytes.")
            verified = proofs.both(Proof.PARTS_MD5, Proof.SIZE)
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified, etag=etag)

    def _abandon(self, item: TransferItem, upload_id: str, ctx: TransferContext) -> None:
        """Abort our own multipart upload (its id is in our journal, so it is ours)."""
        try:
            self.client.abort_multipart_upload(self.bucket, item.key, upload_id)
        except Exception:  # noqa: BLE001 - the server drops stale uploads by lifecycle rules
            log.warning("could not abort multipart upload %s of %s", upload_id, item.key,
                        exc_info=True)
        ctx.multipart_forgotten()

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        mp = ctx.multipart_state()
        if mp is not None:
            self._abandon(item, mp.upload_id, ctx)

    # -- existing keys ----------------------------------------------------------------------
    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        """The key exists: read the local file once and prove the object holds the same bytes."""
        if remote.checksum is None and (remote.etag is None or "-" in remote.etag):
            remote = self.stat(item.key) or remote  # metadata: our checksum, part size
        part_size = int(remote.metadata.get(META_PART_SIZE, 0) or 0)
        whole_md5 = _md5(b"")
        part_md5s: list[bytes] = []
        part = _md5(b"")
        in_part = 0
        buf = bytearray(MiB if not part_size else min(MiB, part_size))
        with ctx.open_source(item) as src:
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                view = memoryview(buf)[:n]
                whole_md5.update(view)
                if part_size:
                    pos = 0
                    while pos < n:
                        take = min(n - pos, part_size - in_part)
                        part.update(view[pos:pos + take])
                        in_part += take
                        pos += take
                        if in_part == part_size:
                            part_md5s.append(part.digest())
                            part, in_part = _md5(b""), 0
                if ctx.cancel.is_set():
                    raise CancelledError()
            checksum = src.finish()
            size = src.read_bytes
        composite = None
        if part_size:
            if in_part:
                part_md5s.append(part.digest())
            composite = _md5(b"".join(part_md5s)).hexdigest() + f"-{len(part_md5s)}"
        return self._compare_existing(item, remote, size, checksum, whole_md5.hexdigest(),
                                      composite)

    def _compare_existing(self, item: TransferItem, remote: RemoteObject, size: int,
                          checksum: str, md5_hex: str | None,
                          composite: str | None) -> UploadResult:
        where = f"s3://{self.bucket}/{item.key}"
        if remote.size != size:
            raise other_content(where, f"{remote.size} bytes, the local file has {size}")
        how = None
        if remote.checksum and remote.algorithm == item.algorithm:
            if remote.checksum != checksum:
                raise other_content(where, f"its {item.algorithm} differs")
            how = proofs.recorded(item.algorithm)
        elif remote.etag and md5_hex and remote.etag == md5_hex:
            how = Proof.ETAG_MD5
        elif remote.etag and composite and remote.etag == composite:
            how = Proof.ETAG_MULTIPART_MD5
        if how is None:
            raise RemoteExistsError(f"{where} already exists and cannot be proven identical to "
                                    f"{item.path}; it was not overwritten. Choose another "
                                    "dataset name or remove the object if it is not needed.")
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=proofs.already_present(how), etag=remote.etag,
                            skipped=True)


class _Restart(Exception):
    """The parts on the server do not match the file any more: start the upload afresh."""
