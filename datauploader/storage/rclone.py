"""rclone storage: any remote the facility configured in rclone (S3, WebDAV, SFTP, SMB, Swift,
cloud drives…), driven through rclone's remote-control API, never by reading its
human-readable output.

* **The process.** One ``rclone rcd`` per storage, started on first use on a random loopback
  port with a random user and password (in its environment, not on its command line, where
  other local users could read them), its version checked (``core/version``, at least
  1.60). On close: ``core/quit``, then SIGTERM, a bounded wait, then kill. On Linux it also
  gets SIGTERM if we die (``PR_SET_PDEATHSIG``, tied to a thread that lives as long as it),
  so a killed upload leaves no rclone behind.
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
  classes by a few well-known phrases, in one function (``classify_rclone_error``).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import secrets as _secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote

from datauploader import proofs
from datauploader.checksums import HashingSink, new_hasher
from datauploader.errors import (AuthError, CancelledError, ConfigError, FileChangedError,
                                 FileError, PermissionDeniedError, RemoteExistsError,
                                 StorageFullError, TransientError, UnreachableError,
                                 UserFacingError, VerificationError)
from datauploader.names import RULES
from datauploader.options import Option, SecretSlot, keyring_service
from datauploader.proofs import Proof
from datauploader.storage.base import (RemoteObject, StorageBackend, TransferContext, TransferItem,
                                       UploadResult, other_content)
from datauploader.storage.tempnames import is_temp, temp_name

log = logging.getLogger(__name__)

MiB = 1 << 20
MIN_VERSION = (1, 60, 0)
ASYNC_FROM = 8 * MiB  # smaller files: one synchronous copyfile call
POLL = 0.2  # seconds between progress polls of a running copy
STOP_WAIT = 10.0  # seconds a stopped job gets to wind down
COMPARABLE = ("md5", "sha1", "sha256", "crc32")  # rclone hashes we can compute too
SECRET_HINTS = ("pass", "secret", "token", "key_pem", "private_key", "client_key")


def check_version(info: dict, binary: str) -> tuple[int, ...]:
    """The version from ``core/version``; raise a plain error if it is too old."""
    parts = tuple(int(x) for x in (info.get("decomposed") or [0, 0, 0])[:3])
    if parts < MIN_VERSION:
        raise UserFacingError(
            f"The rclone at {binary} is version {info.get('version', '?')}; DataUploader needs "
            f"rclone {'.'.join(map(str, MIN_VERSION[:2]))} or later. Install a newer rclone "
            "(https://rclone.org/install/) or point rclone_path at one.")
    return parts


def find_rclone(configured: str = "", env=None) -> str:
    """The configured binary, else the one shipped next to our interpreter (the installer's
    or the venv's), else the one on PATH."""
    exe = "rclone.exe" if os.name == "nt" else "rclone"
    if configured:
        path = os.path.expanduser(configured)
        if os.path.isdir(path):
            path = os.path.join(path, exe)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise UserFacingError(f"rclone_path points to {configured}, which is not an rclone "
                              "program; fix rclone_path in the storage configuration.")
    beside = os.path.join(os.path.dirname(sys.executable), exe)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(exe, path=(env or os.environ).get("PATH"))
    if found:
        return found
    raise UserFacingError("rclone was not found (neither next to DataUploader nor on the PATH). "
                          "Install it (https://rclone.org/install/) or set rclone_path in the "
                          "storage configuration.")


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


_PHRASES = (  # (error class, phrases in lower case) — first match wins
    ("changed", ("source file is being updated", "can't copy - source file is being updated")),
    ("exists", ("immutable file modified",)),
    ("hostkey", ("knownhosts", "host key")),
    ("full", ("no space left", "quota", "insufficient storage", "507 ")),
    ("config", ("couldn't decrypt", "unable to decrypt", "config file is encrypted",
                "didn't find section in config", "failed to create file system")),
    ("auth", ("401", "unauthorized", "unable to authenticate", "authentication failed",
              "invalidaccesskeyid", "signaturedoesnotmatch", "invalid_grant",
              "token expired", "login failed")),
    ("denied", ("403", "forbidden", "permission denied", "access denied", "accessdenied")),
    ("unreachable", ("connection refused", "no such host", "i/o timeout", "network is unreachable",
                     "no route to host", "connection reset", "broken pipe", "tls handshake timeout",
                     "context deadline exceeded", "eof")),
)


def classify_rclone_error(message: str) -> str:
    """One of changed, exists, hostkey, full, config, auth, denied, unreachable, other."""
    m = (message or "").lower()
    for kind, phrases in _PHRASES:
        if any(p in m for p in phrases):
            if kind == "config" and "failed to create file system" in m:
                # wraps the real reason: look again without it
                inner = classify_rclone_error(m.replace("failed to create file system", ""))
                return inner if inner != "other" else "config"
            return kind
    return "other"


class RcError(Exception):
    """An error answer from rcd."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Rcd:
    """One ``rclone rcd`` child process and HTTP calls to it."""

    def __init__(self, binary: str, args: list[str], env: dict, log_file: str | None,
                 start_timeout: float = 30.0):
        self.binary = binary
        self.args = args
        self.env = env
        self.log_file = log_file
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._auth = ""
        self._local = threading.local()
        self.version: tuple[int, ...] = ()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, cmd: list[str], env: dict) -> subprocess.Popen:
        """Start rcd from a thread that lives as long as it (PDEATHSIG is per thread)."""
        box: dict = {}
        ready = threading.Event()
        preexec = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

                def preexec():
                    prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                preexec = None
        log_target = subprocess.DEVNULL
        if self.log_file:
            os.makedirs(os.path.dirname(self.log_file), exist_ok=True)
            log_target = open(self.log_file, "ab")

        def run():
            try:
                box["proc"] = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.DEVNULL, stdout=log_target,
                    stderr=log_target, preexec_fn=preexec,
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            except OSError as e:
                box["error"] = e
                ready.set()
                return
            finally:
                if log_target is not subprocess.DEVNULL:
                    log_target.close()
            ready.set()
            box["proc"].wait()

        threading.Thread(target=run, name="rclone-rcd", daemon=True).start()
        ready.wait()
        if "error" in box:
            raise UserFacingError(f"rclone ({self.binary}) could not be started: "
                                  f"{box['error']}.") from box["error"]
        return box["proc"]

    def start(self) -> None:
        user, password = "du", _secrets.token_urlsafe(24)
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        env = dict(self.env, RCLONE_RC_USER=user, RCLONE_RC_PASS=password)
        for _ in range(3):
            with socket.socket() as s:  # a port that was free a moment ago
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            cmd = [self.binary, "rcd", "--rc-addr", f"127.0.0.1:{self.port}", *self.args]
            self.proc = self._spawn(cmd, env)
            self._local = threading.local()
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    info = self.call("core/version", {}, timeout=5)
                except (OSError, http.client.HTTPException, RcError):
                    time.sleep(0.05)  # polling until it listens
                    continue
                self.version = check_version(info, self.binary)
                return
            self.stop()
        raise UserFacingError(f"rclone ({self.binary}) did not start its remote control"
                              + (f"; see {self.log_file}" if self.log_file else "") + ".")

    def _conn(self, timeout: float) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.port != self.port:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                 timeout=timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def call(self, method: str, params: dict, timeout: float = 600) -> dict:
        body = json.dumps(params).encode()
        for attempt in (0, 1):
            conn = self._conn(timeout)
            try:
                conn.request("POST", "/" + method, body,
                             {"Authorization": self._auth, "Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                conn.close()
                if attempt:
                    raise
            except BaseException:
                conn.close()
                raise
        try:
            out = json.loads(data or b"{}")
        except ValueError:
            out = {"error": data[:200].decode("utf-8", "replace")}
        if resp.status != 200:
            raise RcError(resp.status, str(out.get("error") or f"HTTP {resp.status}"))
        return out

    def get(self, path: str, on_data, timeout: float = 600) -> int:
        """GET a file served by rcd (--rc-serve); returns the HTTP status."""
        conn = self._conn(timeout)
        try:
            conn.request("GET", path, headers={"Authorization": self._auth})
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read()
                return resp.status
            buf = bytearray(MiB)
            mv = memoryview(buf)
            while True:
                n = resp.readinto(mv)
                if not n:
                    return 200
                on_data(mv[:n])
        except BaseException:
            conn.close()
            raise

    def stop(self, polite: bool = True) -> None:
        """core/quit, then SIGTERM, a bounded wait, then kill."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if polite and proc.poll() is None:
            try:
                self.proc = proc
                self.call("core/quit", {}, timeout=2)
            except Exception:  # noqa: BLE001 - it may already be gone
                pass
            finally:
                self.proc = None
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


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
        self._rcd_proc = _Rcd(self.binary, args, run_env, log_file)
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
    def _rcd(self) -> _Rcd:
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
        except (OSError, http.client.HTTPException) as e:
            if not rcd.alive:
                raise TransientError(f"rclone stopped while {doing}; it will be restarted and "
                                     "the file retried.", details=str(e)) from e
            raise TransientError(f"rclone did not answer while {doing} ({e}); it will be "
                                 "retried.", details=str(e)) from e

    def _error(self, message: str, doing: str) -> Exception:
        kind = classify_rclone_error(message)
        where = f"the rclone remote {self.remote}"
        said = message.strip()
        if kind == "changed":
            return FileChangedError(f"The file changed while rclone was {doing}: it is probably "
                                    "still being written. Resume the job once it is complete.",
                                    details=said)
        if kind == "exists":
            return RemoteExistsError(f"{doing.capitalize()}: the file exists on {where} with "
                                     "other content; it was not overwritten.", details=said)
        if kind == "hostkey":
            return AuthError(f"rclone refused the SSH host key of {where} ({said}). Check the "
                             "remote's known_hosts_file with your facility.", details=said)
        if kind == "full":
            return StorageFullError(f"{where} has no space left (or the quota is used up) "
                                    f"while {doing}.", details=said)
        if kind == "config":
            return UserFacingError(
                f"rclone cannot use the remote {self.remote} ({said}). Check the remote's name "
                "and rclone_config; an encrypted rclone.conf needs its password ('datauploader "
                f"credentials set {self.storage_name}' or RCLONE_CONFIG_PASS).", details=said)
        if kind == "auth":
            return AuthError(f"{where} refused rclone's credentials ({said}). Check the "
                             "remote's settings and secrets.", details=said)
        if kind == "denied":
            return PermissionDeniedError(f"{where} denied {doing} ({said}).", details=said)
        if kind == "unreachable":
            return UnreachableError(f"rclone cannot reach {where} ({said}); the job can be "
                                    "resumed.", details=said)
        return TransientError(f"rclone failed while {doing} on {where}: {said}", details=said)

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
        except (OSError, http.client.HTTPException) as e:
            raise TransientError(f"Reading {key} back through rclone failed ({e}); it will be "
                                 "retried.") from e
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
