"""What rclone's errors mean. Its rc answers carry only a message, so it is sorted into our
error classes by a few well-known phrases, in one function (``classify_rclone_error``), and
worded for the operator by ``rclone_error``."""

from __future__ import annotations

from datauploader.errors import (AuthError, FileChangedError, PermissionDeniedError,
                                 RemoteExistsError, StorageFullError, TransientError,
                                 UnreachableError, UserFacingError)

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


def rclone_error(message: str, doing: str, remote: str, storage_name: str) -> Exception:
    """The error for rclone's ``message`` while ``doing`` something on ``remote``."""
    kind = classify_rclone_error(message)
    where = f"the rclone remote {remote}"
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
            f"rclone cannot use the remote {remote} ({said}). Check the remote's name "
            "and rclone_config; an encrypted rclone.conf needs its password ('datauploader "
            f"credentials set {storage_name}' or RCLONE_CONFIG_PASS).", details=said)
    if kind == "auth":
        return AuthError(f"{where} refused rclone's credentials ({said}). Check the "
                         "remote's settings and secrets.", details=said)
    if kind == "denied":
        return PermissionDeniedError(f"{where} denied {doing} ({said}).", details=said)
    if kind == "unreachable":
        return UnreachableError(f"rclone cannot reach {where} ({said}); the job can be "
                                "resumed.", details=said)
    return TransientError(f"rclone failed while {doing} on {where}: {said}", details=said)

