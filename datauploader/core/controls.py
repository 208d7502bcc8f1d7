"""What a front-end holds to steer a running job: pause, resume, cancel, finish."""

from __future__ import annotations

import threading

from datauploader.errors import CancelledError


class JobControls:
    """Pause, resume and cancel one running job, from any thread."""

    def __init__(self):
        self.cancel_event = threading.Event()
        self.finish_event = threading.Event()  # sync mode: stop watching, finish the dataset
        self._running = threading.Event()
        self._running.set()
        self._listeners: list = []
        self._on_cancel: list = []

    def on_cancel(self, fn) -> None:
        """Call ``fn()`` (from the cancelling thread) when the job is cancelled: the engine
        interrupts transfers blocked on a silent server."""
        self._on_cancel.append(fn)
        if self.cancelled:
            fn()

    def cancel(self) -> None:
        self.cancel_event.set()
        self._running.set()  # wake paused workers so that they see the cancel
        for fn in list(self._on_cancel):
            try:
                fn()
            except Exception:  # noqa: BLE001 - cancelling must never fail
                pass

    def finish(self) -> None:
        """Sync mode: a last scan, upload what remains, finalize the dataset."""
        self.finish_event.set()

    def pause(self) -> None:
        self._running.clear()
        for fn in self._listeners:
            fn(True)

    def resume(self) -> None:
        self._running.set()
        for fn in self._listeners:
            fn(False)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise CancelledError once cancelled."""
        if not self._running.is_set():
            self._running.wait()
        if self.cancel_event.is_set():
            raise CancelledError()
