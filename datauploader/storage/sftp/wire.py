"""The SFTP wire protocol as the upload path speaks it (version 3, draft-ietf-secsh-filexfer-02).

``Wire`` writes the per-file requests (OPEN, WRITE, CLOSE, STAT, RENAME) straight to the
channel of paramiko's SFTPClient, several in one send, and parses their answers from one
buffer: a small file costs three round trips (OPEN; the WRITEs, CLOSE and a STAT of the
temporary file pipelined; RENAME). ``read_pipelined`` reads a file back with many requests in
flight, on paramiko's request API.
"""

from __future__ import annotations

import errno
import struct
from collections import deque

from datauploader.storage.sftp.paramiko_import import paramiko

# the requests the upload path sends itself, their answers, the open flags, the status codes
_FXP_OPEN, _FXP_CLOSE, _FXP_WRITE, _FXP_STAT, _FXP_RENAME = 3, 4, 6, 17, 18
_FXP_STATUS, _FXP_HANDLE, _FXP_ATTRS = 101, 102, 105
FXF_READ, FXF_WRITE, FXF_CREAT, FXF_TRUNC, FXF_EXCL = 0x1, 0x2, 0x8, 0x10, 0x20
_FX_OK, _FX_EOF, _FX_NO_SUCH_FILE, _FX_PERMISSION_DENIED = 0, 1, 2, 3
_ATTR_SIZE = 0x1
_HEAD = struct.Struct(">IBI")  # length, type, request id
_U32 = struct.Struct(">I")
_U64_U32 = struct.Struct(">QI")


class WireError(Exception):
    """The SFTP stream is out of step (an answer nobody asked for): drop the connection."""


class Wire:
    """SFTP requests written straight to the channel of paramiko's SFTPClient, several in one
    send (so in one SSH packet when they fit), and their answers parsed from one buffer.

    A small file costs three round trips (OPEN; WRITE + CLOSE + STAT; RENAME) and a handful of
    SSH packets, where paramiko's file API costs a packet per request, two channel reads per
    answer and debug-log formatting for each call. Request ids come from the SFTPClient's
    counter, and every request sent is answered and read before paramiko's own methods run
    again on the connection (an error in between drops the connection)."""

    __slots__ = ("sftp", "chan", "rest", "out", "unsent", "waiting", "early", "unacked")

    def __init__(self, sftp: paramiko.SFTPClient):
        self.sftp = sftp
        self.chan = sftp.sock
        self.rest = b""  # received, not yet parsed
        self.out: list = []  # built, not yet sent
        self.unsent: list[int] = []
        self.waiting: dict[int, int] = {}  # request id → bytes of data it carries
        self.early: dict[int, tuple] = {}  # answers that came before the one waited for
        self.unacked = 0  # bytes of WRITE data sent, not yet answered

    @property
    def busy(self) -> bool:
        return bool(self.out or self.waiting or self.early or self.rest)

    def _id(self) -> int:
        sftp = self.sftp
        with sftp._lock:
            rid = sftp.request_number
            sftp.request_number = rid + 1
        self.unsent.append(rid)
        return rid

    # -- requests (queued; ``flush`` sends them) --
    def open(self, path: bytes, flags: int) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(17 + len(path), _FXP_OPEN, rid) + _U32.pack(len(path)) +
                        path + _U32.pack(flags) + b"\0\0\0\0")  # no attributes
        return rid

    def write(self, handle: bytes, offset: int, data) -> int:
        rid = self._id()
        n = len(data)
        self.out.append(_HEAD.pack(21 + len(handle) + n, _FXP_WRITE, rid) +
                        _U32.pack(len(handle)) + handle + _U64_U32.pack(offset, n))
        self.out.append(data)
        self.waiting[rid] = n  # (counted as unacknowledged once sent)
        return rid

    def close(self, handle: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(9 + len(handle), _FXP_CLOSE, rid) + _U32.pack(len(handle)) +
                        handle)
        return rid

    def stat(self, path: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(9 + len(path), _FXP_STAT, rid) + _U32.pack(len(path)) + path)
        return rid

    def rename(self, old: bytes, new: bytes) -> int:
        rid = self._id()
        self.out.append(_HEAD.pack(13 + len(old) + len(new), _FXP_RENAME, rid) +
                        _U32.pack(len(old)) + old + _U32.pack(len(new)) + new)
        return rid

    def flush(self) -> None:
        if not self.out:
            return
        blob = b"".join(self.out)
        self.out.clear()
        waiting = self.waiting
        for rid in self.unsent:
            n = waiting.get(rid, 0)
            waiting[rid] = n
            self.unacked += n
        self.unsent.clear()
        # (a view: paramiko's sendall slices what is left after each SSH packet)
        self.chan.sendall(memoryview(blob))

    def discard_unsent(self) -> None:
        for rid in self.unsent:
            self.waiting.pop(rid, None)
        self.unsent.clear()
        self.out.clear()

    # -- answers --
    def _packet(self) -> tuple[int, int, bytes]:
        buf = self.rest
        while len(buf) < 4 or len(buf) < 4 + _U32.unpack_from(buf)[0]:
            more = self.chan.recv(1 << 20)
            if not more:
                raise EOFError("the SFTP channel was closed")
            buf = buf + more if buf else more
        n = _U32.unpack_from(buf)[0]
        if n < 5:
            raise WireError("a short SFTP answer")
        t, rid = buf[4], _U32.unpack_from(buf, 5)[0]
        body, self.rest = buf[9:4 + n], buf[4 + n:]
        return t, rid, body

    def answer(self, rid: int) -> tuple[int, bytes]:
        """(type, body) of the answer to request ``rid`` (sent before)."""
        got = self.early.pop(rid, None)
        while got is None:
            t, r, body = self._packet()
            if r not in self.waiting:
                raise WireError(f"an SFTP answer to request {r}, which is not outstanding")
            if r == rid:
                got = (t, body)
            else:
                self.early[r] = (t, body)
        self.unacked -= self.waiting.pop(rid)
        return got

    def status(self, rid: int) -> OSError | None:
        """None if request ``rid`` succeeded, else the error (not raised)."""
        t, body = self.answer(rid)
        if t != _FXP_STATUS:
            raise WireError(f"SFTP answer type {t} where a status was expected")
        return _status_error(body)

    def handle(self, rid: int) -> tuple[bytes | None, OSError | None]:
        t, body = self.answer(rid)
        if t == _FXP_HANDLE:
            n = _U32.unpack_from(body)[0]
            return body[4:4 + n], None
        if t != _FXP_STATUS:
            raise WireError(f"SFTP answer type {t} where a handle was expected")
        return None, _status_error(body) or OSError("no handle in the SFTP answer")

    def size(self, rid: int) -> tuple[int | None, OSError | None]:
        """(size, None), or (None, the error) for a STAT's answer (ENOENT: no such file)."""
        t, body = self.answer(rid)
        if t == _FXP_ATTRS:
            flags = _U32.unpack_from(body)[0]
            if not flags & _ATTR_SIZE:
                return None, OSError("the SFTP server does not report sizes")
            return struct.unpack_from(">Q", body, 4)[0], None
        if t != _FXP_STATUS:
            raise WireError(f"SFTP answer type {t} where attributes were expected")
        return None, _status_error(body) or OSError("no attributes in the SFTP answer")

    def drain(self) -> None:
        """Read every outstanding answer (ignoring what they say)."""
        self.discard_unsent()
        while self.waiting:
            self.answer(next(iter(self.waiting)))


