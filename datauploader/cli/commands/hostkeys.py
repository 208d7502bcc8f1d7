"""SFTP host keys: trusted only after the user compared the fingerprint with the one the
facility publishes (``trust-host``, or a yes at the terminal before a job)."""

from __future__ import annotations

import sys

from datauploader.errors import (AuthError, ExitCode, UnknownHostKeyError, UnreachableError,
                                 UsageError)


def ask_trust(error, err, stdin=None) -> bool:
    """On a terminal, show the unknown key and ask; elsewhere never trust."""
    stdin = stdin or sys.stdin
    if not getattr(stdin, "isatty", lambda: False)():
        return False
    err.write(f"The SFTP server {error.host}:{error.port} is not known on this computer yet.\n"
              f"  key type:    {error.key_type}\n  fingerprint: {error.fingerprint}\n"
              "Compare the fingerprint with the one your facility publishes. Trust it? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def confirm_host_key(service, storage, err, stdin=None) -> None:
    """Before a job: an unknown SFTP host key is trusted only on an explicit yes at a
    terminal; otherwise its error (fingerprint and the command to trust it) ends the
    command. A changed key is always an error. Unreachable servers are left to the job
    (retried, resumable)."""
    try:
        service.check_host_key(storage)
    except UnknownHostKeyError as e:
        if not ask_trust(e, err, stdin):
            raise
        e.trust()
        err.write(f"Trusted; recorded in {e.trust_file}.\n")
    except UnreachableError:
        pass


def cmd_trust_host(service, args, out, err, stdin=None) -> int:
    typ, options = service.config.options("storage", args.storage)
    if typ != "sftp":
        raise UsageError(f"[storage:{args.storage}] is of type {typ}; only SFTP storage has "
                         "host keys.")
    storage = service.storage_named(args.storage)
    try:
        service.check_host_key(storage)
    except UnknownHostKeyError as e:
        given = (args.fingerprint or "").strip()
        if given and given.removeprefix("SHA256:") != e.fingerprint.removeprefix("SHA256:"):
            raise AuthError(f"WARNING: the SFTP server {e.host}:{e.port} presents the key "
                            f"{e.fingerprint}, not the fingerprint you gave ({given}). Nothing "
                            "was trusted; ask your facility.") from None
        if not given and not ask_trust(e, err, stdin):
            raise UsageError(f"The SFTP server {e.host}:{e.port} presents the {e.key_type} key "
                             f"{e.fingerprint}. Compare it with the fingerprint your facility "
                             "publishes, then run: datauploader trust-host "
                             f"{args.storage} --fingerprint {e.fingerprint}") from None
        e.trust()
        out.write(f"Trusted the {e.key_type} key {e.fingerprint} of {e.host}:{e.port}; "
                  f"recorded in {e.trust_file}.\n")
        return ExitCode.OK
    out.write(f"The host key of {options['host']}:{options.get('port', 22)} is already "
              "trusted.\n")
    return ExitCode.OK
