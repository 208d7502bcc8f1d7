"""Small helpers to drive the real widgets the way a user does."""

from PyQt5.QtCore import QMimeData, QPoint, Qt, QUrl
from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QApplication


def drop_paths(widget, paths):
    """Drag files from a file manager and drop them on ``widget``."""
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(10, 10)
    enter = QDragEnterEvent(pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget.viewport() if hasattr(widget, "viewport") else widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget.viewport() if hasattr(widget, "viewport") else widget, drop)
    assert drop.isAccepted()


def log_in(qtbot, w, profile=None):
    if profile is not None:
        w.login.profile.setCurrentIndex(w.login.profile.findData(profile))
    qtbot.waitUntil(lambda: w.login.button.isEnabled(), timeout=10000)
    with qtbot.waitSignal(w.login.login_succeeded, timeout=20000):
        qtbot.mouseClick(w.login.button, Qt.LeftButton)


def define(qtbot, w, proposal, name, paths, exclude=""):
    d = w.dataset
    d.proposal.setFocus()
    d.proposal.lineEdit().clear()
    qtbot.keyClicks(d.proposal.lineEdit(), proposal)
    d.name.clear()
    qtbot.keyClicks(d.name, name)
    if exclude:
        qtbot.keyClicks(d.exclude, exclude)
    with qtbot.waitSignal(d.plan_ready, timeout=20000,
                          check_params_cb=lambda p: p is not None and p.plan.files):
        drop_paths(d.files, paths)
