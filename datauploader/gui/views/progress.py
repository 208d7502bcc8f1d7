"""Progress view: overall bytes, files, speed and ETA; a per-file table; pause, resume and
cancel; failures in a non-modal strip with Retry; a log panel."""

from __future__ import annotations

from PyQt5.QtCore import QRegularExpression, QSortFilterProxyModel, Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                             QProgressBar, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from datauploader.core.progress import JobSnapshot
from datauploader.gui.table_models import STATUS_ROLE, FileTableModel
from datauploader.states import FileStatus, JobState, WatchMethod, WatchState
from datauploader.units import human_bytes, human_duration, human_rate

LOG_LINES = 2000


class ErrorStrip(QFrame):
    """A non-modal bar for failures: the sentence, and Retry."""

    retry_clicked = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorStrip")
        self.setStyleSheet("#errorStrip { background: #fdecea; border: 1px solid #f5c2c0; "
                           "border-radius: 4px; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.retry = QPushButton(self.tr("&Retry"))
        self.retry.setAccessibleName(self.tr("Retry"))
        self.dismiss = QPushButton(self.tr("Dismiss"))
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(self.retry)
        row.addWidget(self.dismiss)
        self.retry.clicked.connect(self.retry_clicked)
        self.dismiss.clicked.connect(self.hide)
        self.hide()

    def show_error(self, message: str, retry: bool = True) -> None:
        self.text.setText(message)
        self.retry.setVisible(retry)
        self.show()


class _StatusFilter(QSortFilterProxyModel):
    """Only the files in some states (e.g. the failed ones of a 20,000-file job). Filters in
    C++ on the status role (no Python ``filterAcceptsRow``: see FileTableModel)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.statuses: tuple = ()
        self.setFilterRole(STATUS_ROLE)
        self.setFilterKeyColumn(2)

    def set_statuses(self, statuses) -> None:
        self.statuses = tuple(statuses or ())
        pattern = "^(" + "|".join(QRegularExpression.escape(str(s)) for s in self.statuses) + ")$" \
            if self.statuses else ""
        self.setFilterRegularExpression(QRegularExpression(pattern))


class SyncPanel(QFrame):
    """Sync mode: what is watched, what the watcher sees, the last file, Finish."""

    finish_clicked = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("syncPanel")
        self.setStyleSheet("#syncPanel { background: #eef5fd; border: 1px solid #c5dcf5; "
                           "border-radius: 4px; }")
        self.roots = QLabel()
        self.roots.setWordWrap(True)
        self.roots.setTextFormat(Qt.RichText)
        self.counts = QLabel()
        self.counts.setObjectName("syncCounts")
        self.last = QLabel()
        self.warning = QLabel()
        self.warning.setObjectName("syncIdleWarning")
        self.warning.setStyleSheet("color: #a15c00; font-weight: bold")
        self.warning.hide()
        self.finish = QPushButton(self.tr("&Finish"))
        self.finish.setObjectName("syncFinish")
        self.finish.setAccessibleName(self.tr("Finish the dataset"))
        self.finish.setToolTip(self.tr("The experiment is over: a last look at the folders, "
                                       "upload what remains, mark the dataset complete."))
        self.finish.clicked.connect(self.finish_clicked)
        text = QVBoxLayout()
        text.addWidget(self.roots)
        text.addWidget(self.counts)
        text.addWidget(self.last)
        text.addWidget(self.warning)
        row = QHBoxLayout(self)
        row.addLayout(text, 1)
        row.addWidget(self.finish, 0, Qt.AlignTop)
        self.hide()

    def update_status(self, s) -> None:
        import time as _time

        lines = []
        for r in s.roots:
            watching = r.state is WatchState.WATCHING
            color = "#1b5e20" if watching else "#b00020"
            how = (self.tr("file-system events") if r.method is WatchMethod.EVENTS
                   else self.tr("polling"))
            state = self.tr("watching") if watching else self.tr("NOT AVAILABLE")
            detail = f" — {r.detail}" if r.detail else ""
            lines.append(f"<b>{r.path}</b>: <span style='color:{color}'>{state}</span> "
                         f"({how}){detail}")
        self.roots.setText("<br>".join(lines))
        counts = self.tr("{0} seen · {1} waiting to settle · {2} queued · {3} uploaded").format(
            s.seen, s.settling, s.queued, s.uploaded)
        if s.failed:
            counts += self.tr(" · {0} failed").format(s.failed)
        if s.modified_skipped:
            counts += self.tr(" · {0} changed after upload, left alone").format(s.modified_skipped)
        self.counts.setText(counts)
        if s.last_file:
            ago = max(0, int(_time.time() - s.last_file_at))
            self.last.setText(self.tr("Last file detected: {0}, {1} s ago").format(s.last_file,
                                                                                  ago))
        else:
            self.last.setText(self.tr("No file detected yet."))
        self.warning.setVisible(s.idle_warning)
        if s.idle_warning:
            self.warning.setText(self.tr("No new file has arrived for a while: is the "
                                         "acquisition still running?"))
        if s.finishing:
            self.finish.setEnabled(False)
            self.finish.setText(self.tr("Finishing…"))


class ProgressView(QWidget):
    pause_clicked = pyqtSignal()
    resume_clicked = pyqtSignal()
    cancel_clicked = pyqtSignal()
    retry_clicked = pyqtSignal(int)  # job id
    finish_clicked = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job_id: int | None = None
        self.last: JobSnapshot | None = None
        self.title = QLabel(self.tr("<h3>No upload running</h3>"))
        self.title.setObjectName("progressTitle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setAccessibleName(self.tr("Overall progress"))
        self.bar.setFormat("%p %")
        self.files_label = QLabel()
        self.bytes_label = QLabel()
        self.speed_label = QLabel()
        self.eta_label = QLabel()
        for w in (self.files_label, self.bytes_label, self.speed_label, self.eta_label):
            w.setMinimumWidth(190)
        stats = QHBoxLayout()
        for w in (self.files_label, self.bytes_label, self.speed_label, self.eta_label):
            stats.addWidget(w)
        stats.addStretch(1)

        self.pause = QPushButton(self.tr("&Pause"))
        self.pause.setShortcut("Ctrl+P")
        self.pause.setAccessibleName(self.tr("Pause or resume"))
        self.cancel = QPushButton(self.tr("&Cancel"))
        self.cancel.setAccessibleName(self.tr("Cancel upload"))

        self.strip = ErrorStrip()
        self.sync = SyncPanel()
        self.sync.finish_clicked.connect(self.finish_clicked)
        self.model = FileTableModel(self)
        self.filtered = _StatusFilter(self)
        self.filtered.setSourceModel(self.model)
        self.show_only = QComboBox()
        self.show_only.setAccessibleName(self.tr("Show files"))
        for label, statuses in ((self.tr("All files"), ()),
                                (self.tr("In progress"),
                                 (FileStatus.UPLOADING, FileStatus.RETRYING)),
                                (self.tr("Failed"), (FileStatus.FAILED,)),
                                (self.tr("Done"), tuple(s for s in FileStatus if s.done))):
            self.show_only.addItem(label, statuses)
        self.show_only.currentIndexChanged.connect(
            lambda: self.filtered.set_statuses(self.show_only.currentData()))
        self.table = QTableView()
        self.table.setModel(self.filtered)
        self.table.setAccessibleName(self.tr("Files"))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setAccessibleName(self.tr("Log"))
        self.log.setPlaceholderText(self.tr("Retries, failures and other events appear here."))
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)

        buttons = QHBoxLayout()
        buttons.addWidget(QLabel(self.tr("Show:")))
        buttons.addWidget(self.show_only)
        self.dropped_note = QLabel()
        self.dropped_note.setObjectName("droppedNote")
        self.dropped_note.setStyleSheet("#droppedNote { color: #555; }")
        self.dropped_note.hide()
        buttons.addWidget(self.dropped_note)
        buttons.addStretch(1)
        buttons.addWidget(self.pause)
        buttons.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addLayout(stats)
        layout.addWidget(self.sync)
        layout.addWidget(self.strip)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)

        self.pause.clicked.connect(self._on_pause_clicked)
        self.cancel.clicked.connect(self.cancel_clicked)
        self.strip.retry_clicked.connect(lambda: self.job_id and self.retry_clicked.emit(self.job_id))
        self._set_running(False)

    def start(self, job_id: int, title: str, sync: bool = False) -> None:
        self.job_id = job_id
        self.last = None
        self.model.clear()
        self.dropped_note.hide()
        self.strip.hide()
        self.sync.setVisible(sync)
        self.sync.finish.setEnabled(True)
        self.sync.finish.setText(self.tr("&Finish"))
        self.cancel.setText(self.tr("Stop &watching") if sync else self.tr("&Cancel"))
        self.title.setText(f"<h3>{title}</h3>")
        self.bar.setValue(0)
        self.append_log(self.tr("Job {0} started.").format(job_id))
        self._set_running(True)
        self.pause.setText(self.tr("&Pause"))

    def _set_running(self, running: bool) -> None:
        self.pause.setEnabled(running)
        self.cancel.setEnabled(running)

    def _on_pause_clicked(self) -> None:
        if self.last is not None and self.last.paused:
            self.resume_clicked.emit()
            self.pause.setText(self.tr("&Pause"))
        else:
            self.pause_clicked.emit()
            self.pause.setText(self.tr("&Resume"))

    @pyqtSlot(object)
    def update_snapshot(self, s: JobSnapshot) -> None:
        self.last = s
        if s.sync is not None and not s.finished:
            # sync mode: the total grows; show how far behind the acquisition the upload is
            seen, up = max(s.sync.seen, 1), s.sync.uploaded
            self.bar.setValue(int(1000 * min(1.0, up / seen)))
            self.files_label.setText(self.tr("{0} of {1} seen files uploaded").format(
                up, s.sync.seen))
        else:
            self.bar.setValue(int(1000 * s.fraction))
            self.files_label.setText(
                self.tr("{0} / {1} files").format(s.files_done, s.files_total)
                + (self.tr(", {0} failed").format(s.files_failed) if s.files_failed else ""))
        self.bytes_label.setText(f"{human_bytes(s.bytes_done)} / {human_bytes(s.bytes_total)}")
        self.speed_label.setText(self.tr("paused") if s.paused else human_rate(s.speed))
        self.eta_label.setText(self.tr("ETA {0}").format(human_duration(s.eta))
                               if s.eta is not None else self.tr("ETA --"))
        if s.sync is not None:
            self.sync.update_status(s.sync)
            self.eta_label.setText(self.tr("watching") if not s.finished else "")
        if s.changed_rows:
            self.model.apply(s.changed_rows)
            if self.model.dropped and self.dropped_note.isHidden():
                self.dropped_note.setText(self.tr(
                    "(the newest {0:,} finished files; the job's report in History lists "
                    "every file)").format(self.model.keep_done))
                self.dropped_note.show()
        for m in s.messages:
            self.append_log(m)

    def finish(self, done) -> None:
        self._set_running(False)
        self.sync.finish.setEnabled(False)
        if done.state is JobState.COMPLETED:
            self.bar.setValue(1000)
            self.eta_label.setText(self.tr("done in {0}").format(human_duration(done.elapsed)))
            self.append_log(self.tr("Job {0} completed: {1} files.").format(done.job_id,
                                                                           done.files_ok))
        else:
            self.strip.show_error(done.error or done.state.value, retry=True)
            self.append_log(self.tr("Job {0} {1}.").format(done.job_id, done.state.value))

    def fail(self, message: str) -> None:
        self._set_running(False)
        self.strip.show_error(message, retry=True)
        self.append_log(message)

    def append_log(self, text: str) -> None:
        import datetime as dt
        self.log.appendPlainText(f"{dt.datetime.now():%H:%M:%S}  {text}")
