"""Errors, classified where they happen.

Two tiers (docs/architecture.md, "Errors and exit codes"): a ``UserFacingError`` family whose
message is one plain sentence for the operator (what happened and what to do), and everything
else, which front-ends show as a generic sentence with details. Each class also says how the
engine reacts:

* ``TransientError``: retry with backoff (timeouts, connection drops, 5xx, throttling).
* ``AuthError``: stop the job and ask for credentials; retrying cannot help.
* ``FileError``: this one file failed (unreadable, changed while read, exists remotely with
  other content); record why and carry on with the rest.
* anything else: a bug or an unexpected condition; the job stops, resumable.

Exit codes for the command line live here too, in one table, so that every front-end agrees.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from enum import Enum, IntEnum


class ExitCode(IntEnum):
    """The command line's exit statuses, each with its meaning (the ``--help`` epilog and the
    README's table are made from these)."""

    def __new__(cls, code: int, meaning: str):
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "done"
    ERROR = 1, "unexpected error (a bug: run with --debug, or see the log file)"
    USAGE = 2, ("bad command line, input path or configuration (the message names file, "
                "section and key)")
    AUTH = 3, "credentials refused or missing, or insufficient privileges"
    INCOMPLETE = 4, "some files failed, or verify found problems; the job is resumable"
    UNREACHABLE = 5, "a server could not be reached after retries; the job is resumable"
    BUSY = 6, ("the job, or another job writing the same dataset on this computer, is running; "
               "nothing was sent")
    INTERRUPTED = 130, "cancelled (Ctrl-C, SIGTERM); the job is resumable"


