"""Logging in to a profile's catalogue: the ``login`` command, and the login every command
that talks to the catalogue does first."""

from __future__ import annotations

import sys

from datauploader.errors import ExitCode, InputError


def log_in(service, profile, args, err, stdin=None, remember=False) -> str:
    """Log in with what the command line, the environment, the keyring or a prompt gives;
    returns the user name the catalogue knows us by."""
    stdin = stdin or sys.stdin
    creds = {}
    for item in getattr(args, "credential", []) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--credential '{item}' should be FIELD=VALUE.")
        creds[key.strip()] = value
    if getattr(args, "username", None):
        creds["username"] = args.username
    fields = service.catalogue(profile).credential_fields()
    for f in fields:
        if f.secret and f.name in creds:
            err.write(f"warning: --credential {f.name}=… can be read by other users of this "
                      "computer in its process list; prefer --password-stdin or "
                      f"DATAUPLOADER_{f.name.upper()}.\n")
    if getattr(args, "password_stdin", False):
        secret = stdin.readline().rstrip("\r\n")
        for f in fields:
            if f.secret and f.name not in creds:
                creds[f.name] = secret
                break
    interactive = getattr(stdin, "isatty", lambda: False)()

    def prompt(field):
        if not interactive:
            return None
        if field.secret:
            import getpass
            return getpass.getpass(f"{field.label}: ")
        err.write(f"{field.label}{f' ({field.default})' if field.default else ''}: ")
        err.flush()
        return stdin.readline().strip() or field.default

    return service.login(profile, creds, prompt=prompt, remember=remember)


def cmd_login(service, args, out, err) -> int:
    profile = args.profile or service.config.default_profile
    if args.forget:
        gone = service.forget_login(profile, {"username": args.username} if args.username else {})
        out.write("Forgotten.\n" if gone else "Nothing was remembered.\n")
        return ExitCode.OK
    user = log_in(service, profile, args, err, remember=args.remember)
    out.write(f"Logged in to {service.catalogue(profile).describe()} as {user}"
              + (" (remembered in the OS keyring)" if args.remember else "") + ".\n")
    return ExitCode.OK
