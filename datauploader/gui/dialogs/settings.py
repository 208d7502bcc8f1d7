"""The settings dialog, generated from the same declarations as the configuration
(datauploader.app.settings): one field per setting, locked ones read-only with the reason."""

from __future__ import annotations

from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                             QFormLayout, QLabel, QLineEdit, QSpinBox, QTabWidget, QVBoxLayout,
                             QWidget)

from datauploader.app import settings as S


class SettingsDialog(QDialog):
    def __init__(self, service, profile: str | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setMinimumWidth(560)
        self.service = service
        self.profile = profile
        cfg = service.config
        values = cfg.effective_settings(profile)
        self.editors: dict[str, object] = {}
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        groups: dict[str, QFormLayout] = {}
        for s in S.SETTINGS:
            if s.group not in groups:
                page = QWidget()
                groups[s.group] = QFormLayout(page)
                self.tabs.addTab(page, self.tr(s.group))
            editor = self._editor(s, values[s.name])
            editor.setObjectName(f"setting_{s.name}")
            editor.setAccessibleName(s.name)
            editor.setToolTip(f"{self.tr(s.description)}\n[{cfg.setting_source(s.name, profile)}]")
            if cfg.is_locked(s.name):
                editor.setEnabled(False)
                editor.setToolTip(self.tr("Locked by the system configuration ({0}).").format(
                    cfg.locked[s.name][1]))
            self.editors[s.name] = editor
            label = QLabel(s.name.removeprefix("sync_").replace("_", " ").capitalize() + ":")
            label.setToolTip(self.tr(s.description))
            groups[s.group].addRow(label, editor)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        note = QLabel(self.tr("Saved to {0}; a profile's own values still apply to that profile.")
                      .format(service.paths.user_config))
        note.setWordWrap(True)
        note.setStyleSheet("color: #555")
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout.addWidget(buttons)

    def _editor(self, s: S.Setting, value):
        if s.kind == "int":
            w = QSpinBox()
            w.setRange(int(s.minimum or 0), int(s.maximum or 10**6))
            w.setValue(int(value))
        elif s.kind == "float":
            w = QDoubleSpinBox()
            w.setDecimals(1)
            w.setRange(float(s.minimum or 0), float(s.maximum or 10**7))
            w.setValue(float(value))
        elif s.kind == "bool":
            w = QCheckBox()
            w.setChecked(bool(value))
        elif s.kind == "choice":
            w = QComboBox()
            w.addItems(list(s.choices))
            w.setCurrentText(str(value))
        else:
            w = QLineEdit(str(value))
            if s.kind == "bandwidth":
                w.setPlaceholderText("off, 10M, or 08:00,10M 20:00,off")
        return w

    def values(self) -> dict[str, object]:
        """Parsed values of the editable settings; raises ValueError naming the setting."""
        out = {}
        for name, w in self.editors.items():
            if not w.isEnabled():
                continue
            if isinstance(w, QCheckBox):
                text = "yes" if w.isChecked() else "no"
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                text = str(w.value())
            elif isinstance(w, QComboBox):
                text = w.currentText()
            else:
                text = w.text()
            try:
                out[name] = S.BY_NAME[name].parse(text)
            except ValueError as e:
                raise ValueError(f"{name.replace('_', ' ')}: {e}") from None
        return out

    def save(self) -> None:
        try:
            values = self.values()
        except ValueError as e:
            self.error.setText(str(e))
            self.error.show()
            return
        self.service.save_user_settings(values)
        self.accept()
