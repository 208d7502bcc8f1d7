"""S3 storage: single PUT for small files, multipart above a threshold, resumable, never
overwriting.

* **Verification.** Every request body carries ``Content-MD5``, and the ETag the server
  answers is compared with our MD5 (single PUT and each part): a plain-MD5 ETag that differs
  is a body damaged on the way (servers that ignore ``Content-MD5`` store it), so the object
  we just wrote is removed and the request fails as damaged (retried, then the file fails);
  it is never "verified". A completed multipart object's ETag is checked against the
  composite MD5 AWS uses (``md5(part md5s)-N``) or, where the server answers otherwise
  (rclone: the whole object's MD5), its size is read back after every part was proven. A
  proof is claimed only where it holds: ``content-md5`` and ``signed-sha256`` only on servers
  that were seen to refuse a body that does not match them (:mod:`.probe`, once per target);
  an ETag that is no MD5 on a server that checks nothing is read back.
* **Never overwrite.** The job lists its prefix once; a key that exists is proven identical
  (adopted) or refused. Writes carry ``If-None-Match: *`` so that servers which honour it
  refuse a key created by someone else in the meantime; whether the server honours it is
  learnt once per target (``exclusive_writes``), and where not, the engine registers a file
  only after a listing proved it.
* **Resume.** A multipart upload id is journaled before the first part is sent. On resume,
  ``ListParts`` says which parts the server holds; each is re-read locally (the whole-file
  checksum needs every byte) and its MD5 compared with the server's ETag, so only missing
  parts are sent, and a file that changed in between is noticed. An upload whose id never
  reached the journal is found and aborted (:mod:`.pending`).
* **Retries** are the engine's, per request (``ctx.request``): a part that meets a fault is
  sent again by itself; a CompleteMultipartUpload whose answer was lost is first confirmed
  (HEAD, ListParts) and only sent again if the upload is still in progress.
* **Memory** is bounded by the configuration, never by file size or count: small files are
  read whole (below the threshold), parts use at most ``part_concurrency + 1`` buffers.

Credentials: an access key id in the configuration with its secret in the OS keyring, or the
standard AWS environment variables, or an AWS shared-credentials profile, never our files.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from datauploader import proofs
from datauploader.checksums import HashingSink
from datauploader.errors import (AuthError, CancelledError, ConfigError, FileChangedError,
                                 VerificationError)
from datauploader.names import RULES
from datauploader.net import tls
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.s3.claims import CLAIM_MARK, Claims
from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import resolve_credentials
from datauploader.storage.s3.errors import PreconditionFailed, damaged
from datauploader.storage.s3.messages import (META_CHECKSUM, META_JOB, META_PART_SIZE, b64, is_md5,
                                              md5)
from datauploader.storage.s3.multipart_upload import MultipartUpload, Restart
from datauploader.storage.s3.pending import PendingUploads
from datauploader.storage.s3.probe import PROBE_MARK, ServerChecks, probe, static_head
from datauploader.storage.target_traits import TraitCache

log = logging.getLogger(__name__)

MiB = 1 << 20


class S3Storage(MultipartUpload, StorageBackend):
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
                 access_key_id: str = "", aws_profile: str = "", timeout: float = 60.0,
                 state_dir: str | None = None):
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
        # what the server checks, learnt once per target (kept in the state folder)
        self._traits = TraitCache(state_dir)
        self._checks: ServerChecks | None = None
        self._checks_lock = threading.Lock()
        self._pending = PendingUploads(state_dir)  # multipart uploads not yet journaled
        self._claims = Claims(self.client, self.bucket, self.location)

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
        options["ca_bundle"] = tls.bundle_from_env(ctx.env, options.get("ca_bundle", ""), aws=True)
        paths = getattr(ctx, "paths", None)
        return cls(**options, state_dir=paths.state_dir if paths else None)

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
                for o in self.client.list_objects(self.bucket, listing)
                if PROBE_MARK not in o.key and CLAIM_MARK not in o.key}

    def claim(self, prefix: str, job_uuid: str) -> None:
        """See :mod:`.claims`."""
        self._claims.claim(prefix, job_uuid)

    def release(self, prefix: str, job_uuid: str) -> None:
        self._claims.release(prefix, job_uuid)

    # -- what the server checks -------------------------------------------------------------
    def server_checks(self) -> ServerChecks:
        """What this target was found to check (probed once, then kept for a day)."""
        with self._checks_lock:
            if self._checks is None:
                target = self.describe()
                kept = self._traits.get(target)
                if kept is not None:
                    self._checks = ServerChecks.from_dict(kept)
                else:
                    found = probe(self.client, self.bucket, static_head(self.prefix_template))
                    if found is None:  # nothing learnt: every check counts as not done, and
                        self._checks = ServerChecks()  # the next process asks again
                    else:
                        log.info("%s: %s", target, found)
                        self._traits.put(target, found.as_dict())
                        self._checks = found
            return self._checks

    def exclusive_writes(self) -> bool:
        """Where the server refuses ``If-None-Match: *`` writes of existing keys (AWS, moto),
        of two uploads racing on one key only one succeeds; rclone serve s3 ignores it."""
        return self.server_checks().conditional_writes

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
        self._claims.close()
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
            except Restart as r:
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
        body_md5 = md5(body)
        payload_sha = checksum if item.algorithm == "sha256" else None
        # our checksum rides along, so that a later run can prove the object identical
        meta = {META_CHECKSUM: f"{item.algorithm}:{checksum}"}
        md5_hex = body_md5.hexdigest()

        def put():
            res = self.client.put_object(self.bucket, item.key, body,
                                         content_md5_b64=b64(body_md5.digest()),
                                         payload_sha256=payload_sha, metadata=meta,
                                         if_none_match=True, on_chunk=ctx.sent)
            if is_md5(res.etag) and res.etag.lower() != md5_hex:
                self._remove_damaged(item.key, res.etag)
                raise damaged(self.endpoint_url, self.bucket, item.key, res.etag, md5_hex)
            return res

        try:
            res = ctx.request(f"sending {item.key}", put)
        except PreconditionFailed:
            remote = self.stat(item.key)
            if remote is None:
                raise
            return self._compare_existing(item, remote, len(body), checksum, md5_hex, None, ctx)
        checks = self.server_checks()
        if res.etag and res.etag.lower() == md5_hex:
            verified = Proof.ETAG_MD5
        elif checks.content_md5:
            verified = Proof.CONTENT_MD5
        else:  # an ETag that is no MD5, and a server not seen to check Content-MD5
            verified = self._reread(item.key, item.algorithm, checksum, len(body), ctx)
        if payload_sha and checks.payload_sha256:
            verified = proofs.both(verified, Proof.SIGNED_SHA256)
        return UploadResult(size=len(body), checksum=checksum, location=self.location(item.key),
                            verified_by=verified, etag=res.etag)

    def _reread(self, key: str, algorithm: str, checksum: str, size: int,
                ctx: TransferContext) -> str:
        """Read the object back: the proof where nothing the server states can be compared."""
        got, n = self.read_checksum(key, algorithm, ctx.cancel)
        if (got, n) != (checksum, size):
            raise VerificationError(
                f"{self.location(key)} read back holds {n} bytes with another {algorithm} "
                f"than the {size} bytes sent; the upload was not stored as sent.")
        return proofs.reread(algorithm)

    def _remove_damaged(self, key: str, etag: str) -> None:
        """Remove the object a damaged body just became (ours: the server answered our write
        with its ETag), only if it still has that ETag where the server honours If-Match."""
        try:
            self.client.delete_object(self.bucket, key, if_match=etag)
        except Exception:  # noqa: BLE001 - then the next try (or the listing) sees it
            log.warning("could not remove the damaged object %s", key, exc_info=True)

    # -- existing keys ----------------------------------------------------------------------
    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        """The key exists: read the local file once and prove the object holds the same bytes."""
        if remote.checksum is None and (remote.etag is None or "-" in remote.etag):
            remote = self.stat(item.key) or remote  # metadata: our checksum, part size
        part_size = int(remote.metadata.get(META_PART_SIZE, 0) or 0)
        whole_md5 = md5(b"")
        part_md5s: list[bytes] = []
        part = md5(b"")
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
                            part, in_part = md5(b""), 0
                if ctx.cancel.is_set():
                    raise CancelledError()
            checksum = src.finish()
            size = src.read_bytes
        composite = None
        if part_size:
            if in_part:
                part_md5s.append(part.digest())
            composite = md5(b"".join(part_md5s)).hexdigest() + f"-{len(part_md5s)}"
        return self._compare_existing(item, remote, size, checksum, whole_md5.hexdigest(),
                                      composite, ctx)

    def _compare_existing(self, item: TransferItem, remote: RemoteObject, size: int,
                          checksum: str, md5_hex: str | None, composite: str | None,
                          ctx: TransferContext) -> UploadResult:
        """Prove the object under ``item.key`` holds the bytes read (``checksum``; their MD5,
        and their composite multipart MD5, where known), or raise RemoteExistsError. What the
        server computed from the stored bytes (an ETag) is the evidence; a checksum recorded
        in the metadata only tells of the bytes its writer meant to send, so it can refuse but
        never prove; where no ETag can be compared, the object is read back."""
        where = f"s3://{self.bucket}/{item.key}"
        if remote.size != size:
            raise other_content(where, f"{remote.size} bytes, the local file has {size}")
        etag = (remote.etag or "").lower()
        how = None
        if is_md5(etag) and md5_hex:
            if etag != md5_hex:
                raise other_content(where, "its MD5 differs")
            how = Proof.ETAG_MD5
        elif composite and etag == composite:
            how = Proof.ETAG_MULTIPART_MD5
        if how is None and remote.checksum and remote.algorithm == item.algorithm and \
                remote.checksum != checksum:
            raise other_content(where, f"its recorded {item.algorithm} differs")
        if how is None:
            try:
                how = self._reread(item.key, item.algorithm, checksum, size, ctx)
            except VerificationError:
                raise other_content(where, f"its {item.algorithm} differs") from None
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=proofs.already_present(how), etag=remote.etag,
                            skipped=True)
