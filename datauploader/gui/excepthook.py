"""An unexpected error anywhere shows a dialog with details and the log file's path, instead
of PyQt5 aborting the process (it does on an unhandled exception in a slot)."""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QApplication, QMessageBox

log = logging.getLogger(__name__)


class _Reporter(QObject):
    report = pyqtSignal(str, str)  # message, details (marshalled to the GUI thread)

    def __init__(self, log_file: str):
        super().__init__()
        self.log_file = log_file
        self.report.connect(self._show)
        self.shown = 0

    def _show(self, message: str, details: str) -> None:
        self.shown += 1
        box = QMessageBox(QApplication.activeWindow())
        box.setIcon(QMessageBox.Critical)
        box.setWindowTitle(QApplication.translate("excepthook", "DataUploader: unexpected error"))
        box.setText(QApplication.translate(
            "excepthook", "Something unexpected went wrong: {0}\n\nUploads already done are "
            "safe, and a running job can be resumed. The details are in the log file:\n{1}")
            .format(message, self.log_file))
        box.setDetailedText(details)
        box.setModal(False)
        box.show()


_reporter: _Reporter | None = None


def install(log_file: str) -> _Reporter:
    global _reporter
    _reporter = _Reporter(log_file)

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled exception:\n%s", details)
        _reporter.report.emit(f"{exc_type.__name__}: {exc}", details)

    def thread_hook(args):
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
    return _reporter
