"""rclone storage: any remote the facility configured in rclone (S3, WebDAV, SFTP, SMB, Swift,
cloud drives…), driven through rclone's remote-control API, never by reading its
human-readable output.

* **The process.** One ``rclone rcd`` per storage, started on first use and stopped on close
  (:mod:`~datauploader.storage.rclone.rcd`); a killed upload leaves no rclone behind.
* **A file.** ``operations/copyfile`` from the local file (rclone reads it itself) while we
  read it once for our checksum and for the hash the remote can state. Large files run as
  ``_async`` jobs: ``core/stats`` bytes of the file's stats group are fed to ``ctx.sent``
  every 200 ms (progress, pause at file boundaries), the job's bandwidth limit is handed to
  rcd (``core/bwlimit``, as its timetable changes), and a cancel is
  ``job/stop`` followed by a bounded wait. Small files are hashed first and copied with one
  synchronous call.
* **Never overwrite.** The job lists its prefix first, and rcd runs with
  ``--ignore-existing``: its single-file copy and move never write over an existing name
  (``--immutable`` would not do: it guards only sync and copy, not these operations; rclone
  checks the name just before writing, a small window). Where the remote moves files on the
  server (WebDAV, SFTP, SMB…) the file goes to our temporary name first and is moved into
  place once verified, so an interrupted upload never leaves a partial file under the real
  name. A copy or move that rclone skipped (its stats show none: the name was taken) is
  proven identical by hash or by reading it back, or refused.
* **Verification.** ``operations/stat`` with ``showHash`` for a hash the remote supports and
  we compute (the job's algorithm, else md5, sha1, sha256, crc32), compared with ours;
  otherwise the size. ``adopt`` and ``read_checksum`` read the object back through rcd
  (``--rc-serve``) when there is no common hash.
* **Configuration.** ``remote = name:path``, from the facility's ``rclone.conf``
  (``rclone_config``; its password, if it is encrypted, from the OS keyring or
  ``RCLONE_CONFIG_PASS``), or defined inline (``remote_settings = type=webdav url=…``, passed
  as ``RCLONE_CONFIG_<NAME>_<KEY>``; secrets are refused there: give them as such variables
  in the environment, or use the rclone.conf).
* **Errors.** rclone's rc answers carry only a message, so it is sorted into our error
  classes by a few well-known phrases (:mod:`~datauploader.storage.rclone.errors`).
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
import time
import uuid
from urllib.parse import quote

from datauploader import proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (CancelledError, ConfigError, FileError, RemoteExistsError,
                                 TransientError, UnreachableError, VerificationError)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.rclone.errors import rclone_error
from datauploader.storage.rclone.rcd import Rcd, RcError, find_rclone
from datauploader.storage.tempnames import is_temp, temp_name

log = logging.getLogger(__name__)

MiB = 1 << 20
ASYNC_FROM = 8 * MiB  # smaller files: one synchronous copyfile call
POLL = 0.2  # seconds between progress polls of a running copy
STOP_WAIT = 10.0  # seconds a stopped job gets to wind down
COMPARABLE = ("md5", "sha1", "sha256", "crc32")  # rclone hashes we can compute too
SECRET_HINTS = ("pass", "secret", "token", "key_pem", "private_key", "client_key")


def parse_remote_settings(text: str, section: str) -> dict[str, str]:
    """``type=webdav url=https://… vendor=nextcloud`` → {key: value}; secrets are refused."""
    out = {}
    try:
        words = shlex.split(text or "")
    except ValueError as e:
        raise ConfigError(f"the value cannot be split into key=value words ({e}).",
                          section=f"storage:{section}", key="remote_settings") from None
    for w in words:
        key, sep, value = w.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"'{w}' is not key=value.", section=f"storage:{section}",
                              key="remote_settings")
        if any(h in key for h in SECRET_HINTS):
            raise ConfigError(
                f"'{key}' is a secret and does not belong in a configuration file; set it in the "
                f"environment as RCLONE_CONFIG_<REMOTE>_{key.upper()} (rclone's obscured form "
                "for passwords), or use the facility's rclone.conf.",
                section=f"storage:{section}", key="remote_settings")
        out[key] = value
    return out


