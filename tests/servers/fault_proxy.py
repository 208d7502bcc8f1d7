"""A fault-injecting proxy for adversarial tests: it sits between a client and a real server on
loopback and, when the test says so, answers in the server's place, resets or closes the
connection, stalls, drip-feeds, flips a bit, strips headers, or loses the server's answer.
HTTP mode acts per request on a kept-alive connection; TCP mode (SSH/SFTP, TLS) acts per
connection after N bytes. Standard library only; it runs in the test's process, on threads,
so the test steers it while it runs.

    proxy = FaultProxy(s3_server).start()      # or the fault_proxy fixture: fault_proxy(server)
    client = boto3.client("s3", endpoint_url=proxy.url, ...)
    fault = proxy.inject(Fault.answer(503, retry_after=1, method="PUT", times=2))
    ...                                         # the first two PUTs get a 503, the third passes
    assert fault.fired == 2 and proxy.requests == 3
    proxy.seen(method="PUT")                    # [Seen(...), ...]: what each request met
    proxy.log                                   # what the proxy did, one line each
    proxy.clear(); proxy.stop()

Faults (class methods of Fault): answer, s3_error, reset, close, stall, drip, flip,
strip_headers, lose_answer. Which request a fault takes (keyword arguments of each of them):
``method``, ``path`` (a regular expression searched in the request target, query included),
``request`` (the proxy's n-th request, from 1), ``connection`` (its n-th connection, from 1),
``skip`` (matching requests let through first), ``times`` (how often it acts; None: always).
Each request meets at most one fault: the first one injected that matches.

Where an action strikes, ``phase`` and ``at``:

* ``"connect"``: as the connection is accepted, before anything is read (targets by
  ``connection`` only);
* ``"request"``: at=None: once the request head was read, before anything reached the server;
  at=N: once the head and N body bytes reached the server;
* ``"response"``: at=None: before anything of the server's answer reached the client;
  at=N: once its head and N body bytes did.

Offsets count body bytes: chunked framing is passed on unchanged and not counted (an
aws-chunked body is just body to HTTP). An offset at or past the end of a body strikes once the
whole message went. In TCP mode "request" and "response" are the client-to-server and
server-to-client byte streams, counted from the connection's first byte.
"""

from __future__ import annotations

import dataclasses
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

ANSWER, RESET, CLOSE, STALL, DRIP, FLIP, LOSE_ANSWER, STRIP = (
    "answer", "reset", "close", "stall", "drip", "flip", "lose_answer", "strip")
PHASES = ("connect", "request", "response")
_PHASES_OF = {ANSWER: ("request",), RESET: PHASES, CLOSE: PHASES, STALL: PHASES,
              DRIP: ("request", "response"), FLIP: ("request", "response"),
              LOSE_ANSWER: ("response",), STRIP: ("request", "response")}
_CUTS = (RESET, CLOSE, STALL, DRIP)  # actions that strike at an offset, ending normal flow
_TICK = 0.1  # how often waiting threads look whether the proxy stops
_RECV = 65536
_MAX_HEAD = 1 << 20


