"""Running a job from the command line: the job on a thread of its own, so that the main
thread stays free for Ctrl-C / SIGTERM (which cancel it) and for the terminal display."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TextIO

from datauploader.cli.progress import TerminalProgress
from datauploader.core.controls import JobControls
from datauploader.core.progress import ProgressTracker
from datauploader.events import JobDone

log = logging.getLogger(__name__)


def is_terminal(stream) -> bool:
    return getattr(stream, "isatty", lambda: False)()


class JobRunner:
    """``quiet`` (``--json``): no progress line and no informational lines, only the lines
    that need attention (retries, failures, a silent server), as when stderr is a pipe."""

    def __init__(self, service, stderr: TextIO, quiet: bool, interval: float = 0.2):
        self.service = service
        self.stderr = stderr
        self.quiet = quiet
        self.interval = interval  # between redraws of the progress line

    def run(self, job_id: int, overrides: dict | None = None,
            finish_after_idle: float | None = None) -> JobDone:
        job = self.service.journal.job(job_id)
        for warning in [*self.service.tls_warnings(job.profile),
                        self.service.login_warning(job_id)]:
            if warning:
                self.stderr.write(f"warning: {warning}\n")
                log.warning("%s", warning)
        controls = JobControls()
        tracker = ProgressTracker()
        display = TerminalProgress(self.stderr,
                                   redraw=not self.quiet and is_terminal(self.stderr))
        result: dict = {}

        def target():
            try:
                result["done"] = self.service.run_job(job_id, [tracker], controls, overrides,
                                                      finish_after_idle=finish_after_idle)
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                result["error"] = e

        def on_signal(signum, frame):
            if controls.cancelled:  # a second Ctrl-C: the user really means it
                raise KeyboardInterrupt
            if not self.quiet:
                display.note("Cancelling; finishing the current step (press Ctrl-C again to "
                             "quit at once)…")
            controls.cancel()

        thread = threading.Thread(target=target, name=f"job-{job_id}")
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            thread.start()
            while thread.is_alive():
                thread.join(self.interval)
                if thread.is_alive():
                    display.render(tracker.snapshot())
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if "done" in result:
            display.finish(tracker.snapshot())
        else:
            display.close()
        if "error" in result:
            raise result["error"]
        return result["done"]
