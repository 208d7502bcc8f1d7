"""Sync mode in the window: watch a folder during acquisition, see what the watcher sees,
Finish."""

import os
import sqlite3

import pytest
from PyQt5.QtCore import Qt

from tests.gui.helpers import drop_paths, log_in


@pytest.fixture
def fast_sync(tmp_path):
    cfg = tmp_path / "sync.ini"
    cfg.write_text("[settings]\nsettle_time = 0.5\nsync_poll_interval = 0.5\n"
                   "sync_idle_warning = 1\n")
    return cfg


def test_watch_a_folder_then_finish(qtbot, make_window, fast_sync, tmp_path):
    acq = tmp_path / "acq" / "run7"
    acq.mkdir(parents=True)
    (acq / "first.raw").write_bytes(os.urandom(3000))
    w = make_window([fast_sync])
    log_in(qtbot, w)
    d = w.dataset
    qtbot.keyClicks(d.proposal.lineEdit(), "P")
    qtbot.keyClicks(d.name, "live")
    with qtbot.waitSignal(d.plan_ready, timeout=10000, check_params_cb=lambda p: p is not None):
        drop_paths(d.files, [acq])
    qtbot.mouseClick(d.mode_sync, Qt.LeftButton)
    assert d.definition().mode == "sync"
    qtbot.mouseClick(d.start, Qt.LeftButton)
    p = w.progress
    qtbot.waitUntil(lambda: p.sync.isVisible() and p.last is not None and p.last.sync is not None
                    and p.last.sync.uploaded == 1, timeout=20000)
    assert "watching" in p.sync.roots.text() and str(acq) in p.sync.roots.text()
    assert p.cancel.text() == "Stop &watching"
    # acquisition goes on
    for i in range(2):
        (acq / f"frame_{i}.raw").write_bytes(os.urandom(2000))
    qtbot.waitUntil(lambda: p.last.sync.uploaded == 3, timeout=20000)
    assert "3 uploaded" in p.sync.counts.text()
    assert "frame_" in p.sync.last.text()
    # nothing new for longer than the configured time: a warning, not a stop
    qtbot.waitUntil(lambda: p.sync.warning.isVisible(), timeout=20000)
    with qtbot.waitSignal(w.controller.job_finished, timeout=30000) as done:
        qtbot.mouseClick(p.sync.finish, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 3
    cat = sqlite3.connect(tmp_path / "home" / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT complete FROM datasets").fetchall() == [(1,)]
    assert cat.execute("SELECT COUNT(*) FROM datafiles").fetchone()[0] == 3
    assert w.stack.currentWidget() is w.history  # the report of the finished dataset
    assert w.history.selected_job_id() == done.args[0].job_id


def test_stop_watching_then_finish_from_the_history(qtbot, make_window, fast_sync, tmp_path,
                                                   monkeypatch):
    from PyQt5.QtWidgets import QMessageBox
    acq = tmp_path / "acq" / "run8"
    acq.mkdir(parents=True)
    (acq / "a.raw").write_bytes(b"a" * 100)
    w = make_window([fast_sync])
    log_in(qtbot, w)
    d = w.dataset
    qtbot.keyClicks(d.proposal.lineEdit(), "P")
    qtbot.keyClicks(d.name, "stopped")
    with qtbot.waitSignal(d.plan_ready, timeout=10000, check_params_cb=lambda p: p is not None):
        drop_paths(d.files, [acq])
    d.mode_sync.setChecked(True)
    qtbot.mouseClick(d.start, Qt.LeftButton)
    p = w.progress
    qtbot.waitUntil(lambda: p.last is not None and p.last.sync is not None
                    and p.last.sync.uploaded == 1, timeout=20000)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    with qtbot.waitSignal(w.controller.job_finished, timeout=20000) as stopped:
        qtbot.mouseClick(p.cancel, Qt.LeftButton)
    assert stopped.args[0].state == "cancelled"
    (acq / "b.raw").write_bytes(b"b" * 100)  # written while nobody watched
    w.show_page(3)
    h = w.history
    assert h.finish.isVisible() and h.finish.isEnabled()
    with qtbot.waitSignal(w.controller.job_finished, timeout=30000) as done:
        qtbot.mouseClick(h.finish, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 2