@dataclass(eq=False)
class Fault:
    """One fault; build it with the class methods. ``fired`` counts the times it acted."""

    action: str
    phase: str = "request"
    at: int | None = None
    # which requests (or connections) it takes
    method: str | None = None
    path: str | None = None
    request: int | None = None
    connection: int | None = None
    skip: int = 0
    times: int | None = 1
    # what it does
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    keep_alive: bool = True   # answer: keep the connection (False: Connection: close)
    early: bool = False       # answer: right after the request head, before its body
    seconds: float | None = None  # stall: for how long (None: until the client gives up)
    every: float = 1.0        # drip: seconds between pieces
    chunk: int = 1            # drip: bytes per piece
    bit: int = 0              # flip: which bit (0 = least significant) of byte ``at``
    rst: bool = False         # lose_answer: drop the client with a reset rather than a close
    strip: tuple = ()         # strip, flip: header names removed from the message passed on
    fired: int = 0
    _skipped: int = dataclasses.field(default=0, repr=False)

    def __post_init__(self):
        if self.action not in _PHASES_OF:
            raise ValueError(f"unknown fault action {self.action!r}")
        if self.phase not in _PHASES_OF[self.action]:
            raise ValueError(f"a {self.action} fault cannot strike in phase {self.phase!r}")
        if self.phase == "connect" and (self.method or self.path or self.request):
            raise ValueError("a connect-phase fault targets connections only")
        if self.action == FLIP and (self.at is None or not 0 <= self.bit < 8):
            raise ValueError("a flip needs a body offset (at) and a bit from 0 to 7")
        if self.action == DRIP and (self.every < 0 or self.chunk < 1):
            raise ValueError("a drip needs every >= 0 and chunk >= 1")
        if self.action == STRIP and not self.strip:
            raise ValueError("a strip needs header names")
        self.strip = tuple(name.lower() for name in self.strip)
        self.method = self.method.upper() if self.method else None
        self._path_re = re.compile(self.path) if self.path else None

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def answer(cls, status: int, body: bytes | str = b"", *, headers: dict | None = None,
               retry_after: float | None = None, content_type: str | None = None,
               keep_alive: bool = True, early: bool = False, **target) -> "Fault":
        """Answer ``status`` instead of forwarding (the request's body is read first, unless
        ``early``)."""
        headers = dict(headers or {})
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type or "text/plain"
        return cls(ANSWER, status=status, body=body, headers=headers, keep_alive=keep_alive,
                   early=early, **target)

    @classmethod
    def s3_error(cls, status: int, code: str, message: str = "", **kw) -> "Fault":
        """An S3 error answer with its XML body (e.g. 400 InvalidDigest, 503 SlowDown)."""
        from xml.sax.saxutils import escape

        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + escape(code)
                + "</Code><Message>" + escape(message or code) + "</Message>"
                "<RequestId>fault-proxy</RequestId></Error>")
        return cls.answer(status, body, content_type="application/xml", **kw)

    @classmethod
    def reset(cls, phase: str = "request", at: int | None = None, **target) -> "Fault":
        """Reset both connections (RST: SO_LINGER 0), at the phase and offset given."""
        return cls(RESET, phase=phase, at=at, **target)

    @classmethod
    def close(cls, phase: str = "request", at: int | None = None, **target) -> "Fault":
        """Close both connections in good order (FIN), at the phase and offset given."""
        return cls(CLOSE, phase=phase, at=at, **target)

    @classmethod
    def stall(cls, phase: str = "request", at: int | None = None,
              seconds: float | None = None, **target) -> "Fault":
        """Stop forwarding at the phase and offset given: for ``seconds``, then go on (a slow
        server); with None, until the client gives up (what it sends is read and dropped)."""
        return cls(STALL, phase=phase, at=at, seconds=seconds, **target)

    @classmethod
    def drip(cls, every: float, chunk: int = 1, phase: str = "response",
             at: int | None = None, **target) -> "Fault":
        """From the phase and offset given on, forward ``chunk`` bytes every ``every`` seconds
        (at=None in phase response: the answer's head too)."""
        return cls(DRIP, phase=phase, at=at, every=every, chunk=chunk, **target)

    @classmethod
    def flip(cls, at: int, bit: int = 0, phase: str = "request", strip: tuple = (),
             **target) -> "Fault":
        """Flip one bit of body byte ``at`` of the request (or of the response) on the way;
        headers named in ``strip`` are removed too (e.g. ``("content-md5",)``, to play a
        server that ignores it: a signed header, so only for a server that checks no
        signatures)."""
        return cls(FLIP, phase=phase, at=at, bit=bit, strip=tuple(strip), **target)

    @classmethod
    def strip_headers(cls, *names: str, phase: str = "request", **target) -> "Fault":
        """Pass the request (or the answer) on without the headers named."""
        return cls(STRIP, phase=phase, strip=names, **target)

    @classmethod
    def lose_answer(cls, rst: bool = False, **target) -> "Fault":
        """Forward the request, read the server's whole answer, then drop the client's
        connection without a byte of it (the server did the work; the client never hears)."""
        return cls(LOSE_ANSWER, phase="response", rst=rst, **target)

    # -- matching ---------------------------------------------------------------------------
    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def _matches(self, connection: int, request: int | None, method: str | None,
                 target: str | None) -> bool:
        return ((self.connection is None or self.connection == connection)
                and (self.request is None or self.request == request)
                and (self.method is None or self.method == method)
                and (self._path_re is None or bool(self._path_re.search(target or ""))))

    def describe(self) -> str:
        where = self.phase if self.at is None else f"{self.phase} at {self.at}"
        what = f"{self.action} {self.status}" if self.action == ANSWER else self.action
        return f"{what} ({where})"


