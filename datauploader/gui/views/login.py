"""Login view: choose the profile (site), fill in exactly the fields its catalogue needs,
optionally remember the secret in the OS keyring. Errors are shown inline, in plain words."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                             QProgressBar, QPushButton, QVBoxLayout, QWidget)

from datauploader.errors import UnknownHostKeyError, describe
from datauploader.gui.background_calls import Calls


class LoginView(QWidget):
    login_succeeded = pyqtSignal(str, str)  # profile, user name
    login_failed = pyqtSignal(str)  # the message shown

    def __init__(self, service, parent=None):
        super().__init__(parent)
        self.service = service
        self._calls = Calls()
        self._busy = False
        self._fields = []
        self._inputs: dict[str, QWidget] = {}

        title = QLabel(self.tr("<h2>Log in</h2>"))
        self.profile = QComboBox()
        self.profile.setAccessibleName(self.tr("Profile"))
        for name in service.config.profile_names():
            desc = service.config.profile(name).values.get("description", "")
            self.profile.addItem(f"{name} — {desc}" if desc else name, name)
        default = self.profile.findData(service.config.default_profile)
        self.profile.setCurrentIndex(max(0, default))
        self.profile_details = QLabel()
        self.profile_details.setWordWrap(True)
        self.profile_details.setStyleSheet("color: #555")

        self.form = QFormLayout()
        self.form.addRow(self.tr("&Profile:"), self.profile)
        self.form.addRow("", self.profile_details)
        self.fields_box = QWidget()
        self.fields_form = QFormLayout(self.fields_box)
        self.fields_form.setContentsMargins(0, 0, 0, 0)
        self.no_login = QLabel(self.tr("This profile needs no login."))
        self.no_login.setStyleSheet("color: #555")
        self.remember = QCheckBox(self.tr("&Remember me (the secret is kept in the OS keyring)"))
        self.remember.setAccessibleName(self.tr("Remember me"))

        self.button = QPushButton(self.tr("&Log in"))
        self.button.setDefault(True)
        self.button.setAccessibleName(self.tr("Log in"))
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.error = QLabel()
        self.error.setObjectName("loginError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.setAccessibleName(self.tr("Login error"))
        self.error.hide()

        box = QWidget()
        box.setMaximumWidth(560)
        inner = QVBoxLayout(box)
        inner.addWidget(title)
        inner.addLayout(self.form)
        inner.addWidget(self.fields_box)
        inner.addWidget(self.no_login)
        inner.addWidget(self.remember)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.button)
        inner.addLayout(row)
        inner.addWidget(self.busy)
        inner.addWidget(self.error)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        col = QVBoxLayout()
        col.addStretch(1)
        col.addWidget(box)
        col.addStretch(2)
        outer.addLayout(col)
        outer.addStretch(1)

        self.profile.currentIndexChanged.connect(self._on_profile_changed)
        self.button.clicked.connect(self.log_in)
        self._on_profile_changed()

    @property
    def profile_name(self) -> str:
        return self.profile.currentData()

    @pyqtSlot()
    def _on_profile_changed(self) -> None:
        name = self.profile_name
        self.error.hide()
        try:
            storage = self.service.storage(name)
            cat = self.service.catalogue(name)
        except Exception as e:  # noqa: BLE001 - a broken profile is shown, not raised
            self._show_error(describe(e))
            self.button.setEnabled(False)
            return
        self.button.setEnabled(True)
        self.profile_details.setText(self.tr("Files go to {0}; datasets are registered in {1}.")
                                     .format(storage.describe(), cat.describe()))
        self._set_busy(True, self.tr("Asking the catalogue how to log in…"))
        self._calls.run(cat.credential_fields, self._show_fields, self._fields_failed)

    def _show_fields(self, fields) -> None:
        self._set_busy(False)
        while self.fields_form.rowCount():
            self.fields_form.removeRow(0)
        self._inputs = {}
        self._fields = list(fields)
        for f in self._fields:
            if f.choices:
                w = QComboBox()
                for choice in f.choices:  # shown by label (ICAT's friendly names), sent as is
                    w.addItem(f.label_of(choice), choice)
                if f.default in f.choices:
                    w.setCurrentIndex(f.choices.index(f.default))
            else:
                w = QLineEdit()
                w.setText(f.default)
                if f.secret:
                    w.setEchoMode(QLineEdit.Password)
                    w.setPlaceholderText(self.tr("leave empty to use the remembered one"))
                w.returnPressed.connect(self.log_in)
            w.setAccessibleName(f.label)
            w.setObjectName(f"field_{f.name}")
            self._inputs[f.name] = w
            self.fields_form.addRow(f.label + ":", w)
        has_fields = bool(self._fields)
        self.fields_box.setVisible(has_fields)
        self.no_login.setVisible(not has_fields)
        self.remember.setVisible(any(f.secret for f in self._fields))
        self.button.setText(self.tr("&Log in") if has_fields else self.tr("&Continue"))
        first = next(iter(self._inputs.values()), None)
        (first or self.button).setFocus()

    def _fields_failed(self, exc) -> None:
        self._set_busy(False)
        self._show_error(describe(exc))

    def credentials(self) -> dict[str, str]:
        out = {}
        for name, w in self._inputs.items():
            out[name] = w.currentData() if isinstance(w, QComboBox) else w.text()
        return out

    @pyqtSlot()
    def log_in(self) -> None:
        if self._busy:  # a login or the fields' query is under way
            return
        profile = self.profile_name
        creds = self.credentials()
        remember = self.remember.isChecked() and self.remember.isVisible()
        service = self.service
        self.error.hide()
        self._set_busy(True, self.tr("Logging in…"))

        def work():
            user = service.login(profile, creds, remember=remember)
            service.storage(profile).check()  # reachable, credentials accepted
            return user

        self._calls.run(work, lambda user: self._succeeded(profile, user), self._failed)

    def _succeeded(self, profile: str, user: str) -> None:
        self._set_busy(False)
        for name, w in self._inputs.items():
            if isinstance(w, QLineEdit) and w.echoMode() == QLineEdit.Password:
                w.clear()  # the secret does not linger in the widget
        self.login_succeeded.emit(profile, user)

    def _failed(self, exc) -> None:
        self._set_busy(False)
        # -- an SFTP server seen for the first time: ask, never trust silently (issue 7) ----
        if isinstance(exc, UnknownHostKeyError):
            self._ask_host_key(exc)
            return
        # ----------------------------------------------------------------------------------
        message = describe(exc)
        self._show_error(message)
        self.login_failed.emit(message)

    # -- SSH host keys (issue 7) ------------------------------------------------------------
    def _ask_host_key(self, exc) -> None:
        """Show the fingerprint; on "Trust and connect" record the key and log in again."""
        from datauploader.gui.dialogs.hostkey import HostKeyDialog

        dialog = HostKeyDialog(exc, self)
        self.host_key_dialog = dialog  # kept alive while open (and found by tests)

        def trusted():
            try:
                exc.trust()
            except OSError as e:
                message = self.tr("The key could not be recorded in {0}: {1}").format(
                    exc.trust_file, e.strerror or e)
                self._show_error(message)
                self.login_failed.emit(message)
                return
            self.log_in()

        def refused():
            message = describe(exc)
            self._show_error(message)
            self.login_failed.emit(message)

        dialog.accepted.connect(trusted)
        dialog.rejected.connect(refused)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
    # ---------------------------------------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.busy.setVisible(busy)
        self.busy.setToolTip(text)
        self.button.setEnabled(not busy)
        self.profile.setEnabled(not busy)
