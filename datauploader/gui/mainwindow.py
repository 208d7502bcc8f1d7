"""The main window: login, then dataset definition, progress and history, side by side; a
tray icon that tells when a job finishes; a banner offering to resume interrupted jobs."""

from __future__ import annotations

import os

from PyQt5.QtCore import QSize, QUrl, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QDesktopServices, QIcon, QKeySequence
from PyQt5.QtWidgets import (QAction, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                             QMainWindow, QMessageBox, QPushButton, QStackedWidget, QStyle,
                             QSystemTrayIcon, QVBoxLayout, QWidget)

from datauploader import __version__
from datauploader.errors import AuthError, ExitCode, describe
from datauploader.gui.background_calls import Calls
from datauploader.gui.controller import JobController
from datauploader.gui.dialogs.settings import SettingsDialog
from datauploader.gui.views.dataset import DatasetView
from datauploader.gui.views.history import HistoryView
from datauploader.gui.views.login import LoginView
from datauploader.gui.views.progress import ProgressView
from datauploader.states import JobState

ICON = os.path.join(os.path.dirname(__file__), "icons", "datauploader.svg")

PAGE_LOGIN, PAGE_DATASET, PAGE_PROGRESS, PAGE_HISTORY = range(4)


def app_icon() -> QIcon:
    return QIcon(ICON)


