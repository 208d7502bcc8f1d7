"""Short background calls (log in, list investigations, scan folders, verify) off the GUI
thread; the result or the error comes back as a signal on the GUI thread."""

from __future__ import annotations

import logging
import traceback

from PyQt5.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal, pyqtSlot

log = logging.getLogger(__name__)


class _Signals(QObject):
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(object)  # the exception
    finished = pyqtSignal()


class _Runnable(QRunnable):
    def __init__(self, fn, signals: _Signals):
        super().__init__()
        self.fn = fn
        self.signals = signals
        self.setAutoDelete(True)

    @pyqtSlot()
    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as e:  # noqa: BLE001 - handed to the GUI thread
            if not getattr(e, "message", None):
                log.error("background call failed:\n%s", traceback.format_exc())
            self.signals.failed.emit(e)
        else:
            self.signals.succeeded.emit(result)
        self.signals.finished.emit()


class BackgroundCall(QObject):
    """``BackgroundCall(fn, on_success, on_failure).start()``; keep a reference until done
    (the owner's ``self._calls`` set does that)."""

    def __init__(self, fn, on_success=None, on_failure=None, parent=None, pool=None):
        super().__init__(parent)
        self.signals = _Signals()
        if on_success is not None:
            self.signals.succeeded.connect(on_success)
        if on_failure is not None:
            self.signals.failed.connect(on_failure)
        self._fn = fn
        self._pool = pool or QThreadPool.globalInstance()

    def start(self) -> "BackgroundCall":
        self._pool.start(_Runnable(self._fn, self.signals))
        return self


class Calls:
    """Keeps background calls alive until they finish (Python would collect them)."""

    def __init__(self):
        self._live: set = set()

    def run(self, fn, on_success=None, on_failure=None) -> BackgroundCall:
        call = BackgroundCall(fn, on_success, on_failure)
        self._live.add(call)
        call.signals.finished.connect(lambda: self._live.discard(call))
        return call.start()

    @property
    def busy(self) -> bool:
        return bool(self._live)
