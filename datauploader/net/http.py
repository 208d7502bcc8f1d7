"""The HTTP/1.1 client of the storage backends (S3, WebDAV, rclone's remote control): lean
kept-alive connections, one per thread and host, and the one rule for a kept-alive connection
the server closed while it was idle (send the request again, once, on a fresh one).

Why not ``http.client``: it costs about 0.1 ms of CPU and five system calls per request (a
poll before every send and receive of a socket with a time-out, a ``makefile`` and its
buffered reader per response, header parsing by the email package); with eight worker
threads every system call is also a hand-over of the GIL. For a small object (a PUT and a
HEAD) that was most of the client's CPU. A :class:`Connection`:

* sends the request head and a body held in memory with one ``sendmsg`` (no copy, one
  segment: no Nagle/delayed-ACK wait), larger bodies piece by piece (:meth:`send_body`),
  listening for a server that answers before the body is complete (a refusal:
  :class:`EarlyAnswer`, not the broken pipe that follows);
* reads the answer with ``recv`` straight from the socket and parses the head with
  ``bytes.find``/``str.split``; bodies delimited by Content-Length, chunked, or by the end of
  the connection; interim 1xx answers are skipped;
* on Linux, a plain-TCP socket is blocking with kernel time-outs (``SO_RCVTIMEO``/
  ``SO_SNDTIMEO``), so no poll precedes each call; an expired time-out raises TimeoutError.
  TLS sockets (and other systems) use Python's socket time-out;
* bounds how long an answer may take, not only each receive: its head must arrive within the
  time-out, and its body must keep coming at ``MIN_PACE`` bytes per time-out at least, so a
  server that drips a byte every few seconds is given up like a silent one;
* checks whether an idle kept-alive connection was closed by the server only when it was
  idle for more than a second (servers keep idle connections for several seconds at least);
  a request that meets a connection closed anyway fails with one of ``STALE_ERRORS`` before
  any answer (``Connection.answered`` is False), and :meth:`Pool.exchange` sends it again on
  a fresh connection if the caller says it may.

No pipelining beyond a bodiless request sent right behind another, no proxies, no
compression: one request, then its whole answer. Callers build header values from known-safe
parts (and refuse CR or LF in them). TLS contexts and the sentences for failed handshakes come
from :mod:`datauploader.net.tls`.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import struct
import sys
import threading
import time

from datauploader.errors import UnreachableError, unreachable
from datauploader.net import tls

STALE_ERRORS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                http.client.RemoteDisconnected, ssl.SSLEOFError, ssl.SSLZeroReturnError)
RECV = 65536
MAX_HEAD = 256 * 1024
IDLE_CHECK = 1.0  # seconds idle after which a connection is checked before it is reused
SINK_CHUNK = 1 << 20  # largest piece handed to a body sink
MIN_PACE = 1024  # bytes an answer's body must deliver per time-out (else: a drip-feed)
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_SENDMSG = hasattr(socket.socket, "sendmsg")
_NO_BODY_STATUS = (204, 304)


class Response:
    __slots__ = ("status", "headers", "body", "will_close", "then")

    def __init__(self, status: int, headers: dict, body: bytes, will_close: bool = False):
        self.status = status
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body
        self.will_close = will_close
        self.then = None  # the caller's: the answer to a request pipelined behind this one


class SlowAnswer(TimeoutError):
    """An answer that keeps coming, too slowly to be a working server (a drip-feed)."""


class EarlyAnswer(Exception):
    """The server answered (with an error status) before the request body was complete."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def peer_closed(sock) -> bool:
    """True if an idle kept-alive socket was closed by the server (or has unexpected data)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:  # (the raw socket's recv: under TLS this peeks at the encrypted stream)
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if not data:
        return True
    # An idle plain-HTTP connection must not have anything to read; a TLS one may hold a
    # session ticket or similar record, which the TLS layer deals with.
    return not isinstance(sock, ssl.SSLSocket)


def _apply_timeout(sock, timeout: float) -> None:
    if _KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket):
        sock.settimeout(None)
        secs = max(0.001, float(timeout))
        tv = struct.pack("ll", int(secs), int((secs % 1) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    else:
        sock.settimeout(timeout)


class Connection:
    """One keep-alive connection to ``host:port`` (TLS with ``ssl_context``); not
    thread-safe: one per thread. ``connect_timeout`` (default: ``timeout``) bounds the
    connection and TLS handshake, ``timeout`` every send and receive after it."""

    def __init__(self, host: str, port: int, timeout: float,
                 ssl_context: ssl.SSLContext | None = None, connect_timeout: float | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.ssl_context = ssl_context
        self.sock = None
        self.last_used = 0.0
        self.answered = False  # the last response's head has arrived
        self.thread = None  # the thread that owns it (Pool's bookkeeping)
        self._rest = b""  # received, not yet consumed
        self._window = (0.0, 0)  # (start, bytes): the body's pace, measured per time-out

    # -- connecting -------------------------------------------------------------------------
    def connect(self) -> None:
        """Raises OSError (socket.gaierror, ConnectionRefusedError, TimeoutError …) and
        ssl.SSLError as they come."""
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            _apply_timeout(sock, self.timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._rest = b""
        self.last_used = time.monotonic()

    def set_timeout(self, timeout: float) -> None:
        """Another time-out for what follows (rclone's remote control: one per call)."""
        if timeout != self.timeout:
            self.timeout = timeout
            if self.sock is not None:
                _apply_timeout(self.sock, timeout)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._rest = b""
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def usable(self, max_idle: float = IDLE_CHECK) -> bool:
        """A connection exists and (if it was idle more than ``max_idle`` seconds) the server
        has not closed it."""
        if self.sock is None:
            return False
        if time.monotonic() - self.last_used > max_idle and peer_closed(self.sock):
            self.close()
            return False
        return True

    # -- sending ----------------------------------------------------------------------------
    def send_head(self, head: bytes, body=None, tail: bytes = b"") -> None:
        """The request head, with ``body`` (bytes-like, in memory) in the same send, and
        ``tail`` (a pipelined request without a body) after it."""
        sock = self.sock
        try:
            if body is None or not len(body):
                sock.sendall(head + tail if tail else head)
            elif _SENDMSG and not isinstance(sock, ssl.SSLSocket):
                parts = (head, body, tail) if tail else (head, body)
                sent = sock.sendmsg(parts)
                for part in parts:  # a partial send (a full socket buffer): the rest in order
                    if sent >= len(part):
                        sent -= len(part)
                        continue
                    sock.sendall(memoryview(part)[sent:] if sent else part)
                    sent = 0
            else:
                sock.sendall(head + bytes(body) + tail)
        except BlockingIOError:
            raise TimeoutError("timed out sending") from None

    def send(self, data) -> None:
        try:
            self.sock.sendall(data)
        except BlockingIOError:
            raise TimeoutError("timed out sending") from None

    def send_body(self, pieces, length: int, after=None) -> None:
        """Send a request body of ``length`` bytes from the iterable ``pieces`` (after the head
        went with :meth:`send_head`), calling ``after(n)`` after each piece. A server that
        answers before the body is complete refused it: its answer is raised as
        :class:`EarlyAnswer` (error statuses), not the broken pipe that follows."""
        sent = 0
        for piece in pieces:
            try:
                self.send(piece)
                sent += len(piece)
                if after is not None:
                    after(len(piece))
                if sent < length and self.answer_waiting():
                    raise ConnectionResetError("the server answered before the request was "
                                               "complete")
            except ConnectionError:
                early = self._early_answer()
                if early is not None and early.status >= 300:
                    raise EarlyAnswer(early) from None
                raise

    def _early_answer(self) -> Response | None:
        try:
            return self.read_response("PUT")
        except Exception:  # noqa: BLE001 - no answer: the connection broke
            return None
        finally:
            self.close()

    def answer_waiting(self) -> bool:
        """Has the server started answering (before the request was complete: a refusal)?
        Plain TCP only; a TLS socket may have other records to read."""
        sock = self.sock
        if sock is None or isinstance(sock, ssl.SSLSocket):
            return False
        try:
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    # -- receiving --------------------------------------------------------------------------
    def _recv(self) -> bytes:
        try:
            got = self.sock.recv(RECV)
        except BlockingIOError:
            raise TimeoutError("timed out waiting for the server") from None
        self._paced(len(got))
        return got

    def _recv_into(self, view) -> int:
        try:
            n = self.sock.recv_into(view)
        except BlockingIOError:
            raise TimeoutError("timed out waiting for the server") from None
        self._paced(n)
        return n

    def _paced(self, n: int) -> None:
        """Count received bytes; an answer slower than MIN_PACE bytes per time-out (a head
        that does not complete within one time-out, a dripping body) times out."""
        start, got = self._window
        got += n
        now = time.monotonic()
        if now - start < self.timeout:
            self._window = (start, got)
            return
        if got < MIN_PACE:
            raise SlowAnswer(f"the server sent {got} bytes in {now - start:.0f} seconds (a "
                             "stalled or drip-feeding answer)")
        self._window = (now, 0)

    def read_response(self, method: str, on_data=None, more: bool = False, on_head=None,
                      chunk: int = SINK_CHUNK) -> Response:
        """The answer to the request just sent. ``on_data(memoryview)`` receives a 2xx
        answer's body in pieces of at most ``chunk`` bytes instead of it being kept (a view
        valid during the call only), after ``on_head(status, headers)``. ``more``: another
        request was sent after this one (pipelined): bytes after this answer are the start of
        its answer."""
        buf = self._rest
        self._rest = b""
        self.answered = False
        self._window = (time.monotonic(), 0)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                body_at = end + 4
            else:
                end = buf.find(b"\n\n")
                body_at = end + 2
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise http.client.HTTPException("the answer's header is too long")
                got = self._recv()
                if not got:
                    if buf:
                        raise http.client.IncompleteRead(buf)
                    raise http.client.RemoteDisconnected("the server closed the connection "
                                                         "without an answer")
                buf = buf + got if buf else got
                continue
            lines = buf[:end].decode("iso-8859-1").split("\n")
            first = lines[0].split(None, 2)
            if len(first) < 2 or not first[0].startswith("HTTP/1.") or not first[1].isdigit():
                raise http.client.BadStatusLine(lines[0][:100])
            status = int(first[1])
            buf = buf[body_at:]
            if 100 <= status < 200:  # 100 Continue, 102 Processing, 103 Early Hints
                continue
            break
        self.answered = True
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            name = name.strip().lower()
            value = value.strip()
            old = headers.get(name)
            headers[name] = value if old is None else f"{old}, {value}"
        conn_tokens = headers.get("connection", "").lower()
        will_close = "close" in conn_tokens or (first[0] == "HTTP/1.0" and
                                                "keep-alive" not in conn_tokens)
        sink = None
        if on_data is not None and 200 <= status < 300 and method != "HEAD":
            if on_head is not None:
                on_head(status, headers)
            sink = on_data if chunk >= 2 * RECV else _Pieces(on_data, chunk)
        parts: list = []
        if method == "HEAD" or status in _NO_BODY_STATUS:
            rest = buf
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            rest = self._read_chunked(buf, sink, parts, chunk)
        else:
            length = headers.get("content-length")
            if length is not None:
                try:
                    n = int(length.split(",")[0])
                except ValueError:
                    raise http.client.HTTPException(f"bad Content-Length {length!r}") from None
                rest = self._read_length(buf, n, sink, parts, chunk)
            else:  # delimited by the end of the connection
                self._read_to_close(buf, sink, parts)
                rest = b""
                will_close = True
        body = b"".join(parts) if parts else b""
        if rest:
            if more and not will_close:
                self._rest = rest
            else:
                will_close = True  # bytes nobody asked for: never reuse
        if will_close:
            self.close()
        else:
            self.last_used = time.monotonic()
        return Response(status, headers, body, will_close)

    def _read_length(self, buf: bytes, n: int, sink, parts: list, chunk: int) -> bytes:
        if len(buf) >= n:
            if n:
                if sink is None:
                    parts.append(buf[:n])
                else:
                    sink(memoryview(buf)[:n])
            return buf[n:]
        if buf:
            if sink is None:
                parts.append(buf)
            else:
                sink(memoryview(buf))
        left = n - len(buf)
        if sink is None:
            while left:
                got = self._recv()
                if not got:
                    raise http.client.IncompleteRead(b"", left)
                if len(got) > left:
                    parts.append(got[:left])
                    return got[left:]
                parts.append(got)
                left -= len(got)
            return b""
        big = bytearray(min(left, chunk))
        view = memoryview(big)
        while left:
            k = self._recv_into(view[:min(left, len(big))])
            if not k:
                raise http.client.IncompleteRead(b"", left)
            sink(view[:k])
            left -= k
        return b""

    def _read_to_close(self, buf: bytes, sink, parts: list) -> None:
        while True:
            if buf:
                if sink is None:
                    parts.append(buf)
                else:
                    sink(memoryview(buf))
            buf = self._recv()
            if not buf:
                return

    def _read_chunked(self, buf: bytes, sink, parts: list, chunk: int) -> bytes:
        while True:
            while True:
                i = buf.find(b"\n")
                if i >= 0:
                    break
                if len(buf) > MAX_HEAD:
                    raise http.client.HTTPException("bad chunk size line")
                got = self._recv()
                if not got:
                    raise http.client.IncompleteRead(buf)
                buf += got
            line = buf[:i].split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise http.client.HTTPException(f"bad chunk size {line[:20]!r}") from None
            buf = buf[i + 1:]
            if size == 0:
                break
            buf = self._read_length(buf, size, sink, parts, chunk)
            while len(buf) < 2:  # the CRLF after the chunk
                got = self._recv()
                if not got:
                    raise http.client.IncompleteRead(buf)
                buf += got
            buf = buf[2:] if buf[:2] == b"\r\n" else buf[1:]
        while True:  # trailers, up to an empty line
            i = buf.find(b"\n")
            if i < 0:
                got = self._recv()
                if not got:
                    raise http.client.IncompleteRead(buf)
                buf += got
                continue
            line, buf = buf[:i].strip(), buf[i + 1:]
            if not line:
                return buf


class _Pieces:
    """A body sink that hands on at most ``size`` bytes at a time (what was received comes in
    pieces of up to about 2 x RECV)."""

    __slots__ = ("sink", "size")

    def __init__(self, sink, size: int):
        self.sink = sink
        self.size = max(1, size)

    def __call__(self, view) -> None:
        size = self.size
        for i in range(0, len(view), size):
            self.sink(view[i:i + size])


class Pool:
    """Kept-alive connections to one service: one per thread and host (S3's virtual-hosted
    buckets have a host each), all of them closed by :meth:`close`. ``server`` names the
    service in error sentences ("the S3 server at https://…"), ``where`` the settings an
    operator may have to change ("[storage:NAME]")."""

    def __init__(self, server: str, port: int, *, timeout: float,
                 connect_timeout: float | None = None,
                 ssl_context: ssl.SSLContext | None = None, where: str = tls.CONFIGURATION):
        self.server = server
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.ssl_context = ssl_context
        self.where = where
        self._local = threading.local()
        self._conns: list[Connection] = []
        self._lock = threading.Lock()

    def get(self, host: str) -> Connection:
        """This thread's connection to ``host`` (not connected yet when new)."""
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(host)
        if conn is None:
            conn = conns[host] = Connection(host, self.port, self.timeout, self.ssl_context,
                                            self.connect_timeout)
            conn.thread = threading.current_thread()
            with self._lock:
                stale = [c for c in self._conns if not c.thread.is_alive()]
                self._conns = [c for c in self._conns if c.thread.is_alive()] + [conn]
            for c in stale:  # connections of threads that ended (workers of earlier jobs)
                c.close()
        return conn

    @property
    def connections(self) -> list[Connection]:
        """Every thread's connection (a copy)."""
        with self._lock:
            return list(self._conns)

    def interrupt(self) -> None:
        """End every exchange under way now, from any thread: a receive blocked on a silent
        server returns at once (shut down; closing alone would not wake it). The connections
        are replaced when next used."""
        for c in self.connections:
            sock = c.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Close every connection of every thread (the pool stays usable)."""
        with self._lock:
            conns, self._conns = self._conns, []
            self._local = threading.local()
        for c in conns:
            c.close()

    def connect(self, conn: Connection) -> None:
        """Connect ``conn``; failures as TLSError or UnreachableError sentences."""
        try:
            conn.connect()
        except ssl.SSLError as e:
            conn.close()
            raise tls.failure(e, self.server, self.where) from e
        except OSError as e:
            conn.close()
            raise self.unreachable(e, connecting=True, host=conn.host) from e

    def unreachable(self, e: BaseException, connecting: bool = False,
                    host: str | None = None) -> UnreachableError:
        reason = None
        if isinstance(e, SlowAnswer):
            reason = str(e)
        elif isinstance(e, (TimeoutError, socket.timeout)):
            t = self.connect_timeout if connecting else self.timeout
            reason = f"no answer within {t:g} seconds"
        return unreachable(self.server, e, connecting, host or "", reason)

    def exchange(self, conn: Connection, send, method: str, *, resend=None, on_data=None,
                 on_head=None, more: bool = False, chunk: int = SINK_CHUNK,
                 max_idle: float = IDLE_CHECK) -> Response:
        """One request on ``conn``: ``send(conn)`` sends it, then its answer is read (see
        :meth:`Connection.read_response`). A kept-alive connection the server had closed
        fails before any answer: the request is sent once more on a fresh connection if
        ``resend()`` says it may (None: always). One that may not be sent twice (a body
        streamed from a file, or partly reported) should check its connection first
        (``max_idle=0``: whatever its idle time). Network failures are raised as
        UnreachableError (the original as its cause), EarlyAnswer as it is; on any failure
        the connection is closed, so that a half-sent request is never completed by the next
        one."""
        for attempt in (0, 1):
            reused = conn.usable(max_idle)  # (an idle one: did the server close it?)
            if not reused:
                self.connect(conn)
            try:
                send(conn)
                return conn.read_response(method, on_data, more, on_head, chunk)
            except STALE_ERRORS as e:
                started = conn.answered
                conn.close()
                if attempt == 0 and reused and not started and (resend is None or resend()):
                    continue  # a kept-alive connection the server had closed: once more
                raise self.unreachable(e, host=conn.host) from e
            except EarlyAnswer:
                conn.close()
                raise
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise self.unreachable(e, host=conn.host) from e
            except BaseException:
                conn.close()
                raise
