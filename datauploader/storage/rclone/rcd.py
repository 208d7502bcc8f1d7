"""The ``rclone rcd`` process of an rclone storage, and calls to its remote-control API.

One ``rclone rcd`` per storage, started on first use on a random loopback port with a random
user and password (in its environment, not on its command line, where other local users could
read them), its version checked (``core/version``, at least 1.60). On close: ``core/quit``,
then SIGTERM, a bounded wait, then kill. On Linux it also gets SIGTERM if we die
(``PR_SET_PDEATHSIG``, tied to a thread that lives as long as it), so a killed upload leaves
no rclone behind. Calls go over the storage HTTP client (:mod:`datauploader.net.http`): one
kept-alive connection per thread; its failures are UnreachableError.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from datauploader.errors import UnreachableError, UserFacingError
from datauploader.net.http import Pool

MiB = 1 << 20
MIN_VERSION = (1, 60, 0)
HOST = "127.0.0.1"


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


class RcError(Exception):
    """An error answer from rcd."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Rcd:
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
        self._pool: Pool | None = None
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
            if self._pool is not None:
                self._pool.close()
            self._pool = Pool(f"rclone's remote control at {HOST}:{self.port}", self.port,
                              timeout=600, connect_timeout=10)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    info = self.call("core/version", {}, timeout=5)
                except (UnreachableError, RcError):
                    time.sleep(0.05)  # polling until it listens
                    continue
                self.version = check_version(info, self.binary)
                return
            self.stop()
        raise UserFacingError(f"rclone ({self.binary}) did not start its remote control"
                              + (f"; see {self.log_file}" if self.log_file else "") + ".")

    def _exchange(self, head: bytes, body: bytes | None, method: str, timeout: float,
                  on_data=None):
        pool = self._pool
        if pool is None:
            raise UnreachableError("rclone's remote control is not running.")
        conn = pool.get(HOST)
        conn.set_timeout(timeout)
        return pool.exchange(conn, lambda c: c.send_head(head, body), method, on_data=on_data)

    def call(self, method: str, params: dict, timeout: float = 600) -> dict:
        """POST ``params`` to ``/method``; its JSON answer, or RcError for an error answer.
        Connection failures are UnreachableError (the original as its cause)."""
        body = json.dumps(params).encode()
        head = (f"POST /{method} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Authorization: {self._auth}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        resp = self._exchange(head, body, "POST", timeout)
        data = resp.body
        try:
            out = json.loads(data or b"{}")
        except ValueError:
            out = {"error": data[:200].decode("utf-8", "replace")}
        if resp.status != 200:
            raise RcError(resp.status, str(out.get("error") or f"HTTP {resp.status}"))
        return out

    def get(self, path: str, on_data, timeout: float = 600) -> int:
        """GET a file served by rcd (--rc-serve) into ``on_data`` in pieces of at most 1 MiB;
        returns the HTTP status."""
        head = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Authorization: {self._auth}\r\n\r\n").encode("latin-1")
        return self._exchange(head, None, "GET", timeout, on_data).status

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
        if self._pool is not None:
            self._pool.close()  # (the next start makes a pool for its port)
