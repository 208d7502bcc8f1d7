"""The multipart half of :class:`~datauploader.storage.s3.backend.S3Storage` (a mixin over its
client, bucket, part pool and markers): one large file sent in parts, resumable, each request
retried by itself, every part proven, and nothing left behind that the journal does not know.

* Before each CreateMultipartUpload a marker is written (:mod:`.pending`); the journal gets the
  upload id before the first part is sent, and the marker goes. ``clean_unjournaled`` aborts
  what a lost answer or a kill in between left.
* Each part is one ``ctx.request``: a fault costs that part a try, not the file. A part whose
  ETag is an MD5 other than the part's was damaged on the way: the request fails as damaged
  (the next try replaces the part).
* A CompleteMultipartUpload whose answer was lost is confirmed before it is sent again: the
  object is ours (HEAD: our job and task in its metadata, its size) or the upload is still in
  progress (ListParts); nothing is sent twice.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor, wait

from datauploader import proofs
from datauploader.errors import CancelledError, FileChangedError, VerificationError
from datauploader.proofs import Proof
from datauploader.storage.base import RemoteObject, TransferContext, TransferItem, UploadResult
from datauploader.storage.s3.errors import NoSuchUpload, PreconditionFailed, damaged
from datauploader.storage.s3.messages import (MAX_PARTS, META_JOB, META_PART_SIZE, META_TASK, b64,
                                              is_md5, md5)

log = logging.getLogger("datauploader.storage.s3.backend")


class Restart(Exception):
    """The parts on the server do not match the file any more, or the upload was aborted on
    the server: start the upload afresh."""


class MultipartUpload:
    """Mixed into S3Storage, which provides ``client``, ``bucket``, ``part_size``,
    ``part_concurrency``, ``_part_slots``, ``_pending``, ``stat``, ``adopt``, ``_reread``,
    ``_compare_existing``, ``server_checks``, ``location`` and ``describe``."""

    _pool: ThreadPoolExecutor | None

    def _pool_get(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.part_concurrency,
                                                thread_name_prefix="s3-part")
            return self._pool

    def _completed_by_us(self, item: TransferItem, size: int) -> RemoteObject | None:
        """The object under ``item.key`` if it is this task's completed upload."""
        remote = self.stat(item.key)
        if (remote is not None and remote.size == size and remote.job_uuid == item.job_uuid
                and remote.metadata.get(META_TASK) == str(item.task_id)):
            return remote
        return None

    def _put_multipart(self, item: TransferItem, src, ctx: TransferContext) -> UploadResult:
        size = src.size
        mp = ctx.multipart_state()
        server_parts: dict[int, tuple[int, str]] = {}
        upload_id = None
        part_size = self.part_size
        if mp is not None:
            try:
                server_parts = {p.part_number: (p.size, p.etag) for p in ctx.request(
                    f"listing the parts sent of {item.key}",
                    lambda: self.client.list_parts(self.bucket, item.key, mp.upload_id))}
                upload_id, part_size = mp.upload_id, mp.part_size
            except NoSuchUpload:
                ctx.multipart_forgotten()
                done = self._completed_by_us(item, size)
                if done is not None:  # completed by an earlier try whose end was not recorded
                    return self.adopt(item, done, ctx)
                log.info("multipart upload %s of %s is gone on the server; starting afresh",
                         mp.upload_id, item.key)
        part_size = max(part_size, math.ceil(size / MAX_PARTS))
        nparts = max(1, math.ceil(size / part_size))
        if upload_id is None:
            upload_id = self._create(item, part_size, ctx)

        pool = self._pool_get()
        futures: dict[int, Future] = {}
        md5s: dict[int, bytes] = {}
        failed: list[BaseException] = []
        etags_proven = [True]  # every part's ETag was its MD5 (not an ETag of another kind)

        def send(number: int, buf: bytearray, n: int, digest: bytes) -> str:
            def put_part() -> str:
                try:
                    etag = self.client.upload_part(self.bucket, item.key, upload_id, number,
                                                   memoryview(buf)[:n],
                                                   content_md5_b64=b64(digest),
                                                   on_chunk=ctx.sent)
                except NoSuchUpload:
                    raise Restart(f"the upload of {item.key} was aborted on the server") from None
                if is_md5(etag) and etag.lower() != digest.hex():
                    raise damaged(self.endpoint_url, self.bucket, item.key, etag, digest.hex(),
                                  part=number)
                return etag

            try:
                etag = ctx.request(f"part {number} of {nparts} of {item.key}", put_part)
                if not is_md5(etag):
                    etags_proven[0] = False
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
                    digest = md5(buf).digest()
                    if (have[1] or "").lower() != digest.hex():
                        if is_md5(have[1]):
                            self._abandon(item, upload_id, ctx)
                            raise Restart(f"part {number} on the server differs from the file "
                                          "now")
                        etags_proven[0] = False
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
                    digest = md5(buf).digest()
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
        except Restart:
            wait(list(futures.values()))
            ctx.multipart_forgotten()
            raise
        except BaseException:
            wait(list(futures.values()))  # never leave a part thread writing a released buffer
            raise

        parts = [(n, md5s[n].hex()) for n in range(1, nparts + 1)]
        composite = md5(b"".join(md5s[n] for n in range(1, nparts + 1))).hexdigest() + \
            f"-{nparts}"
        try:
            etag = self._complete(item, upload_id, parts, size, ctx)
        except PreconditionFailed:
            self._abandon(item, upload_id, ctx)
            remote = self.stat(item.key)
            if remote is None:
                raise
            return self._compare_existing(item, remote, size, checksum, None, composite, ctx)
        except NoSuchUpload:
            # completed by an earlier try whose answer was lost?
            remote = self._completed_by_us(item, size)
            if remote is None:
                ctx.multipart_forgotten()
                raise
            etag = remote.etag
        if (etag or "").lower() == composite:
            verified = Proof.ETAG_MULTIPART_MD5
        else:
            remote = self.stat(item.key)
            if remote is None or remote.size != size:
                raise VerificationError(
                    f"After completing the upload of {item.key} the server reports "
                    f"{remote.size if remote else 'no'} object of {size} bytes.")
            if etags_proven[0] or self.server_checks().content_md5:
                verified = proofs.both(Proof.PARTS_MD5, Proof.SIZE)
            else:  # neither the parts' ETags nor the server's checks prove the parts
                verified = self._reread(item.key, item.algorithm, checksum, size, ctx)
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified, etag=etag)

    def _create(self, item: TransferItem, part_size: int, ctx: TransferContext) -> str:
        """Begin the upload; its id is journaled before this returns (a marker covers the time
        in between)."""
        def create() -> tuple[str, str]:
            marker = self._pending.add(self.describe(), item.job_uuid, item.task_id, item.key)
            return self.client.create_multipart_upload(
                self.bucket, item.key, metadata={META_JOB: item.job_uuid,
                                                 META_TASK: str(item.task_id),
                                                 META_PART_SIZE: str(part_size)}), marker

        upload_id, marker = ctx.request(f"starting the upload of {item.key}", create)
        ctx.multipart_started(upload_id, part_size)  # journaled before the first part
        self._pending.remove(marker)
        return upload_id

    def _complete(self, item: TransferItem, upload_id: str, parts: list, size: int,
                  ctx: TransferContext) -> str:
        """CompleteMultipartUpload; a try after one whose answer was lost first looks whether
        that one went through (the object is ours) or the upload is still there to complete."""
        sent = [False]

        def complete() -> str:
            if sent[0]:
                done = self._completed_by_us(item, size)
                if done is not None:
                    log.info("the completion of %s went through; its answer was lost", item.key)
                    return done.etag
                self.client.list_parts(self.bucket, item.key, upload_id)  # NoSuchUpload: gone
            sent[0] = True
            return self.client.complete_multipart_upload(self.bucket, item.key, upload_id, parts,
                                                         if_none_match=True)

        return ctx.request(f"completing the upload of {item.key}", complete)

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

    def clean_unjournaled(self, prefix: str, job_uuid: str, journaled: set[str]) -> None:
        """Abort the uploads this job began without the journal learning their id: on a key
        one of its markers names, in progress, not journaled, without parts."""
        markers = self._pending.of_job(self.describe(), job_uuid)
        if not markers:
            return
        keys: dict[str | None, list[str]] = {}
        for name, key in markers:
            keys.setdefault(key, []).append(name)
        listing = prefix.rstrip("/") + "/" if prefix else ""
        try:
            uploads = self.client.list_multipart_uploads(self.bucket, listing)
        except NoSuchUpload:  # (rclone, for a bucket that never had an upload)
            uploads = []
        for u in uploads:
            if u.key not in keys or u.upload_id in journaled:
                continue
            try:
                if self.client.list_parts(self.bucket, u.key, u.upload_id):
                    continue  # parts were sent: not an upload whose id this job never had
                self.client.abort_multipart_upload(self.bucket, u.key, u.upload_id)
            except NoSuchUpload:
                continue  # gone meanwhile
            log.info("aborted multipart upload %s of %s: begun by job %s, whose journal never "
                     "got its id", u.upload_id, u.key, job_uuid)
        for names in keys.values():
            for name in names:
                self._pending.remove(name)
