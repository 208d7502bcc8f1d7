"""Entry script of the frozen program (PyInstaller): both executables run this file.

``datauploader`` (console) is the command line: ``datauploader`` alone opens the window,
``datauploader upload …`` and friends run headless, exactly as the pip-installed command.
``datauploader-gui`` (windowed on Windows: no console window; on Linux a symbolic link to
``datauploader``) always opens the window;
its arguments are those of ``datauploader gui`` (``--profile P``, ``--smoke-test``).
"""

import os
import sys


def _is_gui_executable() -> bool:
    # Windows: a separate windowed executable. Linux: a symbolic link to the one executable,
    # so the name it was started with (argv[0]) tells, not the resolved sys.executable.
    names = (sys.executable, sys.argv[0] if sys.argv else "")
    return any(os.path.splitext(os.path.basename(n))[0].lower().endswith("-gui") for n in names)


def _main() -> None:
    argv = sys.argv[1:]
    if _is_gui_executable():
        # A windowed Windows executable has no console: sys.stdout and sys.stderr are None,
        # and code that writes to them would fail; send such output nowhere instead.
        for stream in ("stdout", "stderr"):
            if getattr(sys, stream) is None:
                setattr(sys, stream, open(os.devnull, "w", encoding="utf-8"))
        argv = ["gui", *argv]
    from datauploader.cli.main import main

    sys.exit(main(argv))


if __name__ == "__main__":
    _main()
