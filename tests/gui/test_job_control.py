"""Cancel, pause and resume from the window; a killed job offered for resume in a new window;
S3 through the real server; a failed login with its message."""

import os
import signal
import subprocess
import sys

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QMessageBox

from tests.gui.helpers import define, log_in
from tests.integration.test_kill_and_resume import journal_rows, wait_for


@pytest.fixture
def slow(tmp_path):
    """A bandwidth limit so that a job lasts long enough to be paused or cancelled."""
    cfg = tmp_path / "slow.ini"
    cfg.write_text("[settings]\nbandwidth_limit = 4M\nworkers = 2\n")
    return cfg


@pytest.fixture
def big_files(tmp_path):
    root = tmp_path / "big" / "scan"
    root.mkdir(parents=True)
    for i in range(8):
        (root / f"chunk_{i}.bin").write_bytes(os.urandom(1 << 20))
    return root


def test_cancel_mid_job_then_resume_from_history(qtbot, make_window, slow, big_files,
                                                 monkeypatch):
    w = make_window([slow])
    log_in(qtbot, w)
    define(qtbot, w, "P", "D", [big_files])
    qtbot.mouseClick(w.dataset.start, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.progress.last is not None and w.progress.last.bytes_done > 0,
                    timeout=20000)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    with qtbot.waitSignal(w.controller.job_finished, timeout=30000) as done:
        qtbot.mouseClick(w.progress.cancel, Qt.LeftButton)
    assert done.args[0].state == "cancelled"
    assert w.progress.strip.isVisible() and "resume" in w.progress.strip.text.text()
    assert not w.progress.cancel.isEnabled()
    w.show_page(3)
    h = w.history
    assert h.model.job_at(0)[1].value == "cancelled" and h.resume.isEnabled()
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(h.resume, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 8


def test_pause_and_resume(qtbot, make_window, slow, big_files):
    w = make_window([slow])
    log_in(qtbot, w)
    define(qtbot, w, "P", "D", [big_files])
    qtbot.mouseClick(w.dataset.start, Qt.LeftButton)
    p = w.progress
    qtbot.waitUntil(lambda: p.last is not None and p.last.bytes_done > 0, timeout=20000)
    qtbot.mouseClick(p.pause, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.last.paused and p.speed_label.text() == "paused", timeout=5000)
    assert p.pause.text() == "&Resume" and w.controller.running
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(p.pause, Qt.LeftButton)
    assert done.args[0].state == "completed"
    assert "Paused." in p.log.toPlainText() and "Resumed." in p.log.toPlainText()


def test_a_killed_job_is_offered_for_resume_in_a_new_window(qtbot, make_window, gui_env,
                                                            big_files, slow, tmp_path):
    env = {**os.environ, **gui_env}
    proc = subprocess.Popen([sys.executable, "-m", "datauploader", "--config", str(slow),
                             "upload", "--proposal", "P", "--dataset", "D", str(big_files)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    home = tmp_path / "home"
    wait_for(lambda: (journal_rows(home, "SELECT COUNT(*) FROM tasks WHERE state IN "
                                         "('verified','registered')") or [(0,)])[0][0] >= 2,
             what="two files done", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    w = make_window()
    log_in(qtbot, w)
    assert w.banner.isVisible()
    assert "Job 1 (P / D) was interrupted" in w.banner.text.text()
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(w.banner.resume, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 8
    assert not w.banner.isVisible()


def test_upload_to_s3_through_the_real_server(qtbot, make_window, s3_config, s3_server, files):
    cfg = s3_config()
    w = make_window([cfg], env=s3_config.env)
    assert w.login.profile.currentData() == "s3"
    log_in(qtbot, w)
    define(qtbot, w, "P", "D", [files])
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(w.dataset.start, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 14
    s3 = s3_server.boto3_client()
    got = s3.get_object(Bucket=s3_config.bucket, Key="P/D/scan_001/notes #1.txt")["Body"].read()
    assert got == (files / "notes #1.txt").read_bytes()


def test_failed_login_is_explained_inline(qtbot, make_window, s3_config):
    cfg = s3_config()
    w = make_window([cfg], env={**s3_config.env, "AWS_SECRET_ACCESS_KEY": "wrong-secret-xyz"})
    qtbot.waitUntil(w.login.button.isEnabled)
    with qtbot.waitSignal(w.login.login_failed, timeout=20000) as failed:
        qtbot.mouseClick(w.login.button, Qt.LeftButton)
    message = failed.args[0]
    assert "refused" in message and "wrong-secret" not in message
    assert w.login.error.isVisible() and w.login.error.text() == message
    assert not w.nav.isEnabled() and w.stack.currentWidget() is w.login


def test_unreachable_server_at_login(qtbot, make_window, s3_config):
    from tests.servers.rclone_s3 import free_port
    cfg = s3_config(endpoint=f"http://127.0.0.1:{free_port()}", settings="retries = 1\n")
    w = make_window([cfg], env=s3_config.env)
    qtbot.waitUntil(w.login.button.isEnabled)
    with qtbot.waitSignal(w.login.login_failed, timeout=20000) as failed:
        qtbot.mouseClick(w.login.button, Qt.LeftButton)
    assert "Cannot reach" in failed.args[0] or "refused" in failed.args[0]


def test_closing_while_a_job_runs_asks_and_can_stop_it(qtbot, make_window, slow, big_files,
                                                       monkeypatch):
    w = make_window([slow])
    log_in(qtbot, w)
    define(qtbot, w, "P", "D", [big_files])
    qtbot.mouseClick(w.dataset.start, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.controller.running)
    asked = []

    def fake_exec(box):
        asked.append(box.text())
        stop = [b for b in box.buttons() if "Stop it" in b.text()][0]
        stop.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec_", fake_exec)
    with qtbot.waitSignal(w.controller.job_finished, timeout=30000) as done:
        w.close()
    assert asked == ["An upload is running. What should happen to it?"]
    assert done.args[0].state == "cancelled"
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=5000)
