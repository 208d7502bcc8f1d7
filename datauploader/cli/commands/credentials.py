"""Storage secrets in the OS keyring: ``credentials set|delete STORAGE`` and ``credentials
backend`` (which keyring is in use)."""

from __future__ import annotations

import sys

from datauploader.errors import ExitCode, InputError, UsageError


def cmd_credentials(service, args, out, err, stdin=None) -> int:
    if args.credentials_command == "backend":
        out.write(f"{service.secrets.backend_name}\n")
        return ExitCode.OK
    if args.credentials_command is None:
        raise UsageError("say 'credentials set STORAGE', 'credentials delete STORAGE' or "
                         "'credentials backend'.")
    if args.credentials_command == "delete":
        slot, gone = service.forget_storage_secret(args.storage)
        out.write(("Removed" if gone else "There was no") + f" secret for {slot.what}.\n")
        return ExitCode.OK
    slot = service.storage_secret_slot(args.storage)
    if args.secret_stdin:
        secret = (stdin or sys.stdin).readline().rstrip("\r\n")
    else:
        import getpass
        secret = getpass.getpass(f"{slot.prompt}: ")
    if not secret:
        raise InputError("The secret is empty; nothing was stored.")
    service.store_storage_secret(args.storage, secret)
    out.write(f"Stored the secret for {slot.what} in the OS keyring "
              f"({service.secrets.backend_name}).\n")
    return ExitCode.OK
