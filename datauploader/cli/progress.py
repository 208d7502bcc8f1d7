"""Terminal progress: one line redrawn from ``core.progress`` snapshots (the same ones the
window shows), and above it, line by line, what the snapshot's messages say (retries,
failures, a silent server, what the watcher sees). When standard error is not a terminal (a
log, a pipe, a scheduler), or with --json, only the lines that need attention are written
(retries, failures, a silent server): never the redrawn one."""

from __future__ import annotations

import time

from datauploader.core.progress import JobSnapshot
from datauploader.units import human_bytes, human_duration, human_rate


class TerminalProgress:
    """Drawn from one thread (the command's main thread, between waits for the job)."""

    def __init__(self, stream, wall_clock=time.time, redraw: bool = True):
        self.stream = stream
        self.redraw = redraw  # False: messages only (not a terminal)
        self.wall_clock = wall_clock  # for "last file … ago" (SyncStatus keeps wall time)
        self._width = 0

    def render(self, s: JobSnapshot) -> None:
        for text in s.messages if self.redraw else s.warnings:
            if s.finished and text == s.error:
                continue  # the command's last line says it
            self.note(text)
        if s.started and self.redraw:
            self._draw(self.line(s))

    def finish(self, s: JobSnapshot) -> None:
        """The last snapshot: drawn, and the line left standing."""
        self.render(s)
        self.close()

    def close(self) -> None:
        """End the progress line, if one is drawn."""
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def note(self, text: str) -> None:
        """A line of its own above the progress line."""
        if not self.redraw:
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        self.stream.write("\r" + " " * self._width + "\r" + text + "\n")
        self.stream.flush()
        self._width = 0

    def line(self, s: JobSnapshot) -> str:
        sync = s.sync
        if sync is not None:
            # sync mode: totals grow; what the watcher sees matters more than an ETA
            parts = [f"{sync.seen} seen", f"{sync.settling} settling", f"{sync.queued} queued",
                     f"{sync.uploaded} uploaded", human_rate(s.speed)]
            if sync.failed:
                parts.append(f"{sync.failed} failed")
            if sync.last_file:
                ago = human_duration(self.wall_clock() - (sync.last_file_at or 0))
                parts.append(f"last: {sync.last_file} {ago} ago")
            if sync.idle_warning:
                parts.append("NO NEW FILE for a while")
            if sync.finishing:
                parts.insert(0, "finishing")
            return "  ".join(parts)
        parts = [f"{100 * s.fraction:5.1f}%",
                 f"{human_bytes(s.bytes_done)} / {human_bytes(s.bytes_total)}",
                 f"{s.files_done}/{s.files_total} files"]
        if not s.finished:  # once finished, the command's summary gives the average speed
            parts += [human_rate(s.speed),
                      f"ETA {human_duration(s.eta)}" if s.eta is not None else "ETA --:--"]
        if s.files_failed:
            parts.append(f"{s.files_failed} failed")
        return "  ".join(parts)

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
