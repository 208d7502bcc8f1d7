"""What the command line prints for scripts: one JSON document, and a standard output that a
reader who stopped reading (``datauploader jobs --json | head -1``) does not turn into a
traceback."""

from __future__ import annotations

import json
import os
from typing import TextIO


def write_json(out: TextIO, doc, default=None) -> None:
    json.dump(doc, out, ensure_ascii=False, indent=2, default=default)
    out.write("\n")


def error_document(message: str, exit_code: int) -> dict:
    """What ``--json`` prints when a command fails before it has a document of its own (the
    same two fields a job's document has for its outcome)."""
    return {"error": message, "exit_code": int(exit_code)}


class ClosedPipeSafe:
    """Standard output whose reader may go away: once the pipe is closed, the rest of the
    output is dropped (and the stream pointed at the null device, so that flushing it when
    Python exits does not fail either); the command still ends with its own exit status."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.closed_pipe = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a file descriptor (a StringIO)
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding …
        return getattr(self._stream, name)
