"""First connection to an SFTP server: show its host-key fingerprint and let the user decide.

Nothing is trusted silently: the key is recorded only when the user presses "Trust and
connect", and "Cancel" is the default button (Enter or Escape never trust). A *changed* key
never reaches this dialog: it is a loud error (``HostKeyChangedError``).
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QFontDatabase
from PyQt5.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout


class HostKeyDialog(QDialog):
    def __init__(self, error, parent=None):
        """``error``: the HostKeyUnknownError (host, port, key_type, fingerprint)."""
        super().__init__(parent)
        self.error = error
        self.setWindowTitle(self.tr("Unknown SFTP server"))
        self.setWindowModality(Qt.WindowModal)

        intro = QLabel(self.tr(
            "DataUploader has not connected to <b>{0}:{1}</b> before. Before anything is sent "
            "to it, make sure it is really your facility's server: compare the fingerprint "
            "below with the one your facility publishes (web page, IT department).")
            .format(error.host, error.port))
        intro.setWordWrap(True)

        self.fingerprint = QLabel(error.fingerprint)
        self.fingerprint.setObjectName("fingerprint")
        self.fingerprint.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.fingerprint.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.fingerprint.setAccessibleName(self.tr("Host key fingerprint"))
        self.key_type = QLabel(error.key_type)
        self.key_type.setObjectName("keyType")
        form = QFormLayout()
        form.addRow(self.tr("Server:"), QLabel(f"{error.host}:{error.port}"))
        form.addRow(self.tr("Key type:"), self.key_type)
        form.addRow(self.tr("Fingerprint:"), self.fingerprint)

        warning = QLabel(self.tr("If the fingerprints differ, do not trust this server: someone "
                                 "may be intercepting the connection."))
        warning.setWordWrap(True)
        warning.setStyleSheet("color: #b00020")

        self.buttons = QDialogButtonBox()
        self.trust_button = self.buttons.addButton(self.tr("&Trust and connect"),
                                                   QDialogButtonBox.AcceptRole)
        self.trust_button.setObjectName("trust")
        self.trust_button.setAutoDefault(False)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.Cancel)
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(warning)
        layout.addWidget(self.buttons)
        self.cancel_button.setFocus()
