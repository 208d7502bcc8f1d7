"""The terminal progress line: drawn from the same ProgressTracker snapshots as the window."""

import io
import os
import pty
import threading

from datauploader.cli.main import main
from datauploader.cli.progress import TerminalProgress
from datauploader.core.clock import FakeClock
from datauploader.core.progress import ProgressTracker
from datauploader.errors import Reaction
from datauploader.events import (BytesSent, FileDone, FileFailed, FileRetrying, FileStarted,
                                 JobDone, JobStarted)
from datauploader.states import JobState
from datauploader.units import human_bytes


def test_line_messages_and_last_line_from_snapshots():
    clock = FakeClock()
    tracker = ProgressTracker(clock=clock.monotonic)
    stream = io.StringIO()
    display = TerminalProgress(stream)
    display.render(tracker.snapshot())
    assert stream.getvalue() == ""  # nothing before the job has started
    tracker.on_job_started(JobStarted(1, files_total=2, bytes_total=2000, files_done=0,
                                      bytes_done=0))
    tracker.on_file_started(FileStarted(1, 1, "a", 1000, 1))
    display.render(tracker.snapshot())
    clock.advance(2.0)
    tracker.on_bytes(BytesSent(1, 1, 400))
    s = tracker.snapshot()
    assert display.line(s) == " 20.0%  400 B / 2.0 KiB  0/2 files  200 B/s  ETA 0:08"
    display.render(s)
    tracker.on_file_retrying(FileRetrying(1, 2, "b", 1, 3.0, "no answer in time"))
    tracker.on_file_done(FileDone(1, 1, "a", 1000, "ab", "sha256", "P/a", "folder:/x/P/a",
                                  "size"))
    tracker.on_file_failed(FileFailed(1, 2, "b", "b could not be read.", Reaction.FILE, 2))
    error = "1 of 2 files failed; the others are uploaded and registered."
    tracker.on_job_done(JobDone(1, JobState.INCOMPLETE, 1, 1, 1000, 3.0, error, exit_code=4))
    display.finish(tracker.snapshot())
    lines = stream.getvalue().split("\n")
    # each message on a line of its own; the job's own error is left to the command's summary
    assert [line.split("\r")[-1] for line in lines] == [
        "Retrying b in 3 s: no answer in time", "Failed: b: b could not be read.",
        " 50.0%  1000 B / 2.0 KiB  1/2 files  1 failed", ""]
    assert error not in stream.getvalue()


def test_an_upload_on_a_terminal_draws_the_line(cli, data):
    main_fd, terminal_fd = pty.openpty()
    terminal = open(terminal_fd, "w", encoding="utf-8")
    seen = []

    def read():
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # the terminal side is closed
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    out = io.StringIO()
    try:
        code = main(["upload", "--proposal", "P", "--dataset", "D", str(data)], cli.env, out,
                     terminal)
    finally:
        terminal.close()
        reader.join(10)
        os.close(main_fd)
    assert code == 0
    shown = b"".join(seen).decode().replace("\r\n", "\n")
    assert "Job 1: 5 files" in shown
    total = human_bytes(sum(f.stat().st_size for f in data.rglob("*") if f.is_file()))
    assert shown.rstrip().split("\r")[-1] == f"100.0%  {total} / {total}  5/5 files"
    assert "Job 1 completed: 5 files" in out.getvalue()