class RcloneStorage(StorageBackend):
    kind = "rclone"
    OPTIONS = (
        Option("remote", "the rclone remote and folder that receive the files, as "
               "name:path (e.g. facility:raw/beamline1)", required=True),
        Option("prefix", "template of the folder for each dataset under 'remote'",
               default="{proposal}/{dataset}"),
        Option("rclone_config", "the facility's rclone.conf (default: rclone's own default "
               "file); if it is encrypted, its password comes from the OS keyring or "
               "RCLONE_CONFIG_PASS", default=""),
        Option("remote_settings", "the remote defined here instead, as rclone settings: "
               "'type=webdav url=https://… vendor=nextcloud user=jdoe' (secrets go in the "
               "environment as RCLONE_CONFIG_<NAME>_<KEY>)", default=""),
        Option("rclone_path", "the rclone program (default: the one shipped with DataUploader, "
               "else the one on PATH); version 1.60 or later", default=""),
        Option("rclone_flags", "extra flags for rclone, e.g. '--bwlimit 10M' or "
               "'--webdav-pacer-min-sleep 0'", default=""),
        Option("verify", "auto: a hash the remote states where it has one we compute, else "
               "the size; size: size only", default="auto", choices=("auto", "size")),
        Option("names", "file-name rules of the remote: portable (valid everywhere), posix, "
               "windows or s3", default="portable", choices=("posix", "windows", "portable",
                                                             "s3")),
    )

    def __init__(self, remote: str, prefix: str = "{proposal}/{dataset}", rclone_config: str = "",
                 remote_settings: str = "", rclone_path: str = "", rclone_flags: str = "",
                 verify: str = "auto", names: str = "portable", env=None,
                 log_file: str | None = None, storage_name: str | None = None,
                 config_password: str | None = None):
        name, sep, _ = remote.partition(":")
        section = storage_name or "STORAGE"
        if not sep:
            raise ConfigError("write the remote as name:path (e.g. facility:raw), with the "
                              "name of a remote in the rclone configuration.",
                              section=f"storage:{section}", key="remote")
        self.remote = remote
        self.prefix_template = prefix
        self.name_rules = RULES[names]
        self.verify_mode = verify
        self.storage_name = section
        env = dict(os.environ if env is None else env)
        self.binary = find_rclone(rclone_path, env)
        run_env = {k: v for k, v in env.items() if not k.startswith("DATAUPLOADER_")}
        settings = parse_remote_settings(remote_settings, section)
        if settings:
            if not name or not name.replace("_", "").isalnum():
                raise ConfigError("with remote_settings, the remote's name (before the colon) "
                                  "may only have letters, digits and _.",
                                  section=f"storage:{section}", key="remote")
            for k, v in settings.items():
                run_env[f"RCLONE_CONFIG_{name.upper()}_{k.upper()}"] = v
        if config_password and "RCLONE_CONFIG_PASS" not in run_env:
            run_env["RCLONE_CONFIG_PASS"] = config_password
        args = ["--rc-serve", "--ignore-existing", "--ask-password=false", "--use-json-log",
                "--log-level", "NOTICE"]
        if rclone_config:
            args += ["--config", os.path.expanduser(rclone_config)]
        try:
            args += shlex.split(rclone_flags or "")
        except ValueError as e:
            raise ConfigError(f"the flags cannot be split into words ({e}).",
                              section=f"storage:{section}", key="rclone_flags") from None
        self._rcd_proc = Rcd(self.binary, args, run_env, log_file)
        self._lock = threading.Lock()
        self._bw_lock = threading.Lock()
        self._bw: tuple = (None, None)  # (rcd process, the limit it was given)
        self._info: dict | None = None  # operations/fsinfo: hashes, features

    @classmethod
    def secret_slot(cls, options: dict, section: str) -> SecretSlot | None:
        """The password of an encrypted rclone configuration, if one is named."""
        if not options.get("rclone_config"):
            return None
        conf = os.path.abspath(os.path.expanduser(options["rclone_config"]))
        return SecretSlot(keyring_service("rclone", conf), "rclone.conf",
                          f"Password of the rclone configuration {conf}",
                          f"the rclone configuration {conf}")

    @classmethod
    def from_config(cls, options: dict, ctx) -> "RcloneStorage":
        options = dict(options)
        password = None
        slot = cls.secret_slot(options, ctx.section)
        if slot is not None:
            password = ctx.secrets.get(slot.service, slot.user)
        log_file = os.path.join(ctx.paths.log_dir, f"rclone-{ctx.section}.log")
        return cls(**options, env=ctx.env, log_file=log_file, storage_name=ctx.section,
                   config_password=password)

    # -- the rcd process --------------------------------------------------------------------
    def _rcd(self) -> Rcd:
        with self._lock:
            if not self._rcd_proc.alive:
                if self._rcd_proc.proc is not None:
                    log.warning("rclone rcd ended unexpectedly; starting it again")
                    self._rcd_proc.stop(polite=False)
                self._rcd_proc.start()
            return self._rcd_proc

    def _call(self, method: str, params: dict, timeout: float = 600, doing: str = "",
              not_found_ok: bool = False) -> dict | None:
        rcd = self._rcd()
        try:
            return rcd.call(method, params, timeout)
        except RcError as e:
            if not_found_ok and e.status == 404:
                return None
            raise self._error(e.message, doing) from None
        except UnreachableError as e:
            raw = e.__cause__ or e  # (what the connection said)
            if not rcd.alive:
                raise TransientError(f"rclone stopped while {doing}; it will be restarted and "
                                     "the file retried.", details=str(raw)) from raw
            raise TransientError(f"rclone did not answer while {doing} ({raw}); it will be "
                                 "retried.", details=str(raw)) from raw

    def _error(self, message: str, doing: str) -> Exception:
        return rclone_error(message, doing, self.remote, self.storage_name)

    def close(self) -> None:
        with self._lock:
            self._rcd_proc.stop()

    # -- helpers ----------------------------------------------------------------------------
    def _fsinfo(self) -> dict:
        if self._info is None:
            self._info = self._call("operations/fsinfo", {"fs": self.remote}, timeout=120,
                                    doing="asking what the remote supports") or {}
        return self._info

    def _hash(self) -> str | None:
        """The remote's hash we compute too (None: the remote states none we know)."""
        offered = [h.lower() for h in self._fsinfo().get("Hashes") or []]
        return next((h for h in COMPARABLE if h in offered), None)

    def _served_path(self, key: str) -> str:
        return "/[" + quote(self.remote, safe=":@/") + "]/" + "/".join(
            quote(p, safe="") for p in key.split("/") if p)

    def _read_back(self, key: str, algorithm: str, cancel) -> tuple[str, int]:
        take = HashingSink(algorithm, cancel)
        rcd = self._rcd()
        try:
            status = rcd.get(self._served_path(key), take)
        except UnreachableError as e:
            raw = e.__cause__ or e
            raise TransientError(f"Reading {key} back through rclone failed ({raw}); it will be "
                                 "retried.") from raw
        if status != 200:
            raise FileError(f"rclone could not read {key} back from {self.remote} "
                            f"(HTTP {status}).")
        return take.result()

    def _remote_item(self, key: str, hash_type: str | None) -> dict | None:
        opt = {"showHash": bool(hash_type), "hashTypes": [hash_type] if hash_type else []}
        out = self._call("operations/stat", {"fs": self.remote, "remote": key, "opt": opt},
                         timeout=3600, doing=f"checking {key}", not_found_ok=True)
        return (out or {}).get("item")

    @staticmethod
    def _stated_hash(item: dict, hash_type: str | None) -> str | None:
        if not hash_type:
            return None
        value = ((item.get("Hashes") or {}).get(hash_type) or "").lower()
        if hash_type == "crc32" and value:
            value = value.rjust(8, "0")
        return value or None

    # -- StorageBackend ---------------------------------------------------------------------
    def describe(self) -> str:
        return f"rclone {self.remote}"

    def location(self, key: str) -> str:
        sep = "" if self.remote.endswith((":", "/")) else "/"
        return f"{self.remote}{sep}{key}"

    def check(self) -> None:
        out = self._call("operations/list", {"fs": self.remote, "remote": "",
                                             "opt": {"dirsOnly": True}},
                         timeout=120, doing="opening the remote", not_found_ok=True)
        if out is None:
            # a fresh folder (on bucket-based remotes a prefix exists only once it holds
            # objects): make it; that overwrites nothing
            self._call("operations/mkdir", {"fs": self.remote, "remote": ""}, timeout=120,
                       doing="creating the remote's folder")

    def existing(self, prefix: str) -> dict[str, RemoteObject]:
        out = self._call("operations/list", {
            "fs": self.remote, "remote": prefix.strip("/"),
            "opt": {"recurse": True, "filesOnly": True, "noModTime": True, "noMimeType": True}},
            timeout=3600, doing="listing the dataset's folder", not_found_ok=True)
        found = {}
        for entry in (out or {}).get("list") or []:
            key = entry["Path"]
            if not is_temp(entry.get("Name") or key.rpartition("/")[2]):
                found[key] = RemoteObject(key=key, size=int(entry.get("Size") or 0))
        return found

    def stat(self, key: str) -> RemoteObject | None:
        item = self._remote_item(key, None)
        if item is None or item.get("IsDir"):
            return None
        return RemoteObject(key=key, size=int(item.get("Size") or 0))

    def read_checksum(self, key: str, algorithm: str,
                      cancel: threading.Event | None = None) -> tuple[str, int]:
        return self._read_back(key, algorithm, cancel)

    def _uses_temp(self) -> bool:
        """Upload to our temporary name, then move? Yes where the remote moves on the server
        (WebDAV, SFTP, SMB, local…): there an interrupted upload can leave a partial file
        under its name, which would then block that name. Bucket-based remotes (S3, Swift…)
        write objects atomically (and "move" by copying), so they get the real name."""
        features = self._fsinfo().get("Features") or {}
        return bool(features.get("Move")) and not features.get("BucketBased")

    def upload(self, item: TransferItem, ctx: TransferContext) -> UploadResult:
        hash_type = self._hash() if self.verify_mode == "auto" else None
        via_temp = self._uses_temp()
        dest = temp_name(item) if via_temp else item.key
        for attempt in (0, 1):
            try:
                stats, size, checksum, want = self._send(item, ctx, dest, hash_type)
            except RemoteExistsError:
                if not via_temp or attempt:
                    raise
                self._delete(dest)  # an old temporary file of ours that differs: replace it
                continue
            if stats.get("transfers"):
                break
            if not via_temp:
                # the name existed and looked the same to rclone: prove it or refuse
                remote = self.stat(item.key)
                if remote is None:
                    raise VerificationError(f"rclone reported no transfer of {item.key} and the "
                                            "file is not on the remote.")
                return self.adopt(item, remote, ctx)
            self._delete(dest)  # an old temporary file of ours that rclone took as this one
        else:
            raise VerificationError(f"rclone did not upload {item.key} to its temporary name.")
        verified = self._verify(dest, size, hash_type, want)
        if via_temp and not self._move_into_place(dest, item.key):
            # the name appeared meanwhile with what rclone took for the same content: prove it
            remote = self.stat(item.key)
            if remote is None:
                raise VerificationError(f"{self.location(item.key)} is not on the remote after "
                                        "moving it into place.")
            return self.adopt(item, remote, ctx)
        return UploadResult(size=size, checksum=checksum, location=self.location(item.key),
                            verified_by=verified)

    def _send(self, item: TransferItem, ctx: TransferContext, dest: str, hash_type):
        """Copy the file to ``dest``, reading it once ourselves: (stats, size, checksum, the
        hash to compare with the remote's)."""
        group = f"du-{uuid.uuid4().hex[:16]}"
        path = os.path.abspath(item.path)
        params = {"srcFs": ":local:" + os.path.dirname(path), "srcRemote": os.path.basename(path),
                  "dstFs": self.remote, "dstRemote": dest, "_group": group}
        try:
            with ctx.open_source(item) as src:
                size = src.size
                extra = new_hasher(hash_type) if hash_type and hash_type != item.algorithm else None
                if size < ASYNC_FROM:
                    # hashed first: a file that changes is never sent
                    self._hash_file(src, extra, ctx.cancel, None)
                    checksum = src.finish()
                    ctx.sent(0)  # pause and cancel before it starts
                    self._apply_bwlimit(ctx)
                    self._call("operations/copyfile", params, timeout=3600,
                               doing=f"uploading {item.key}")
                    stats = self._call("core/stats", {"group": group}, timeout=60,
                                       doing="reading the progress") or {}
                    ctx.sent(int(stats.get("bytes") or 0))  # what rclone really sent
                else:
                    stats, checksum = self._copy_async(params, group, src, extra, ctx, item)
        finally:
            self._forget_group(group)
        want = checksum if hash_type == item.algorithm else (extra.hexdigest() if extra else None)
        return stats, size, checksum, want

    def _apply_bwlimit(self, ctx: TransferContext) -> None:
        """Hand the job's bandwidth limit to rcd, which moves the bytes (``core/bwlimit``:
        one limit for all its transfers, as the job's limit is for all its workers); only
        when it changed, or rcd was restarted."""
        rate = ctx.bandwidth_limit()
        rcd = self._rcd()
        with self._bw_lock:
            given = self._bw[1] if self._bw[0] is rcd.proc else None
            if rate == given:
                return  # (no job limit, none given: a --bwlimit in rclone_flags stays)
            self._call("core/bwlimit", {"rate": f"{int(rate)}B" if rate else "off"},
                       timeout=30, doing="setting the bandwidth limit")
            self._bw = (rcd.proc, rate)

    def _forget_group(self, group: str) -> None:
        try:
            self._rcd().call("core/stats-delete", {"group": group}, timeout=30)
        except Exception:  # noqa: BLE001 - only memory in rcd
            pass

    def _delete(self, key: str) -> None:
        """Delete one of OUR temporary files (never called with another name)."""
        self._call("operations/deletefile", {"fs": self.remote, "remote": key}, timeout=600,
                   doing=f"removing the temporary file {key}", not_found_ok=True)

    def _move_into_place(self, temp: str, key: str) -> bool:
        """Server-side move; False if rclone found the name taken by what it considers the
        same content (then it dropped our copy instead of replacing theirs)."""
        group = f"du-{uuid.uuid4().hex[:16]}"
        try:
            self._call("operations/movefile", {"srcFs": self.remote, "srcRemote": temp,
                                               "dstFs": self.remote, "dstRemote": key,
                                               "_group": group},
                       timeout=3600, doing=f"moving {key} into place")
            stats = self._call("core/stats", {"group": group}, timeout=60,
                               doing="reading the progress") or {}
        except RemoteExistsError:
            raise RemoteExistsError(f"{self.location(key)} appeared while it was being "
                                    "uploaded; it was not overwritten.") from None
        finally:
            self._forget_group(group)
        return any(stats.get(k) for k in ("renames", "serverSideMoves", "transfers"))

    def _hash_file(self, src, extra, cancel, tick) -> None:
        buf = bytearray(MiB)
        view = memoryview(buf)
        last = time.monotonic()
        while True:
            n = src.readinto(buf)
            if not n:
                return
            if extra is not None:
                extra.update(view[:n])
            if cancel.is_set():
                raise CancelledError()
            if tick is not None and time.monotonic() - last >= POLL:
                tick()
                last = time.monotonic()

    def _copy_async(self, params, group, src, extra, ctx, item):
        job = self._call("operations/copyfile", {**params, "_async": True}, timeout=60,
                         doing=f"starting the upload of {item.key}")["jobid"]
        reported = [0]

        def progress() -> dict:
            self._apply_bwlimit(ctx)  # (a timetable may change the limit mid-file)
            stats = self._call("core/stats", {"group": group}, timeout=60,
                               doing="reading the progress") or {}
            done = int(stats.get("bytes") or 0)
            if done > reported[0]:
                delta, reported[0] = done - reported[0], done
                ctx.sent(delta)  # throttle, progress, pause; raises CancelledError
            return stats

        try:
            # our checksum, read while rclone copies (the page cache serves the second reader)
            self._hash_file(src, extra, ctx.cancel, progress)
            checksum = src.finish()
            while True:
                status = self._call("job/status", {"jobid": job}, timeout=60,
                                    doing="following the upload")
                stats = progress()
                if status.get("finished"):
                    break
                if ctx.cancel.wait(POLL):
                    raise CancelledError()
        except BaseException:
            self._stop_job(job)
            raise
        if not status.get("success"):
            raise self._error(status.get("error") or "unknown error", f"uploading {item.key}")
        return stats, checksum

    def _stop_job(self, job: int) -> None:
        """job/stop and a bounded wait; an rcd that does not let go is restarted."""
        try:
            rcd = self._rcd()
            rcd.call("job/stop", {"jobid": job}, timeout=10)
            deadline = time.monotonic() + STOP_WAIT
            while time.monotonic() < deadline:
                if rcd.call("job/status", {"jobid": job}, timeout=10).get("finished"):
                    return
                time.sleep(0.05)
            log.warning("rclone job %s did not stop in %ss; restarting rclone", job, STOP_WAIT)
            with self._lock:
                self._rcd_proc.stop()
        except Exception:  # noqa: BLE001 - rcd already gone: nothing is running
            log.debug("stopping rclone job %s", job, exc_info=True)

    def _verify(self, key: str, size: int, hash_type: str | None, want: str | None) -> str:
        item = self._remote_item(key, hash_type)
        if item is None:
            raise VerificationError(f"After uploading, {self.location(key)} is not on the remote.")
        remote_size = int(item.get("Size") or 0)
        if remote_size != size and remote_size >= 0:
            raise VerificationError(f"After uploading, the remote reports {remote_size} bytes "
                                    f"for {self.location(key)}, {size} were sent.")
        stated = self._stated_hash(item, hash_type)
        if stated and want:
            if stated != want:
                raise VerificationError(f"After uploading, the remote's {hash_type} of "
                                        f"{self.location(key)} is {stated}, {want} was sent.")
            return proofs.both(Proof.SIZE, proofs.remote_hash(hash_type))
        return Proof.SIZE

    def adopt(self, item: TransferItem, remote: RemoteObject, ctx: TransferContext) -> UploadResult:
        where = self.location(item.key)
        hash_type = self._hash()
        with ctx.open_source(item) as src:
            extra = new_hasher(hash_type) if hash_type and hash_type != item.algorithm else None
            self._hash_file(src, extra, ctx.cancel, None)
            checksum = src.finish()
            size = src.read_bytes
        if remote.size != size:
            raise other_content(where, f"{remote.size} bytes, the local file has {size}")
        want = checksum if hash_type == item.algorithm else (extra.hexdigest() if extra else None)
        stated = None
        if hash_type:
            found = self._remote_item(item.key, hash_type)
            stated = self._stated_hash(found or {}, hash_type)
        if stated and want:
            if stated != want:
                raise other_content(where, f"its {hash_type} differs")
            how = proofs.remote_hash(hash_type)
        else:
            got, n = self._read_back(item.key, item.algorithm, ctx.cancel)
            if (got, n) != (checksum, size):
                raise other_content(where, f"its {item.algorithm} differs")
            how = proofs.reread(item.algorithm)
        return UploadResult(size=size, checksum=checksum, location=where,
                            verified_by=proofs.already_present(how), skipped=True)

    def cleanup_task(self, item: TransferItem, ctx: TransferContext) -> None:
        if self._uses_temp():
            self._delete(temp_name(item))