class Banner(QFrame):
    """A non-modal line at the top: an interrupted job and what to do about it."""

    resume_clicked = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet("#banner { background: #fff4e5; border: 1px solid #ffd8a8; "
                           "border-radius: 4px; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.resume = QPushButton(self.tr("Resume"))
        self.resume.setAccessibleName(self.tr("Resume interrupted job"))
        self.dismiss = QPushButton(self.tr("Later"))
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(self.resume)
        row.addWidget(self.dismiss)
        self.job_id: int | None = None
        self.resume.clicked.connect(lambda: self.job_id and self.resume_clicked.emit(self.job_id))
        self.dismiss.clicked.connect(self.hide)
        self.hide()

    def offer(self, job, done: int) -> None:
        self.job_id = job.id
        self.text.setText(self.tr("Job {0} ({1} / {2}) was interrupted with {3} of {4} files "
                                  "done. Nothing is lost: resume it to finish the upload.")
                          .format(job.id, job.proposal, job.dataset_name, done, job.files_total))
        self.show()


class MainWindow(QMainWindow):
    def __init__(self, service, job_thread=None, tray: bool = True):
        super().__init__()
        self.service = service
        self.profile: str | None = None
        self.user: str | None = None
        self._calls = Calls()
        self._quitting = False
        self.setWindowTitle("DataUploader")
        self.setWindowIcon(app_icon())
        self.resize(1100, 720)

        self.controller = JobController(service, thread=job_thread, parent=self)
        self.login = LoginView(service)
        self.dataset = DatasetView(service)
        self.progress = ProgressView()
        self.history = HistoryView(service)
        self.stack = QStackedWidget()
        for page in (self.login, self.dataset, self.progress, self.history):
            self.stack.addWidget(page)

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName(self.tr("Sections"))
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(QSize(20, 20))
        style = self.style()
        for text, icon in ((self.tr("Dataset"), QStyle.SP_FileDialogDetailedView),
                           (self.tr("Progress"), QStyle.SP_ArrowUp),
                           (self.tr("History"), QStyle.SP_FileDialogContentsView)):
            QListWidgetItem(style.standardIcon(icon), text, self.nav)
        self.nav.setEnabled(False)
        self.nav.currentRowChanged.connect(lambda row: row >= 0 and self.show_page(row + 1))

        self.banner = Banner()
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        outer.addLayout(row, 1)
        self.setCentralWidget(central)

        self.status_user = QLabel()
        self.statusBar().addPermanentWidget(self.status_user)
        self._build_menu()
        self.tray = None
        if tray and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip("DataUploader")
            self.tray.activated.connect(lambda *_: self.showNormal() or self.activateWindow())
            self.tray.show()

        self.login.login_succeeded.connect(self.on_login_login_succeeded)
        self.dataset.start_requested.connect(self.on_dataset_start_requested)
        self.progress.pause_clicked.connect(self.controller.pause)
        self.progress.resume_clicked.connect(self.controller.resume)
        self.progress.cancel_clicked.connect(self._cancel_clicked)
        self.progress.retry_clicked.connect(self.resume_job)
        self.progress.finish_clicked.connect(self.controller.finish)
        self.history.resume_requested.connect(self.resume_job)
        self.history.finish_requested.connect(self.finish_job)
        self.banner.resume_clicked.connect(self.resume_job)
        self.controller.job_progress.connect(self.progress.update_snapshot)
        self.controller.job_progress.connect(self._update_tray)
        self.controller.job_finished.connect(self.on_controller_job_finished)
        self.controller.job_failed.connect(self.on_controller_job_failed)
        self.show_page(PAGE_LOGIN)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        self.settings_action = QAction(self.tr("&Settings…"), self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(self.settings_action)
        logout = QAction(self.tr("Log &out"), self)
        logout.triggered.connect(self.log_out)
        file_menu.addAction(logout)
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view = self.menuBar().addMenu(self.tr("&View"))
        for i, (text, key) in enumerate(((self.tr("&Dataset"), "Ctrl+1"),
                                         (self.tr("&Progress"), "Ctrl+2"),
                                         (self.tr("&History"), "Ctrl+3"))):
            a = QAction(text, self)
            a.setShortcut(QKeySequence(key))
            a.triggered.connect(lambda _=False, p=i + 1: self.nav.isEnabled() and self.show_page(p))
            view.addAction(a)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        logs = QAction(self.tr("Open the &log folder"), self)
        logs.triggered.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(self.service.paths.log_dir)))
        help_menu.addAction(logs)
        about = QAction(self.tr("&About DataUploader"), self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, self.tr("About DataUploader"),
            self.tr("DataUploader {0}\n\nGets experimental data safely into facility storage "
                    "and data catalogues.\n\nJournal: {1}\nLog: {2}").format(
                __version__, self.service.paths.journal, self.service.paths.log_file)))
        help_menu.addAction(about)

    # -- navigation -------------------------------------------------------------------------
    def show_page(self, page: int) -> None:
        self.stack.setCurrentIndex(page)
        if page >= PAGE_DATASET:
            self.nav.blockSignals(True)
            self.nav.setCurrentRow(page - 1)
            self.nav.blockSignals(False)
        if page == PAGE_HISTORY:
            self.history.refresh()

    # -- login ------------------------------------------------------------------------------
    @pyqtSlot(str, str)
    def on_login_login_succeeded(self, profile: str, user: str) -> None:
        self.profile, self.user = profile, user
        self.nav.setEnabled(True)
        self.dataset.set_profile(profile)
        self.setWindowTitle(f"DataUploader — {profile}")
        self.status_user.setText(self.tr("Profile {0}, logged in as {1}").format(profile, user))
        self.show_page(PAGE_PROGRESS if self.controller.running else PAGE_DATASET)
        self.offer_interrupted()

    def log_out(self) -> None:
        if self.controller.running:
            QMessageBox.information(self, self.tr("Log out"),
                                    self.tr("Wait for the running upload to finish first."))
            return
        try:
            self.service.catalogue(self.profile).logout()
        except Exception:  # noqa: BLE001 - logging out never blocks
            pass
        self.nav.setEnabled(False)
        self.status_user.clear()
        self.show_page(PAGE_LOGIN)

    def offer_interrupted(self) -> None:
        interrupted = [j for j in self.service.interrupted_jobs() if j.profile == self.profile]
        if interrupted and not self.controller.running:
            job = interrupted[0]
            self.banner.offer(job, self.service.journal.counts(job.id).files_done)

    # -- jobs -------------------------------------------------------------------------------
    @pyqtSlot(object, object)
    def on_dataset_start_requested(self, definition, prepared) -> None:
        if self.controller.running:
            QMessageBox.information(self, self.tr("Upload running"),
                                    self.tr("One upload at a time: wait for the running one "
                                            "to finish, or cancel it."))
            return
        self.dataset.start.setEnabled(False)
        service, profile = self.service, self.profile

        def created(job_id):
            self.dataset.start.setEnabled(True)
            self.dataset.reset_for_next()
            self.start_job(job_id, f"{definition.proposal} / {definition.name}")

        def failed(exc):
            self.dataset.start.setEnabled(True)
            self.dataset._show(self.dataset.start_error, describe(exc))

        self._calls.run(lambda: service.create_job(definition, profile, prepared), created,
                        failed)

    def start_job(self, job_id: int, title: str) -> None:
        self.banner.hide()
        sync = self.service.journal.job(job_id).definition.mode == "sync"
        self.progress.start(job_id, title, sync=sync)
        self.controller.start(job_id)
        self.show_page(PAGE_PROGRESS)

    @pyqtSlot(int)
    def resume_job(self, job_id: int) -> None:
        if self.controller.running:
            QMessageBox.information(self, self.tr("Upload running"),
                                    self.tr("One upload at a time: wait for the running one "
                                            "to finish, or cancel it."))
            return
        job = self.service.journal.job(job_id)
        if self.profile != job.profile:
            QMessageBox.information(self, self.tr("Resume"), self.tr(
                "Job {0} belongs to profile '{1}': log in with that profile to resume it.")
                .format(job_id, job.profile))
            return
        self.start_job(job_id, self.tr("{0} / {1} (resumed)").format(job.proposal,
                                                                     job.dataset_name))

    @pyqtSlot(int)
    def finish_job(self, job_id: int) -> None:
        """Sync mode: finish a stopped watch (last scan, remaining files, finalize)."""
        if self.controller.running:
            QMessageBox.information(self, self.tr("Upload running"),
                                    self.tr("One upload at a time: wait for the running one "
                                            "to finish, or cancel it."))
            return
        self.service.journal.request_finish(job_id)
        self.resume_job(job_id)

    def _cancel_clicked(self) -> None:
        sync = self.progress.sync.isVisible()
        answer = QMessageBox.question(
            self, self.tr("Stop watching") if sync else self.tr("Cancel upload"),
            self.tr("Stop watching the folders? Files already uploaded stay and the dataset "
                    "stays open: resume the job from the history to watch again, or Finish it "
                    "then.") if sync else
            self.tr("Stop this upload? Files already uploaded stay, and the job can be "
                    "resumed later from the history."),
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer == QMessageBox.Yes:
            self.controller.cancel()

    @pyqtSlot(object)
    def on_controller_job_finished(self, done) -> None:
        self.progress.finish(done)
        self.history.refresh()
        self.history.select_job(done.job_id)
        ok = done.state is JobState.COMPLETED
        if ok and self.progress.sync.isVisible():
            self.show_page(PAGE_HISTORY)  # a finished sync job: its report is there
            self.history.select_job(done.job_id)
        if self.tray is not None:
            title = self.tr("Upload finished") if ok else self.tr("Upload stopped")
            text = (self.tr("Job {0}: {1} files uploaded and registered.").format(
                done.job_id, done.files_ok) if ok else (done.error or done.state.value))
            self.tray.showMessage(title, text, QSystemTrayIcon.Information if ok
                                  else QSystemTrayIcon.Warning, 10000)
            self.tray.setToolTip("DataUploader")
        if done.exit_code == ExitCode.AUTH:  # credentials refused or expired: log in, then Retry
            self.nav.setEnabled(False)
            self.login._show_error(self.tr("{0}\nLog in again, then press Retry in the "
                                           "progress view.").format(done.error))
            self.show_page(PAGE_LOGIN)
        if self._quitting:
            self.close()

    @pyqtSlot(int, object)
    def on_controller_job_failed(self, job_id, exc) -> None:
        self.progress.fail(describe(exc))
        if isinstance(exc, AuthError):
            self.nav.setEnabled(False)
            self.login._show_error(describe(exc))
            self.show_page(PAGE_LOGIN)

    def _update_tray(self, snapshot) -> None:
        if self.tray is not None:
            self.tray.setToolTip(self.tr("DataUploader: {0} % of job {1}").format(
                int(100 * snapshot.fraction), snapshot.job_id))

    # -- settings, closing ------------------------------------------------------------------
    def open_settings(self) -> None:
        SettingsDialog(self.service, self.profile, self).exec_()

    def closeEvent(self, event) -> None:
        if not self.controller.running:
            self.controller.shutdown()
            if self.tray is not None:
                self.tray.hide()
            event.accept()
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Question)
        box.setWindowTitle(self.tr("An upload is running"))
        box.setText(self.tr("An upload is running. What should happen to it?"))
        background = None
        if self.tray is not None:
            background = box.addButton(self.tr("Keep uploading in the background"),
                                       QMessageBox.AcceptRole)
        stop = box.addButton(self.tr("Stop it and quit (resume later)"),
                             QMessageBox.DestructiveRole)
        box.addButton(self.tr("Don't quit"), QMessageBox.RejectRole)
        box.exec_()
        clicked = box.clickedButton()
        if background is not None and clicked is background:
            event.ignore()
            self.hide()
            self.tray.showMessage(self.tr("Still uploading"), self.tr(
                "DataUploader keeps uploading in the background; click the tray icon to open "
                "it."), QSystemTrayIcon.Information, 5000)
        elif clicked is stop:
            event.ignore()
            self._quitting = True
            self.controller.cancel()  # the job ends cancelled; closing follows when it has
        else:
            event.ignore()
