"""The command line: the headless front-end over the same service as the window.

``main(argv, env, stdout, stderr)`` runs one command and turns every outcome into an exit
status from one table (``errors.ExitCode``) so that scripts can rely on it. A failure is one
sentence on standard error (tracebacks only with ``--debug``); with ``--json`` it is also a
JSON document on standard output, so that a script always gets one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from typing import Mapping, TextIO

from datauploader import __version__
from datauploader.app.paths import resolve
from datauploader.cli.commands import COMMANDS
from datauploader.cli.output import ClosedPipeSafe, error_document, write_json
from datauploader.cli.parser import build_parser
from datauploader.errors import DataUploaderError, ExitCode, UsageError, UserFacingError

log = logging.getLogger(__name__)


def _wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for JSON, even one that does not parse."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in options


def loggable(argv: list[str]) -> list[str]:
    """The command line as the log may show it: the values of --credential never."""
    out, hide = [], False
    for a in argv:
        if hide:
            a, hide = a.partition("=")[0] + "=…", False
        elif a == "--credential":
            hide = True
        elif a.startswith("--credential="):
            a = "--credential=" + a.split("=", 2)[1] + "=…"
        out.append(a)
    return out


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = ClosedPipeSafe(stdout or sys.stdout)
    err = stderr or sys.stderr
    env = dict(os.environ if env is None else env)
    as_json = _wants_json(argv)
    debug = False
    service = None

    def failed(message: str, code: int, hint: str = "") -> int:
        err.write(f"error: {message}\n")
        if debug:
            traceback.print_exc(file=err)
        elif hint:
            err.write(hint)
        if as_json:
            write_json(out, error_document(message, code))
        return code

    try:
        parser = build_parser()
        try:
            with contextlib.redirect_stdout(out):  # --help and --version print to stdout
                args = parser.parse_args(argv)
        except SystemExit as e:
            return int(e.code or 0)
        debug = args.debug
        if args.command in (None, "gui"):
            from datauploader.gui.app import run_from_cli
            return run_from_cli(args)
        if args.command == "config" and args.config_command is None:
            raise UsageError("say 'config show' or 'config check'.")
        paths = resolve(env)
        from datauploader.app.logs import configure_logging
        from datauploader.app.service import Service

        service = Service.open(paths, args.config, env)
        level = service.config.effective_settings(getattr(args, "profile", None))["log_level"]
        configure_logging(paths, str(level), debug)
        log.info("datauploader %s: %s", __version__, " ".join(loggable(argv)))
        return COMMANDS[args.command](service, args, out, err)
    except KeyboardInterrupt:
        message = "Interrupted; the job can be resumed."
        err.write(f"\n{message}\n")
        if as_json:
            write_json(out, error_document(message, ExitCode.INTERRUPTED))
        return ExitCode.INTERRUPTED
    except UserFacingError as e:
        return failed(e.message, e.exit_code,
                      "(run with --debug for details)\n" if e.details else "")
    except DataUploaderError as e:
        return failed(e.message, e.exit_code)
    except Exception as e:  # noqa: BLE001 - the last line of defence
        log.exception("unexpected error")
        return failed(f"Unexpected error: {type(e).__name__}: {e}", ExitCode.ERROR,
                      "Run again with --debug for details, or see the log file.\n")
    finally:
        out.flush()
        if service is not None:
            service.close()


def run() -> None:
    sys.exit(main(sys.argv[1:]))
