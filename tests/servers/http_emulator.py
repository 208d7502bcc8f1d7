"""A tiny HTTP/1.1 server for protocol emulators, and a handle that runs one as a separate
process on a free loopback port.

Server side (in the emulator process): subclass ``Emulator``, register routes with
``@route(method, "/path/{param}")``, and call ``main(EmulatorClass)``. Requests keep their
connections alive (HTTP/1.1), chunked request bodies are understood (python-icat's IDS client
sends them), and every answer carries a Content-Length. A body cut short (the connection
closed before its Content-Length, or before the last chunk) is a failed request, as in a real
servlet container: it is never dispatched, only logged (``"truncated": true``).

Test-only control endpoints, under ``/__control/``, common to every emulator:

* ``GET  ready``                       200 once the server answers
* ``POST fault`` ``{"method", "path", "status", "count", "after", "body", "lose_answer"}``:
  the next ``count`` matching calls (after skipping ``after`` of them) answer ``status`` with
  ``body`` without being processed, or, with ``lose_answer``, are processed and then the
  connection is closed without an answer (a reply lost on the way back);
* ``GET  log``                          the calls seen so far (method, path, status);
* ``POST clock`` ``{"advance": s}``     move the emulator's clock forward;
* ``POST reset``                        back to the seed state (subclasses extend ``reset``).

Client side (tests): ``EmulatorProcess(module, workdir, args).start()`` →
``.url``, ``.control(name, **json)``, ``.stop()``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers.rclone_s3 import free_port

CONTROL = "/__control/"


# ---------------------------------------------------------------------------- server side
@dataclass
class Request:
    method: str
    raw_path: str
    segments: list[str]  # percent-decoded, split on the raw '/' first (an encoded %2F stays in)
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"),
                                             keep_blank_values=True).items()}

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    lose: bool = False  # processed, but the connection is dropped instead of answering

    @classmethod
    def json(cls, value, status: int = 200) -> "Response":
        return cls(status, json.dumps(value).encode("utf-8"))

    @classmethod
    def text(cls, value: str, status: int = 200) -> "Response":
        return cls(status, value.encode("utf-8"), "text/plain")


def route(method: str, pattern: str):
    def mark(fn):
        fn._route = (method, pattern)
        return fn
    return mark


class Emulator:
    """Base of an emulator application: routing, faults, call log, clock."""

    #: static path segments compare case-insensitively (Express routing)
    case_insensitive = False

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.lock = threading.RLock()
        self.routes: list[tuple[str, list[str], object]] = []
        for name in dir(type(self)):
            fn = getattr(self, name)
            spec = getattr(fn, "_route", None)
            if spec:
                self.routes.append((spec[0], spec[1].strip("/").split("/"), fn))
        self.faults: list[dict] = []
        self.calls: list[dict] = []
        self.clock_offset = 0.0
        self.reset()

    # -- overridable ------------------------------------------------------------------------
    def reset(self) -> None:
        self.faults = []
        self.calls = []

    def not_found(self, req: Request) -> Response:
        return Response.json({"message": "not found"}, 404)

    def now(self) -> float:
        return time.time() + self.clock_offset

    # -- dispatch ---------------------------------------------------------------------------
    def match(self, req: Request):
        """The matching route with the most literal segments (``/auth/logout`` before
        ``/auth/{kind}``), and its parameters."""
        best, best_score = (None, None), -1
        for method, parts, fn in self.routes:
            if method != req.method or len(parts) != len(req.segments):
                continue
            params, score = {}, 0
            for p, s in zip(parts, req.segments):
                if p.startswith("{") and p.endswith("}"):
                    params[p[1:-1]] = s
                elif (p.lower() != s.lower()) if self.case_insensitive else (p != s):
                    break
                else:
                    score += 1
            else:
                if score > best_score:
                    best, best_score = (fn, params), score
        return best

    def dispatch(self, req: Request) -> Response:
        path = "/" + "/".join(req.segments)
        if path.startswith(CONTROL):
            return self.control(req, path[len(CONTROL):])
        fault = self._fault_for(req.method, path)
        if fault is not None and not fault.get("lose_answer"):
            resp = Response(fault.get("status", 503), json.dumps(fault["body"]).encode()
                            if "body" in fault else b"", "application/json")
        else:
            fn, params = self.match(req)
            if fn is None:
                resp = self.not_found(req)
            else:
                req.params = params
                with self.lock:
                    resp = fn(req)
            if fault is not None:
                resp.lose = True
        with self.lock:
            if len(self.calls) < 200_000:
                self.calls.append({"method": req.method, "path": path, "status": resp.status,
                                   "lost": resp.lose, "bytes": len(req.body)})
        return resp

    def _fault_for(self, method: str, path: str) -> dict | None:
        """Each fault counts the matching calls on its own; the first one due fires."""
        fired = None
        with self.lock:
            for f in self.faults:
                if f.get("method", method).upper() != method:
                    continue
                if not re.fullmatch(f["path"], path, re.I if self.case_insensitive else 0):
                    continue
                if f.get("after", 0) > 0:
                    f["after"] -= 1
                elif f.get("count", 1) > 0 and fired is None:
                    f["count"] = f.get("count", 1) - 1
                    fired = f
        return fired

    # -- control ----------------------------------------------------------------------------
    def control(self, req: Request, name: str) -> Response:
        body = req.json() if req.body else {}
        with self.lock:
            if name == "ready":
                return Response.json({"ready": True})
            if name == "fault":
                self.faults.append(dict(body))
                return Response.json({"faults": len(self.faults)})
            if name == "log":
                return Response.json(self.calls)
            if name == "clock":
                self.clock_offset += float(body.get("advance", 0))
                return Response.json({"offset": self.clock_offset})
            if name == "reset":
                self.reset()
                return Response.json({"reset": True})
            handler = getattr(self, "control_" + name.replace("-", "_"), None)
            if handler is None:
                return Response.json({"error": f"no control {name}"}, 404)
            return Response.json(handler(body or {}))


class _Truncated(Exception):
    """The client closed the connection before the whole body arrived."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, as real servers send them
    app: Emulator

    def log_message(self, *args) -> None:  # quiet: the call log is in the app
        pass

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise _Truncated(f"{len(data)} of {n} bytes")
        return data

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    raise _Truncated(f"closed after {len(out)} bytes, before the last chunk")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line that ends the body
                        line = self.rfile.readline(65537)
                        if line in (b"\r\n", b"\n"):
                            return bytes(out)
                        if not line:
                            raise _Truncated("closed before the end of the chunked body")
                out += self._read(size)
                self._read(2)  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self._read(length) if length else b""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s != ""]
        try:
            body = self._read_body()
        except _Truncated as e:
            self.close_connection = True
            with self.app.lock:
                self.app.calls.append({"method": self.command, "path": "/" + "/".join(segments),
                                       "status": None, "lost": False, "truncated": str(e),
                                       "bytes": 0})
            return
        req = Request(self.command, self.path, segments, parse_qs(parts.query,
                                                                   keep_blank_values=True),
                      {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            resp = self.app.dispatch(req)
        except Exception as e:  # noqa: BLE001 - an emulator bug shows as a 500 with its text
            import traceback
            traceback.print_exc()
            resp = Response.json({"emulator_error": f"{type(e).__name__}: {e}"}, 500)
        if resp.lose:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(resp.status)
        if resp.body or resp.status not in (204, 304):
            self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


def main(app_class: type[Emulator], argv: list[str] | None = None,
         extra_args=lambda parser: None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default="")
    extra_args(parser)
    args = parser.parse_args(argv)
    app = app_class(args)
    handler = type("Handler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    server.serve_forever(poll_interval=0.2)


# ---------------------------------------------------------------------------- client side
class EmulatorProcess:
    """``python -m <module> --port N --data-dir D [args]`` on loopback, polled until ready."""

    def __init__(self, module: str, workdir: str | os.PathLike, args: tuple[str, ...] = (),
                 start_timeout: float = 30.0):
        self.module = module
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = tuple(args)
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "emulator.log"
        self._http = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "EmulatorProcess":
        root = Path(__file__).resolve().parents[2]
        for _ in range(3):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", self.module, "--port", str(self.port),
                     "--data-dir", str(self.workdir / "data"), *self.args],
                    cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"{self.module} did not start; its log:\n"
                           + self.log_path.read_text(errors="replace")[-3000:])

    def _wait_ready(self) -> bool:
        import requests

        deadline = time.monotonic() + self.start_timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if requests.get(self.url + CONTROL + "ready", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(delay)  # polling, not a fixed wait
            delay = min(delay * 2, 0.2)
        return False

    def control(self, name: str, **payload):
        import requests

        if self._http is None:
            self._http = requests.Session()
        method = "GET" if name in ("ready", "log", "state") and not payload else "POST"
        r = self._http.request(method, self.url + CONTROL + name, json=payload or None, timeout=30)
        r.raise_for_status()
        return r.json()

    def calls(self, path_regex: str = ".*", method: str | None = None) -> list[dict]:
        return [c for c in self.control("log") if re.fullmatch(path_regex, c["path"], re.I)
                and (method is None or c["method"] == method)]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if self._http is not None:
            self._http.close()
            self._http = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