class DataUploaderError(Exception):
    """Base class of all our own errors."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class UserFacingError(DataUploaderError):
    """Its message is written for the operator and may be shown as is: something to fix
    (a setting, a name, a path, the server's address) rather than a bug, so its exit status
    is 2 unless a subclass says otherwise (credentials 3, files 4, unreachable 5, busy 6)."""

    exit_code = ExitCode.USAGE


class UsageError(UserFacingError):
    exit_code = ExitCode.USAGE


class InputError(UsageError):
    """A path, a name or a value given by the user cannot be used."""


class UnsafeKeyError(InputError):
    """A remote key would escape its prefix or is not valid on the target."""


class ConfigError(UsageError):
    """Something wrong in a configuration file: names the file, the section and the key."""

    def __init__(self, problem: str, *, file: str | None = None, section: str | None = None,
                 key: str | None = None, details: str | None = None):
        self.problem = problem
        self.file = file
        self.section = section
        self.key = key
        where = []
        if file:
            where.append(f"In {file}")
        if section:
            where.append(f"section [{section}]")
        if key:
            where.append(f"key '{key}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + problem, details=details)


class AuthError(UserFacingError):
    """Credentials were refused or are missing; the user must log in again."""

    exit_code = ExitCode.AUTH


class PermissionDeniedError(AuthError):
    """Authenticated, but not allowed to do this."""


class UnknownHostKeyError(AuthError, metaclass=ABCMeta):
    """A server presented a key this computer has never trusted (an SFTP host key). Front-ends
    show ``host``, ``port``, ``key_type`` and ``fingerprint`` and call ``trust()`` only after an
    explicit yes; ``trust_file`` is where it is then recorded."""

    host: str
    port: int
    key_type: str
    fingerprint: str
    trust_file: str

    @abstractmethod
    def trust(self) -> None:
        """Record the key as trusted (each kind of key knows where)."""


class TransientError(DataUploaderError):
    """A fault that may go away: retry with backoff."""

    def __init__(self, message: str, *, details: str | None = None, retry_after: float | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class UnreachableError(TransientError, UserFacingError):
    """A server could not be reached (connection refused, DNS, timeout)."""

    exit_code = ExitCode.UNREACHABLE


def network_reason(e: BaseException, host: str = "") -> str:
    """A network failure in plain words ("connection refused", "no answer in time" …)."""
    import http.client
    import socket
    import ssl

    if isinstance(e, socket.gaierror):
        return f"the host name {host} could not be resolved" if host else \
            "the host name could not be resolved"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "no answer in time"
    if isinstance(e, (http.client.RemoteDisconnected, ssl.SSLEOFError, ssl.SSLZeroReturnError,
                      EOFError)):
        return "the server closed the connection"
    if isinstance(e, ConnectionResetError):
        return "the connection was reset"
    if isinstance(e, (BrokenPipeError, ConnectionAbortedError)):
        return "the connection was broken"
    if isinstance(e, http.client.HTTPException):
        return f"the answer was cut short or malformed ({type(e).__name__})"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[0].lower() + e.strerror[1:]
    return str(e) or type(e).__name__


def unreachable(server: str, e: BaseException, connecting: bool, host: str = "",
                reason: str | None = None) -> UnreachableError:
    """The error for a server that could not be reached (``connecting``) or that dropped the
    connection; ``server`` names it ("the S3 server at https://…")."""
    reason = reason or network_reason(e, host)
    if connecting:
        msg = (f"Cannot reach {server}: {reason}. Check the address and the network; the job "
               "can be resumed.")
    else:
        msg = (f"The connection to {server} failed: {reason}. The transfer can be retried; the "
               "job can be resumed.")
    return UnreachableError(msg, details=f"{type(e).__name__}: {e}")


class FileError(UserFacingError):
    """One file could not be uploaded; the others carry on."""

    exit_code = ExitCode.INCOMPLETE


class SourceFileError(FileError):
    """The local file is missing or unreadable."""


class FileChangedError(FileError):
    """The local file changed while it was read; it is probably still being written."""


class RemoteExistsError(FileError):
    """The remote object exists and is not ours (or has other content): never overwritten."""


class VerificationError(FileError):
    """What the server reports does not match what we sent."""


class StorageFullError(FileError, UserFacingError):
    """The target has no space left (or a quota is exceeded)."""


class CatalogueError(UserFacingError):
    """The catalogue refused a request (validation, conflict)."""


class BusyError(UserFacingError):
    """The job is running elsewhere, or another job writes the same dataset on this computer."""

    exit_code = ExitCode.BUSY


class CancelledError(UserFacingError):
    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "The job was cancelled; nothing is lost.", **kw):
        super().__init__(message, **kw)


class Reaction(str, Enum):
    """How the engine reacts to an error (``classify``)."""

    RETRY = "retry"  # a fault that may go away: retry with backoff
    AUTH = "auth"  # credentials refused: stop the job, ask for them
    FILE = "file"  # this one file failed: record why, carry on with the others
    CANCEL = "cancel"  # the user cancelled
    FATAL = "fatal"  # a bug or an unexpected condition: the job stops, resumable
    #: not an exception's: what should be in the dataset could not even be planned
    UNPLANNED = "unplanned"

    def __str__(self) -> str:
        return self.value


def classify(exc: BaseException) -> Reaction:
    """How the engine reacts to ``exc``."""
    if isinstance(exc, CancelledError):
        return Reaction.CANCEL
    if isinstance(exc, AuthError):
        return Reaction.AUTH
    if isinstance(exc, TransientError):
        return Reaction.RETRY
    if isinstance(exc, FileError):
        return Reaction.FILE
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return Reaction.RETRY
    if isinstance(exc, OSError):
        import errno
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return Reaction.FILE
        if exc.errno in (errno.ETIMEDOUT, errno.ECONNRESET, errno.EPIPE, errno.EHOSTUNREACH,
                         errno.ENETUNREACH, errno.ECONNREFUSED, errno.ECONNABORTED):
            return Reaction.RETRY
        return Reaction.FILE
    return Reaction.FATAL


def describe(exc: BaseException) -> str:
    """One sentence for the user, whatever ``exc`` is."""
    if isinstance(exc, UserFacingError):
        return exc.message
    if isinstance(exc, DataUploaderError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}."
    return f"Unexpected error: {type(exc).__name__}: {exc}"
