"""The whole flow in the real window: log in, define a dataset (typing, drag and drop),
upload, watch progress reach 100 %, find the job and its report in the history."""

import csv
import json
import os
import sqlite3

from PyQt5.QtCore import Qt

from tests.gui.helpers import define, drop_paths, log_in


def test_local_profile_upload_progress_history_and_report(qtbot, make_window, files, tmp_path):
    w = make_window()
    assert w.login.no_login.isVisibleTo(w.login)  # the local catalogue needs no login
    log_in(qtbot, w)
    assert w.stack.currentWidget() is w.dataset and w.nav.isEnabled()

    define(qtbot, w, "MX-2024-001", "lysozyme scan 1", [files], exclude="*.tmp")
    d = w.dataset
    assert d.totals.text().startswith("13 files")
    assert d.preview_model.rowCount() == 13
    landing = d.preview_model.index(0, 2).data()
    assert landing.endswith("MX-2024-001/lysozyme scan 1/scan_001/frames/f_000.raw")
    d.add_metadata_row("energy_keV", "12.4")
    qtbot.keyClicks(d.keywords, "protein, test")

    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(d.start, Qt.LeftButton)
    result = done.args[0]
    assert result.state == "completed" and result.files_ok == 13
    assert w.stack.currentWidget() is w.progress
    p = w.progress
    assert p.bar.value() == 1000
    assert p.files_label.text() == "13 / 13 files"
    statuses = {p.model.file_row(i).status for i in range(p.model.rowCount())}
    assert p.model.rowCount() == 13 and statuses <= {"verified", "registered"}
    assert "completed" in p.log.toPlainText()
    p.show_only.setCurrentIndex(p.show_only.findText("Failed"))
    assert p.filtered.rowCount() == 0
    p.show_only.setCurrentIndex(p.show_only.findText("Done"))
    assert p.filtered.rowCount() == 13

    # history shows the job, selected, with its details
    qtbot.keyClick(w, Qt.Key_3, Qt.ControlModifier)
    assert w.stack.currentWidget() is w.history
    h = w.history
    assert h.model.rowCount() == 1 and h.selected_job_id() == result.job_id
    assert "completed" in h.details.toPlainText()
    assert not h.resume.isEnabled()

    # report, CSV and JSON: every file with size, checksum and location
    csv_path, json_path = tmp_path / "r.csv", tmp_path / "r.json"
    with qtbot.waitSignal(h.report_written):
        h.export_report(result.job_id, str(csv_path))
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert len(rows) == 13 and all(r["checksum"] and r["location"] for r in rows)
    assert {r["state"] for r in rows} == {"registered"}
    h.export_report(result.job_id, str(json_path))
    doc = json.load(open(json_path, encoding="utf-8"))
    assert doc["dataset"] == "lysozyme scan 1" and len(doc["files"]) == 13

    # verify from the history reads every file back
    with qtbot.waitSignal(h.verify_finished, timeout=30000) as v:
        qtbot.mouseClick(h.verify, Qt.LeftButton)
    assert v.args[0].problems == []
    assert "all 13 files verified" in h.status.text()

    # what the catalogue got
    cat = sqlite3.connect(tmp_path / "home" / "data" / "catalogue.sqlite")
    assert cat.execute("SELECT name, keywords, metadata FROM datasets").fetchall() == [
        ("lysozyme scan 1", '["protein", "test"]', '{"energy_keV": "12.4"}')]


def test_validation_is_shown_next_to_the_fields(qtbot, make_window, files):
    w = make_window()
    log_in(qtbot, w)
    d = w.dataset
    qtbot.mouseClick(d.start, Qt.LeftButton)
    assert d.proposal_error.isVisible() and "Choose the proposal" in d.proposal_error.text()
    assert d.name_error.isVisible() and "Give the dataset a name" in d.name_error.text()
    assert d.files_error.isVisible() and "at least one file" in d.files_error.text()
    qtbot.keyClicks(d.name, "..")
    qtbot.mouseClick(d.start, Qt.LeftButton)
    assert "cannot be '.' or '..'" in d.name_error.text()
    assert not w.controller.running


def test_files_that_would_collide_are_refused_before_anything_starts(qtbot, make_window,
                                                                      tmp_path):
    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    for root in (a, b):
        root.mkdir(parents=True)
        (root / "x.dat").write_bytes(os.urandom(10))
    w = make_window()
    log_in(qtbot, w)
    d = w.dataset
    qtbot.keyClicks(d.proposal.lineEdit(), "P")
    qtbot.keyClicks(d.name, "D")
    with qtbot.waitSignal(d.plan_ready, timeout=10000, check_params_cb=lambda p: p is None):
        drop_paths(d.files, [a, b])
    assert "same remote name" in d.files_error.text()
    qtbot.mouseClick(d.start, Qt.LeftButton)
    assert not w.controller.running


def test_templates_keep_metadata_for_the_next_dataset(qtbot, make_window, files, monkeypatch):
    w = make_window()
    log_in(qtbot, w)
    d = w.dataset
    qtbot.keyClicks(d.proposal.lineEdit(), "MX-7")
    qtbot.keyClicks(d.sample, "insulin")
    qtbot.keyClicks(d.exclude, "*.tmp")
    d.add_metadata_row("beamline", "ID23")
    from PyQt5.QtWidgets import QInputDialog
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("ID23 MX", True)))
    qtbot.mouseClick(d.save_template, Qt.LeftButton)
    assert d.template.currentText() == "ID23 MX"
    d.sample.clear()
    d.metadata.setRowCount(0)
    d.exclude.clear()
    qtbot.mouseClick(d.load_template, Qt.LeftButton)
    assert d.sample.text() == "insulin" and d.exclude.text() == "*.tmp"
    assert d.metadata_dict() == {"beamline": "ID23"}
    assert d.proposal_id() == "MX-7"


def test_settings_dialog_is_generated_from_the_declarations(qtbot, make_window, gui_env):
    from datauploader.app import settings as S
    from datauploader.gui.dialogs.settings import SettingsDialog
    w = make_window()
    dlg = SettingsDialog(w.service, "local", w)
    qtbot.addWidget(dlg)
    dlg.show()
    assert set(dlg.editors) == {s.name for s in S.SETTINGS}
    dlg.editors["workers"].setValue(3)
    dlg.editors["bandwidth_limit"].setText("banana")
    dlg.save()
    assert dlg.error.isVisible() and "bandwidth limit" in dlg.error.text()
    dlg.editors["bandwidth_limit"].setText("08:00,5M 20:00,off")
    dlg.save()
    text = open(os.path.join(gui_env["DATAUPLOADER_HOME"], "config", "datauploader.ini")).read()
    assert "workers = 3" in text and "bandwidth_limit = 08:00,5M 20:00,off" in text
    assert w.service.config.effective_settings("local")["workers"] == 3


def test_an_unexpected_error_in_a_slot_shows_a_dialog_not_a_crash(qtbot, make_window, tmp_path):
    import sys

    from datauploader.gui import excepthook
    old = sys.excepthook
    reporter = excepthook.install(str(tmp_path / "log.txt"))
    try:
        w = make_window()

        def boom():
            raise RuntimeError("a bug")

        w.progress.pause.setEnabled(True)
        w.progress.pause.clicked.connect(boom)
        with qtbot.waitSignal(reporter.report) as sig:
            qtbot.mouseClick(w.progress.pause, Qt.LeftButton)
        assert sig.args[0] == "RuntimeError: a bug" and "Traceback" in sig.args[1]
        qtbot.waitUntil(lambda: reporter.shown == 1)
    finally:
        sys.excepthook = old
