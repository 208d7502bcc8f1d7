"""Fast paths shared by the WebDAV and SFTP backends: a lean HTTP/1.1 connection, and a file
read in chunks for sending while helper threads hash it.

**Connection** (WebDAV). ``http.client`` costs about 0.1 ms of CPU and five system calls
per request (a poll before every send and receive of a socket with a time-out, a
``makefile`` and its buffered reader per response, a select to see whether an idle
connection is still open); with eight worker threads every system call is also a hand-over
of the GIL. For a WebDAV upload of a small file (PUT, HEAD, MOVE) that was most of the
client's CPU. This connection:

* sends the request head and a body held in memory with one ``sendmsg`` (no copy, one
  segment: no Nagle/delayed-ACK wait), larger streamed bodies chunk by chunk;
* reads the answer with ``recv`` straight from the socket and parses the head with
  ``bytes.find``/``str.split``; bodies delimited by Content-Length, chunked, or by the end of
  the connection; interim 1xx answers are skipped;
* on Linux, a plain-TCP socket is blocking with kernel time-outs (``SO_RCVTIMEO``/
  ``SO_SNDTIMEO``), so no poll precedes each call; an expired time-out raises TimeoutError.
  TLS sockets (and other systems) use Python's socket time-out;
* checks whether an idle kept-alive connection was closed by the server only when it was
  idle for more than a second (servers keep idle connections for several seconds at least);
  a request that meets a connection closed anyway fails with one of ``STALE_ERRORS`` before
  any answer (``Connection.answered`` is False), and the caller may send it again on a
  fresh connection.

No pipelining, no proxies, no compression: one request, then its whole answer. The caller
builds header values from known-safe parts (and refuses CR or LF in them).

**hashed_chunks** (both). A large file is read once, in 1 MiB chunks, into two buffers; each
chunk is sent while helper threads hash it (hashlib lets go of the GIL, so hashing runs on
another core while the sending thread works): the job's checksum (and cheap extras such as
adler32) on one thread, a second cryptographic hash (an MD5 for a server's ETag, a server
checksum command's algorithm) on another. A buffer is refilled only once its hashes are
done, and each hash sees the chunks in order.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import struct
import sys
import time

STALE_ERRORS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                http.client.RemoteDisconnected, ssl.SSLEOFError, ssl.SSLZeroReturnError)
RECV = 65536
MAX_HEAD = 256 * 1024
IDLE_CHECK = 1.0  # seconds idle after which a connection is checked before it is reused
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_SENDMSG = hasattr(socket.socket, "sendmsg")
_NO_BODY_STATUS = (204, 304)


class Response:
    __slots__ = ("status", "headers", "body", "will_close")

    def __init__(self, status: int, headers: dict, body: bytes, will_close: bool = False):
        self.status = status
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body
        self.will_close = will_close


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


class Connection:
    """One keep-alive connection to ``host:port`` (TLS with ``ssl_context``); not
    thread-safe: one per thread."""

    def __init__(self, host: str, port: int, timeout: float,
                 ssl_context: ssl.SSLContext | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.sock = None
        self.last_used = 0.0
        self.answered = False  # the last response's head has arrived
        self.thread = None  # the owner's bookkeeping
        self._rest = b""  # received, not yet consumed

    # -- connecting -------------------------------------------------------------------------
    def connect(self) -> None:
        """Raises OSError (socket.gaierror, ConnectionRefusedError, TimeoutError …) and
        ssl.SSLError as they come."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            elif _KERNEL_TIMEOUTS:
                sock.settimeout(None)
                secs = max(0.001, float(self.timeout))
                tv = struct.pack("ll", int(secs), int((secs % 1) * 1e6))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._rest = b""
        self.last_used = time.monotonic()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._rest = b""
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def usable(self) -> bool:
        """A connection exists and (if it was idle a while) the server has not closed it."""
        if self.sock is None:
            return False
        if time.monotonic() - self.last_used > IDLE_CHECK and peer_closed(self.sock):
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
            return self.sock.recv(RECV)
        except BlockingIOError:
            raise TimeoutError("timed out waiting for the server") from None

    def _recv_into(self, view) -> int:
        try:
            return self.sock.recv_into(view)
        except BlockingIOError:
            raise TimeoutError("timed out waiting for the server") from None

    def read_response(self, method: str, on_data=None, more: bool = False) -> Response:
        """The answer to the request just sent. ``on_data(memoryview)`` receives a 2xx
        answer's body in pieces instead of it being kept. ``more``: another request was sent
        after this one (pipelined): bytes after this answer are the start of its answer."""
        buf = self._rest
        self._rest = b""
        self.answered = False
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
                more = self._recv()
                if not more:
                    if buf:
                        raise http.client.IncompleteRead(buf)
                    raise http.client.RemoteDisconnected("the server closed the connection "
                                                         "without an answer")
                buf = buf + more if buf else more
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
        sink = on_data if on_data is not None and 200 <= status < 300 else None
        parts: list = []
        if method == "HEAD" or status in _NO_BODY_STATUS:
            rest = buf
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            rest = self._read_chunked(buf, sink, parts)
        else:
            length = headers.get("content-length")
            if length is not None:
                try:
                    n = int(length.split(",")[0])
                except ValueError:
                    raise http.client.HTTPException(f"bad Content-Length {length!r}") from None
                rest = self._read_length(buf, n, sink, parts)
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

    def _read_length(self, buf: bytes, n: int, sink, parts: list) -> bytes:
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
                more = self._recv()
                if not more:
                    raise http.client.IncompleteRead(b"", left)
                if len(more) > left:
                    parts.append(more[:left])
                    return more[left:]
                parts.append(more)
                left -= len(more)
            return b""
        big = bytearray(min(left, 1 << 20))
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

    def _read_chunked(self, buf: bytes, sink, parts: list) -> bytes:
        while True:
            while True:
                i = buf.find(b"\n")
                if i >= 0:
                    break
                if len(buf) > MAX_HEAD:
                    raise http.client.HTTPException("bad chunk size line")
                more = self._recv()
                if not more:
                    raise http.client.IncompleteRead(buf)
                buf += more
            line = buf[:i].split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise http.client.HTTPException(f"bad chunk size {line[:20]!r}") from None
            buf = buf[i + 1:]
            if size == 0:
                break
            buf = self._read_length(buf, size, sink, parts)
            while len(buf) < 2:  # the CRLF after the chunk
                more = self._recv()
                if not more:
                    raise http.client.IncompleteRead(buf)
                buf += more
            buf = buf[2:] if buf[:2] == b"\r\n" else buf[1:]
        while True:  # trailers, up to an empty line
            i = buf.find(b"\n")
            if i < 0:
                more = self._recv()
                if not more:
                    raise http.client.IncompleteRead(buf)
                buf += more
                continue
            line, buf = buf[:i].strip(), buf[i + 1:]
            if not line:
                return buf