def _status_error(body: bytes) -> OSError | None:
    code = _U32.unpack_from(body)[0]
    if code == _FX_OK:
        return None
    text = ""
    if len(body) >= 8:
        n = _U32.unpack_from(body, 4)[0]
        text = body[8:8 + n].decode("utf-8", "replace")
    if code == _FX_NO_SUCH_FILE:
        return FileNotFoundError(errno.ENOENT, text or "No such file")
    if code == _FX_PERMISSION_DENIED:
        return PermissionError(errno.EACCES, text or "Permission denied")
    if code == _FX_EOF:
        return OSError(f"unexpected end of file ({text})")
    return OSError(text or f"SFTP status {code}")


# -- reading back ------------------------------------------------------------------------------
class _Responses:
    """Read answers that paramiko hands over while it waits for another one."""

    def __init__(self):
        self.got: dict[int, tuple] = {}

    def _async_response(self, t, msg, num) -> None:  # called by paramiko's SFTPClient
        self.got[num] = (t, msg)


def read_pipelined(sftp: paramiko.SFTPClient, handle: bytes, size: int, take,
                   step: int = 32768, window: int = 32) -> int:
    """Read a whole remote file with ``window`` requests in flight, in one thread; returns
    the bytes read (more than ``size`` if the file is longer: a read past ``size`` goes with
    the others). paramiko's own prefetch uses a second thread and spins while it registers
    its requests (milliseconds of CPU per file), hence this small reader on its request API."""
    from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

    answers = _Responses()
    pending: deque = deque()
    offset = total = 0
    probe_sent = False
    while True:
        while len(pending) < window and (offset < size or not probe_sent):
            n = min(step, size - offset) if offset < size else step  # the last: past the end
            probe_sent = offset >= size
            num = sftp._async_request(answers, CMD_READ, handle, int64(offset), int(n))
            pending.append((num, offset, n))
            offset += n
        if not pending:
            return total
        num, at, n = pending.popleft()
        while num not in answers.got:
            sftp._read_response()  # one packet; ours go to ``answers``
        t, msg = answers.got.pop(num)
        if t == CMD_STATUS:
            try:
                sftp._convert_status(msg)  # raises for every status but OK
            except EOFError:  # the end of the file
                if at < size:
                    return total  # shorter than expected: the caller compares the sizes
                continue
            raise paramiko.SFTPError("Expected data")
        if t != CMD_DATA:
            raise paramiko.SFTPError("Expected data")
        data = msg.get_string()
        take(data)
        total += len(data)
        if at >= size:  # the file is longer than expected
            continue
        if len(data) < n:  # a short answer: ask for the rest next
            num = sftp._async_request(answers, CMD_READ, handle, int64(at + len(data)),
                                      int(n - len(data)))
            pending.appendleft((num, at + len(data), n - len(data)))

