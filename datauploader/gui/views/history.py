"""History view: every job from the journal with its outcome; details, Resume, Verify, and an
exported report (CSV or JSON) of every file with size, checksum and remote location."""

from __future__ import annotations

import os

from PyQt5.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                             QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from datauploader.errors import describe
from datauploader.gui.background_calls import Calls
from datauploader.gui.table_models import HistoryTableModel
from datauploader.states import JobState, TaskState
from datauploader.units import human_bytes, local_time


class HistoryView(QWidget):
    resume_requested = pyqtSignal(int)
    finish_requested = pyqtSignal(int)  # sync mode: finish a stopped watch
    verify_finished = pyqtSignal(object)  # VerifyReport
    report_written = pyqtSignal(str)

    def __init__(self, service, parent=None):
        super().__init__(parent)
        self.service = service
        self._calls = Calls()
        self.model = HistoryTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectRows)
        self.table.setSelectionMode(QTableView.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.Stretch)
        self.table.setAccessibleName(self.tr("Jobs"))
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setAccessibleName(self.tr("Job details"))
        self.resume = QPushButton(self.tr("&Resume"))
        self.finish = QPushButton(self.tr("F&inish"))
        self.finish.setToolTip(self.tr("Sync mode: a last look at the folders, upload what "
                                       "remains, mark the dataset complete"))
        self.verify = QPushButton(self.tr("&Verify"))
        self.verify.setToolTip(self.tr("Read every file back from storage and compare checksums"))
        self.export = QPushButton(self.tr("&Export report…"))
        self.refresh_button = QPushButton(self.tr("Re&fresh"))
        self.refresh_button.setShortcut("F5")
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.resume, self.finish, self.verify, self.export):
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.refresh_button)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("<h3>History</h3>")))
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.resume.clicked.connect(self._resume)
        self.finish.clicked.connect(lambda: self.selected_job_id() is not None and
                                    self.finish_requested.emit(self.selected_job_id()))
        self.verify.clicked.connect(self._verify)
        self.export.clicked.connect(self._export)
        self.refresh_button.clicked.connect(self.refresh)
        self._selection_changed()

    # -- data -------------------------------------------------------------------------------
    @pyqtSlot()
    def refresh(self) -> None:
        selected = self.selected_job_id()
        self.model.set_jobs(self.service.jobs(500))
        row = self.model.row_of(selected) if selected is not None else None
        if row is None and self.model.rowCount():
            row = 0
        if row is not None:
            self.table.selectRow(row)
        self._selection_changed()

    def select_job(self, job_id: int) -> None:
        row = self.model.row_of(job_id)
        if row is not None:
            self.table.selectRow(row)

    def selected_job_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.model.job_at(rows[0].row())[0].id

    def _selection_changed(self, *args) -> None:
        job_id = self.selected_job_id()
        has = job_id is not None
        for b in (self.verify, self.export):
            b.setEnabled(has)
        self.resume.setEnabled(False)
        self.finish.setVisible(False)
        if not has:
            self.details.setPlainText(self.tr("No job selected."))
            return
        job, state = self.model.job_at(self.model.row_of(job_id))
        self.resume.setEnabled(state.resumable and state is not JobState.RUNNING)
        sync = job.definition.mode == "sync"
        self.finish.setVisible(sync)
        self.finish.setEnabled(sync and state.resumable and state is not JobState.RUNNING)
        self.resume.setToolTip(self.tr("Watch the folders again") if sync else "")
        self.details.setPlainText(self._describe(job, state))

    def _describe(self, job, state) -> str:
        journal = self.service.journal
        counts = journal.counts(job.id)
        lines = [
            self.tr("Job {0}: {1}").format(job.id, state.value),
            self.tr("Dataset: {0} / {1} (catalogue id {2})").format(
                job.proposal, job.dataset_name, job.dataset_id or "-"),
            self.tr("Catalogue: {0}").format(job.catalogue),
            self.tr("Storage: {0}, prefix {1}").format(job.storage, job.prefix),
            self.tr("Started {0}, finished {1}").format(local_time(job.started, seconds=True),
                                                      local_time(job.finished, seconds=True)),
            self.tr("Files: {0} ({1}): {2}").format(
                job.files_total, human_bytes(job.bytes_total),
                ", ".join(f"{n} {s}" for s, n in sorted(counts.files.items()))),
        ]
        if job.error:
            lines.append(self.tr("Outcome: {0}").format(job.error))
        failed = journal.tasks(job.id, [TaskState.FAILED])
        for t in failed[:50]:
            lines.append(f"  ✗ {t.relpath}: {t.error}")
        if len(failed) > 50:
            lines.append(self.tr("  … and {0} more (export the report)").format(len(failed) - 50))
        return "\n".join(lines)

    # -- actions ----------------------------------------------------------------------------
    def _resume(self) -> None:
        job_id = self.selected_job_id()
        if job_id is not None:
            self.resume_requested.emit(job_id)

    def _verify(self) -> None:
        job_id = self.selected_job_id()
        if job_id is None:
            return
        self.verify.setEnabled(False)
        self.status.setText(self.tr("Verifying job {0}: reading every file back…").format(job_id))
        self._calls.run(lambda: self.service.verify_job(job_id), self._verified,
                        self._verify_failed)

    def _verified(self, report) -> None:
        self.verify.setEnabled(True)
        problems = report.problems
        if problems:
            text = self.tr("Job {0}: {1} of {2} files verified; {3} problems:").format(
                report.job_id, len(report.items) - len(problems), len(report.items),
                len(problems))
            detail = "\n".join(f"  {p.status}: {p.relpath} ({p.detail})" for p in problems[:50])
            self.details.appendPlainText("\n" + text + "\n" + detail)
            self.status.setText(text)
            self.status.setStyleSheet("color: #b00020")
        else:
            self.status.setText(self.tr("Job {0}: all {1} files verified against storage.")
                                .format(report.job_id, len(report.items)))
            self.status.setStyleSheet("color: #1b5e20")
        self.verify_finished.emit(report)

    def _verify_failed(self, exc) -> None:
        self.verify.setEnabled(True)
        self.status.setText(describe(exc))
        self.status.setStyleSheet("color: #b00020")

    def _export(self) -> None:
        job_id = self.selected_job_id()
        if job_id is None:
            return
        suggested = os.path.join(os.path.expanduser("~"), f"datauploader-job-{job_id}.csv")
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Export report"), suggested,
                                              self.tr("CSV (*.csv);;JSON (*.json)"))
        if path:
            self.export_report(job_id, path)

    def export_report(self, job_id: int, path: str) -> None:
        try:
            n = self.service.write_report(job_id, path)
        except Exception as e:  # noqa: BLE001 - shown in the status line
            self.status.setText(describe(e))
            self.status.setStyleSheet("color: #b00020")
            return
        self.status.setText(self.tr("Report of {0} files written to {1}.").format(n, path))
        self.status.setStyleSheet("")
        self.report_written.emit(path)