CHUNK = 1 << 20
DEPTH = 2  # buffers: chunks being read, hashed or sent at once (4 and 8 measured slower)
_CRYPTO = ("md5", "sha1", "sha256")


def hashed_chunks(src, extras: dict, ctx, size: int, chunk: int = CHUNK):
    """Yield the next ``size`` bytes of ``src`` (a SourceReader) as memoryviews of at most
    ``chunk`` bytes, hashed on helper threads meanwhile (the reader's own checksum, and the
    hashers in ``extras`` {algorithm: hasher}); ``ctx.sent(n)`` before each chunk is yielded.
    A view stays valid until the generator is resumed ``DEPTH`` times. Raises FileChangedError
    if the file ends early."""
    from concurrent.futures import ThreadPoolExecutor

    from datauploader.errors import FileChangedError

    heavy = [h for a, h in extras.items() if a in _CRYPTO]
    light = [h for a, h in extras.items() if a not in _CRYPTO]

    def own(view):
        src.skip_hash(view)
        for h in light:
            h.update(view)

    def other(view):
        for h in heavy:
            h.update(view)

    lanes = [(ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash"), own)]
    if heavy:
        lanes.append((ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash"), other))
    bufs = tuple(bytearray(min(chunk, size)) for _ in range(DEPTH))
    pending: list = [()] * DEPTH
    done = i = 0
    try:
        while done < size:
            slot = i % DEPTH
            for f in pending[slot]:
                f.result()
            view = memoryview(bufs[slot])[:min(chunk, size - done)]
            n = src.readinto(view, hash_it=False)
            if not n:
                raise FileChangedError(f"{src.path} shrank while it was read; it is probably "
                                       "still being written. Resume the job once it is "
                                       "complete.")
            piece = view[:n]
            pending[slot] = [pool.submit(fn, piece) for pool, fn in lanes]
            ctx.sent(n)
            yield piece
            done += n
            i += 1
    finally:
        for futures in pending:
            for f in futures:
                f.result()
        for pool, _ in lanes:
            pool.shutdown()