@dataclass
class Seen:
    """One request as the proxy saw it (HTTP mode)."""

    connection: int
    number: int
    method: str
    target: str
    headers: dict  # lower-case names; repeated headers joined with ", "
    fault: str | None = None      # the action of the fault it met
    request_bytes: int = 0        # body bytes read from the client
    status: int | None = None     # the answer's status (the server's, or the fault's)
    response_bytes: int = 0       # body bytes of the answer that reached the client
    outcome: str = "in progress"  # forwarded, answered, reset, closed, stalled, answer lost,
    #                               server left, client left, proxy stopped


class _Cut(Exception):
    """A fault strikes: the connection ends the way it says."""

    def __init__(self, fault: Fault):
        super().__init__(fault.action)
        self.fault = fault


class _Pause(Exception):
    """TCP mode: a stream stalls; ``rest`` is what it still has to send when it goes on."""

    def __init__(self, seconds: float | None, rest: bytes):
        super().__init__("pause")
        self.seconds, self.rest = seconds, rest


class _Gone(Exception):
    """The client or the server went away (``reset``: abruptly), or the proxy stops."""

    def __init__(self, why: str, reset: bool = False):
        super().__init__(why)
        self.reset = reset


def _abort(sock: socket.socket | None) -> None:
    """Close with a reset: SO_LINGER 0 makes close() send RST instead of FIN."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Reader:
    """Buffered reading of one socket: message heads, lines, body pieces."""

    def __init__(self, sock: socket.socket, side: str):
        self.sock, self.side = sock, side
        self.buf = bytearray()

    def fill(self) -> bool:
        try:
            data = self.sock.recv(_RECV)
        except ConnectionResetError as e:
            raise _Gone(f"the {self.side} reset the connection", reset=True) from e
        except OSError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def head(self) -> bytes | None:
        """The next message head, blank line included; None if the peer closed first."""
        while True:
            while self.buf[:2] == b"\r\n":  # stray line ends between messages
                del self.buf[:2]
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > _MAX_HEAD:
                raise _Gone(f"the {self.side} sent a head over {_MAX_HEAD} bytes")
            if not self.fill():
                if self.buf:
                    raise _Gone(f"the {self.side} closed the connection within a head")
                return None

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            if not self.fill():
                raise _Gone(f"the {self.side} closed the connection within a body")
        line = bytes(self.buf[:i + 2])
        del self.buf[:i + 2]
        return line

    def some(self, n: int, eof_ok: bool = False) -> bytes:
        """Up to ``n`` bytes (at least one, unless ``eof_ok`` and the peer closed)."""
        if not self.buf and not self.fill():
            if eof_ok:
                return b""
            raise _Gone(f"the {self.side} closed the connection within a body")
        piece = bytes(self.buf[:n])
        del self.buf[:n]
        return piece


class _Head:
    """A parsed HTTP message head; ``raw`` is what is forwarded, unchanged."""

    def __init__(self, raw: bytes):
        self.raw = raw
        lines = raw.decode("latin-1").split("\r\n")
        self.first = lines[0].split(" ", 2)
        if len(self.first) < 2:
            raise _Gone(f"not an HTTP message: {lines[0][:80]!r}")
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                old = self.headers.get(name)
                self.headers[name] = value if old is None else f"{old}, {value}"

    def tokens(self, name: str) -> list[str]:
        return [t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()]

    def keeps_alive(self, version: str) -> bool:
        connection = self.tokens("connection")
        if "close" in connection:
            return False
        return version != "HTTP/1.0" or "keep-alive" in connection

    def framing(self, *, method: str | None = None, status: int | None = None):
        """How the body is delimited: a length, "chunked", or "close" (the end of the
        connection; answers only)."""
        if status is not None and (method == "HEAD" or status < 200 or status in (204, 304)):
            return 0
        if (self.tokens("transfer-encoding") or [""])[-1] == "chunked":
            return "chunked"
        if "content-length" in self.headers:
            return int(self.headers["content-length"].split(",")[0])
        return 0 if status is None else "close"


class _Out:
    """Bytes going one way (to the server, or to the client, or nowhere: ``sock`` None), with
    at most one fault acting on them at a body offset."""

    def __init__(self, conn: "_Connection", sock: socket.socket | None, fault: Fault | None,
                 what: str):
        self.conn, self.sock, self.fault, self.what = conn, sock, fault, what
        self.offset = 0  # body bytes passed on
        self.at = None if fault is None else fault.at
        if fault is not None and self.at is None and conn.tcp:
            self.at = 0  # TCP: at the first byte
        self.struck = False
        self.dripping = False
        if fault is not None and fault.action == DRIP and self.at is None:
            self.struck = self.dripping = True

    def meta(self, data: bytes) -> None:
        """Framing (a head, chunk sizes): passed on, not counted."""
        self._send(data)

    def payload(self, data: bytes) -> None:
        f = self.fault
        if f is not None and not self.struck and self.at is not None:
            end = self.offset + len(data)
            if f.action == FLIP and self.offset <= self.at < end:
                data = bytearray(data)
                data[self.at - self.offset] ^= 1 << f.bit
                self.struck = True
                self.conn.note(f"flipped bit {f.bit} of {self.what} byte {self.at}")
            elif f.action in _CUTS and self.at < end:
                cut = self.at - self.offset
                self._send(data[:cut])
                self.offset += cut
                data = data[cut:]
                self._strike(bytes(data))
        self._send(data)
        self.offset += len(data)

    def end(self) -> None:
        """The message went: a fault whose offset lay at or past its end strikes now."""
        f = self.fault
        if f is not None and not self.struck:
            if f.action in (RESET, CLOSE, STALL):
                self._strike(b"")
            elif f.action == FLIP:
                self.conn.note(f"{self.what} body of {self.offset} bytes: no byte {f.at} to flip")

    def _strike(self, rest: bytes) -> None:
        f = self.fault
        self.struck = True
        where = f"after {self.offset} {self.what} bytes"
        if f.action == DRIP:
            self.dripping = True
            self.conn.note(f"drip-feeding {f.chunk} byte(s) every {f.every:g} s {where}")
        elif f.action == STALL and self.conn.tcp:
            self.conn.note(f"stalled the {self.what} stream {where}")
            raise _Pause(f.seconds, rest)
        elif f.action == STALL and f.seconds is not None:
            self.conn.note(f"stalled {f.seconds:g} s {where}")
            self.conn.hold(f.seconds)
        else:
            self.conn.note(f"{f.action} {where}")
            raise _Cut(f)

    def _send(self, data: bytes) -> None:
        if not data or self.sock is None:
            return
        if not self.dripping:
            self._sendall(data)
            return
        f = self.fault
        for i in range(0, len(data), f.chunk):
            if self.conn.proxy._stopping.wait(f.every):
                raise _Gone("the proxy stops")
            self._sendall(data[i:i + f.chunk])

    def _sendall(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            side = "server" if self.what == "request" else "client"
            raise _Gone(f"the {side} went away", reset=isinstance(e, ConnectionResetError)) from e


def _relay_body(reader: _Reader, out: _Out, framing) -> None:
    """Pass one body on as it arrives, framing unchanged; ``out.end()`` once it all went."""
    if framing == "chunked":
        while True:
            line = reader.line()
            out.meta(line)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Gone(f"bad chunk size line {line[:40]!r}") from None
            if size == 0:
                break
            while size:
                piece = reader.some(size)
                out.payload(piece)
                size -= len(piece)
            out.meta(reader.line())  # the CRLF after the chunk
        while (line := reader.line()) != b"\r\n":  # trailer fields, then the blank line
            out.meta(line)
        out.meta(line)
    elif framing == "close":
        while piece := reader.some(_RECV, eof_ok=True):
            out.payload(piece)
    else:
        left = framing
        while left:
            piece = reader.some(min(left, _RECV))
            out.payload(piece)
            left -= len(piece)
    out.end()


def _answer_bytes(f: Fault, method: str, close: bool) -> bytes:
    try:
        reason = HTTPStatus(f.status).phrase
    except ValueError:
        reason = "Injected"
    headers = {"Content-Length": str(len(f.body)), **f.headers}
    if close:
        headers["Connection"] = "close"
    head = f"HTTP/1.1 {f.status} {reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if method == "HEAD" else f.body)


class _Connection:
    """One client connection and the proxy's own connection to the server, served on one
    thread: so a reset is a real RST (no other thread sits in recv on the socket)."""

    def __init__(self, proxy: "FaultProxy", client: socket.socket, number: int):
        self.proxy, self.client, self.number = proxy, client, number
        self.tcp = proxy.mode == "tcp"
        self.upstream: socket.socket | None = None
        self.creader = _Reader(client, "client")
        self.ureader: _Reader | None = None
        self.current: Seen | None = None

    def note(self, text: str) -> None:
        s = self.current
        about = f" request {s.number} {s.method} {s.target}" if s is not None else ""
        self.proxy._note(f"connection {self.number}{about}: {text}")

    def update(self, **values) -> None:
        if self.current is not None:
            with self.proxy._lock:
                for k, v in values.items():
                    setattr(self.current, k, v)

    # -- life -------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            try:
                fault = self.proxy._pick(self.number, connect=True)
                if fault is not None and fault.phase == "connect":
                    self.note(f"meets {fault.describe()}")
                    if fault.action != STALL or fault.seconds is None:
                        raise _Cut(fault)
                    self.hold(fault.seconds)
                    fault = None
                if self.tcp:
                    self.serve_tcp(fault)
                else:
                    self.serve_http()
            except _Cut as cut:
                self.strike(cut.fault)
        except _Gone as gone:
            self.note(f"{gone}; connection ended")
            if self.current is not None and self.current.outcome == "in progress":
                why = str(gone)
                self.update(outcome="server left" if "server" in why else
                            "proxy stopped" if "proxy" in why else "client left")
            if gone.reset:  # pass an abrupt end on as one
                _abort(self.client)
                _abort(self.upstream)
                self.client = self.upstream = None
        except Exception as e:  # a bug of the proxy: the fixture fails the test with it
            self.proxy._failed(self, e)
        finally:
            for sock in (self.client, self.upstream):
                if sock is not None:
                    sock.close()
            self.proxy._ended(self)

    def strike(self, f: Fault) -> None:
        outcome = {RESET: "reset", CLOSE: "closed", STALL: "stalled"}.get(f.action)
        if outcome and (self.current is None or self.current.outcome != "answer lost"):
            self.update(outcome=outcome)
        if f.action == STALL:
            self.hold(None)  # until the client gives up (raises _Gone)
        elif f.action == RESET or (f.action == LOSE_ANSWER and f.rst):
            _abort(self.client)
            _abort(self.upstream)
            self.client = self.upstream = None
        else:  # close, lose_answer: FIN first (a reset may follow if the client still sends)
            for sock in (self.client, self.upstream):
                try:
                    if sock is not None:
                        sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def shut(self) -> None:
        """Wake this connection's thread wherever it waits (the proxy stops)."""
        for sock in (self.client, self.upstream):
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def hold(self, seconds: float | None) -> None:
        """Keep the client waiting: for ``seconds`` (what it sends meanwhile is kept), or with
        None until it gives up or the proxy stops (what it sends is read and dropped)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            wait = _TICK if deadline is None else min(_TICK, deadline - time.monotonic())
            if wait <= 0:
                return
            if self.proxy._stopping.is_set():
                raise _Gone("the proxy stops")
            if select.select([self.client], [], [], wait)[0]:
                if not self.creader.fill():
                    raise _Gone("the client gave up")
                if seconds is None:
                    self.creader.buf.clear()

    def connect_upstream(self) -> None:
        """A connection to the server: the one kept alive, unless the server closed it."""
        if self.upstream is not None:
            if not self.ureader.buf and not select.select([self.upstream], [], [], 0)[0]:
                return
            self.note("the server had closed the kept-alive connection: a new one")
            self.upstream.close()
            self.upstream = None
        try:
            sock = socket.create_connection(self.proxy.upstream, timeout=10)
        except OSError as e:
            raise _Gone(f"the server cannot be reached ({e})", reset=True) from e
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream, self.ureader = sock, _Reader(sock, "server")

    def to_client(self, data: bytes) -> None:
        try:
            self.client.sendall(data)
        except OSError as e:
            raise _Gone("the client went away", reset=isinstance(e, ConnectionResetError)) from e

    # -- HTTP -------------------------------------------------------------------------------
    def serve_http(self) -> None:
        while True:
            self.current = None
            if not self.idle():
                return
            raw = self.creader.head()
            if raw is None:
                return
            req = _Head(raw)
            method, target = req.first[0].upper(), req.first[1]
            version = req.first[2] if len(req.first) > 2 else "HTTP/1.0"
            self.current, fault = self.proxy._request_seen(self.number, method, target,
                                                           req.headers)
            if fault is not None:
                self.note(f"meets {fault.describe()}")
            framing = req.framing()
            expect = framing != 0 and "100-continue" in req.tokens("expect")
            keep = req.keeps_alive(version)
            if fault is not None and fault.action == ANSWER:
                if not self.answer(fault, method, framing, expect, keep):
                    return
                continue
            to_server = fault if fault is not None and fault.phase == "request" else None
            to_client = fault if fault is not None and fault.phase == "response" else None
            self.before(to_server, "before forwarding")
            self.connect_upstream()
            out = _Out(self, self.upstream, to_server, "request")
            try:
                out.meta(self.stripped(raw, to_server))
                answer = self.await_continue() if expect else None
                if answer is None:
                    _relay_body(self.creader, out, framing)
                else:  # refused before the body: the client may send it or not; end afterwards
                    keep = False
            finally:
                self.update(request_bytes=out.offset)
            answer = answer or self.final_head()
            status = int(answer.first[1])
            self.update(status=status)
            rframing = answer.framing(method=method, status=status)
            if to_client is not None and to_client.action == LOSE_ANSWER:
                _relay_body(self.ureader, _Out(self, None, None, "response"), rframing)
                self.note(f"the server's {status} answer read, and dropped")
                self.update(outcome="answer lost")
                raise _Cut(to_client)
            self.before(to_client, "before answering")
            out = _Out(self, self.client, to_client, "response")
            try:
                out.meta(self.stripped(answer.raw, to_client))
                _relay_body(self.ureader, out, rframing)
            finally:
                self.update(response_bytes=out.offset)
            self.update(outcome="forwarded")
            if rframing == "close" or not keep or not answer.keeps_alive(answer.first[0]):
                return

    def idle(self) -> bool:
        """Between requests: True once the client sends again; False if the server closed
        the kept-alive connection first (the client's is closed then, as the server's was)."""
        while not self.creader.buf:
            socks = [self.client] if self.upstream is None else [self.client, self.upstream]
            ready = select.select(socks, [], [], _TICK)[0]
            if self.proxy._stopping.is_set():
                raise _Gone("the proxy stops")
            if self.client in ready:
                return True
            if ready:
                self.note("the server closed the kept-alive connection, so the proxy closes "
                          "the client's")
                return False
        return True

    def stripped(self, raw: bytes, f: Fault | None) -> bytes:
        if f is None or not f.strip:
            return raw
        lines = raw.split(b"\r\n")
        kept = [line for line in lines[1:]
                if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in f.strip]
        if len(kept) < len(lines) - 1:
            self.note(f"removed header(s) {', '.join(f.strip)}")
        return b"\r\n".join(lines[:1] + kept)

    def before(self, f: Fault | None, where: str) -> None:
        """A reset, close or stall that strikes before any byte of a message went."""
        if f is None or f.at is not None or f.action not in (RESET, CLOSE, STALL):
            return
        if f.action == STALL and f.seconds is not None:
            self.note(f"stalled {f.seconds:g} s {where}")
            self.hold(f.seconds)
            return
        self.note(f"{f.action} {where}")
        raise _Cut(f)

    def answer(self, f: Fault, method: str, framing, expect: bool, keep: bool) -> bool:
        """Answer in the server's place; True if the connection goes on."""
        close = not f.keep_alive or not keep or (f.early and expect)
        sink = _Out(self, None, None, "request")
        if f.early:
            self.to_client(_answer_bytes(f, method, close))
            if not close:
                _relay_body(self.creader, sink, framing)
        else:
            if expect:
                self.to_client(b"HTTP/1.1 100 Continue\r\n\r\n")
            _relay_body(self.creader, sink, framing)
            self.to_client(_answer_bytes(f, method, close))
        self.update(request_bytes=sink.offset, status=f.status, outcome="answered")
        self.note(f"answered {f.status} in the server's place")
        return not close

    def await_continue(self) -> _Head | None:
        """``Expect: 100-continue``: the server's 100 is passed on (then the body follows);
        a final answer before the body is returned; a client that sends its body without
        waiting goes on at once."""
        while True:
            if not self.ureader.buf and not self.creader.buf:
                ready = select.select([self.client, self.upstream], [], [], _TICK)[0]
                if self.proxy._stopping.is_set():
                    raise _Gone("the proxy stops")
                if not ready:
                    continue
            else:
                ready = [self.upstream] if self.ureader.buf else [self.client]
            if self.upstream not in ready:
                return None
            head = self.server_head()
            status = int(head.first[1])
            if status >= 200 or status == 101:
                return head
            self.to_client(head.raw)
            if status == 100:
                return None

    def server_head(self) -> _Head:
        raw = self.ureader.head()
        if raw is None:
            raise _Gone("the server closed the connection without answering")
        return _Head(raw)

    def final_head(self) -> _Head:
        """The server's answer, interim 1xx answers passed on."""
        while True:
            head = self.server_head()
            status = int(head.first[1])
            if status >= 200 or status == 101:
                return head
            self.to_client(head.raw)

    # -- TCP --------------------------------------------------------------------------------
    def serve_tcp(self, fault: Fault | None) -> None:
        """Both byte streams, on this one thread (select), each with its fault if any."""
        self.connect_upstream()
        for_server = fault if fault is not None and fault.phase == "request" else None
        for_client = fault if fault is not None and fault.phase == "response" else None
        streams = {self.client: (self.upstream, _Out(self, self.upstream, for_server, "request")),
                   self.upstream: (self.client, _Out(self, self.client, for_client, "response"))}
        live = {self.client, self.upstream}
        paused: dict = {}  # source -> (deadline or None, bytes still to send)

        def pump(src, data: bytes) -> None:
            try:
                streams[src][1].payload(data)
            except _Pause as p:
                deadline = None if p.seconds is None else time.monotonic() + p.seconds
                paused[src] = (deadline, p.rest)

        if self.creader.buf:  # sent while a connect-phase stall held it
            data = bytes(self.creader.buf)
            self.creader.buf.clear()
            pump(self.client, data)
        while live:
            now = time.monotonic()
            for src, (deadline, rest) in list(paused.items()):
                if deadline is not None and now >= deadline:
                    del paused[src]
                    pump(src, rest)
            waiting = [s for s in live if s not in paused]
            if not waiting and all(d is None for d, _ in paused.values()):
                return  # only streams stalled for good are left: nothing more can happen
            if waiting:
                ready = select.select(waiting, [], [], _TICK)[0]
            else:  # only timed stalls left
                ready = []
                time.sleep(_TICK)
            if self.proxy._stopping.is_set():
                raise _Gone("the proxy stops")
            for src in ready:
                try:
                    data = src.recv(_RECV)
                except ConnectionResetError as e:
                    side = "client" if src is self.client else "server"
                    raise _Gone(f"the {side} reset the connection", reset=True) from e
                if data:
                    pump(src, data)
                    continue
                live.discard(src)
                try:
                    streams[src][0].shutdown(socket.SHUT_WR)
                except OSError:
                    pass


def _address(target) -> tuple[str, int]:
    """(host, port) of a server object (``.host``, ``.port``), a URL, a pair or a port."""
    if isinstance(target, int):
        return "127.0.0.1", target
    if isinstance(target, str):
        parts = urlsplit(target if "//" in target else f"//{target}")
        return parts.hostname or "127.0.0.1", parts.port or 80
    if isinstance(target, tuple):
        return target[0], int(target[1])
    if getattr(target, "port", None) is None:
        raise ValueError(f"{target!r} has no port (start it first)")
    return target.host, int(target.port)


class FaultProxy:
    """The proxy; see the module docstring. Every method may be called from any thread."""

    def __init__(self, target, *, mode: str = "http", host: str = "127.0.0.1",
                 port: int | None = None):
        if mode not in ("http", "tcp"):
            raise ValueError("mode is 'http' or 'tcp'")
        self.upstream = _address(target)
        self.mode, self.host, self.port = mode, host, port
        self.errors: list[BaseException] = []  # the proxy's own failures (bugs)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: list[Fault] = []
        self._seen: list[Seen] = []
        self._log: list[str] = []
        self._connections = 0
        self._live: set[_Connection] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._t0 = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -- life -------------------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        """Listen (on ``port``, or a free one, kept for a start after stop)."""
        if self._listener is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port or 0))
        sock.listen(128)
        sock.settimeout(_TICK)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._stopping.clear()
        t = threading.Thread(target=self._accept, args=(sock,), daemon=True,
                             name=f"fault-proxy-{self.port}")
        self._threads.append(t)
        t.start()
        return self

    def stop(self) -> None:
        """Stop listening and end every connection (stalled ones too)."""
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            live = list(self._live)
        for conn in live:
            conn.shut()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections += 1
                conn = _Connection(self, client, self._connections)
                self._live.add(conn)
            t = threading.Thread(target=conn.run, daemon=True,
                                 name=f"fault-proxy-{self.port}-{conn.number}")
            self._threads.append(t)
            t.start()

    # -- steering ---------------------------------------------------------------------------
    def inject(self, fault: Fault, *more: Fault) -> Fault:
        """Arm faults (in this order, after those armed already); the first is returned."""
        for f in (fault, *more):
            if self.mode == "tcp" and (f.method or f.path or f.request
                                       or f.action in (ANSWER, LOSE_ANSWER) or f.strip):
                raise ValueError(f"{f.describe()} needs HTTP mode")
        with self._lock:
            self._faults += [fault, *more]
        return fault

    def clear(self) -> None:
        """Disarm every fault (the counters and the log stay)."""
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._connections

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._live)

    @property
    def requests(self) -> int:
        """HTTP requests seen so far (their heads were read)."""
        with self._lock:
            return len(self._seen)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """Copies of the requests seen (those of ``method`` whose target matches ``path``)."""
        with self._lock:
            return [dataclasses.replace(s, headers=dict(s.headers)) for s in self._seen
                    if (method is None or s.method == method.upper())
                    and (path is None or re.search(path, s.target))]

    @property
    def log(self) -> list[str]:
        """What the proxy did, one line each, with seconds since it was made."""
        with self._lock:
            return list(self._log)

    # -- for the connections ----------------------------------------------------------------
    def _pick(self, connection: int, request: int | None = None, method: str | None = None,
              target: str | None = None, connect: bool = False) -> Fault | None:
        with self._lock:
            return self._pick_locked(connection, request, method, target, connect)

    def _pick_locked(self, connection, request, method, target, connect) -> Fault | None:
        for f in self._faults:
            if f.spent or connect != (f.phase == "connect" or self.mode == "tcp"):
                continue
            if not f._matches(connection, request, method, target):
                continue
            if f._skipped < f.skip:
                f._skipped += 1
                continue
            f.fired += 1
            return f
        return None

    def _request_seen(self, connection: int, method: str, target: str,
                      headers: dict) -> tuple[Seen, Fault | None]:
        with self._lock:
            seen = Seen(connection, len(self._seen) + 1, method, target, headers)
            self._seen.append(seen)
            fault = self._pick_locked(connection, seen.number, method, target, False)
            seen.fault = fault.action if fault is not None else None
            return seen, fault

    def _note(self, text: str) -> None:
        with self._lock:
            self._log.append(f"{time.monotonic() - self._t0:8.3f} {text}")

    def _failed(self, conn: _Connection, e: BaseException) -> None:
        conn.note(f"proxy failure: {e!r}")
        with self._lock:
            self.errors.append(e)

    def _ended(self, conn: _Connection) -> None:
        with self._lock:
            self._live.discard(conn)


@pytest.fixture
def fault_proxy():
    """Start fault proxies in front of servers: ``fault_proxy(server, mode="http"|"tcp")``
    (a server object with .host/.port, a URL, (host, port) or a port) returns a running
    FaultProxy. All are stopped at the end, and a failure of a proxy itself fails the test."""
    started: list[FaultProxy] = []

    def start(target, *, mode: str = "http") -> FaultProxy:
        proxy = FaultProxy(target, mode=mode).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
    failures = [e for proxy in started for e in proxy.errors]
    assert not failures, f"the fault proxy failed: {failures!r}"
