"""Dataset definition: which proposal, what the data is, which files; live totals and a
preview of where each file will land; validation next to each field before anything starts."""

from __future__ import annotations

import os

from PyQt5.QtCore import Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QCompleter, QFileDialog,
                             QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                             QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QPushButton,
                             QRadioButton, QSplitter, QTableView, QTableWidget, QTableWidgetItem,
                             QVBoxLayout, QWidget)

from datauploader.core.models import DatasetDefinition, Mode
from datauploader.core.templates import Templates
from datauploader.errors import describe
from datauploader.gui.background_calls import Calls
from datauploader.gui.table_models import PlanPreviewModel
from datauploader.units import human_bytes


def _split(text: str) -> list[str]:
    return [p for p in text.replace(",", " ").split() if p]


class FileDropList(QListWidget):
    """The files-and-folders list: drop files or folders from the file manager onto it."""

    paths_dropped = pyqtSignal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DropOnly)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)

    def _local_paths(self, event) -> list[str]:
        md = event.mimeData()
        if not md.hasUrls():
            return []
        return [u.toLocalFile() for u in md.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event):
        if self._local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        if self._local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        paths = self._local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.paths_dropped.emit(paths)
        else:
            event.ignore()


class DatasetView(QWidget):
    start_requested = pyqtSignal(object, object)  # DatasetDefinition, PreparedJob
    plan_ready = pyqtSignal(object)  # PreparedJob (tests wait on it)

    def __init__(self, service, parent=None):
        super().__init__(parent)
        self.service = service
        self.profile: str | None = None
        self.templates = Templates(os.path.join(service.paths.data_dir, "templates"))
        self._calls = Calls()
        self._prepared = None
        self._plan_error: str | None = None
        self._investigations: list = []
        self._plan_seq = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self._replan)
        self._build()

    # -- layout -----------------------------------------------------------------------------
    def _error_label(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setStyleSheet("color: #b00020")
        label.setWordWrap(True)
        label.hide()
        return label

    def _build(self) -> None:
        # templates
        self.template = QComboBox()
        self.template.setAccessibleName(self.tr("Template"))
        self.template.setMinimumWidth(180)
        self.load_template = QPushButton(self.tr("Start from template"))
        self.save_template = QPushButton(self.tr("Save as template…"))
        trow = QHBoxLayout()
        trow.addWidget(QLabel(self.tr("Template:")))
        trow.addWidget(self.template, 1)
        trow.addWidget(self.load_template)
        trow.addWidget(self.save_template)

        # what the data is
        self.proposal = QComboBox()
        self.proposal.setEditable(True)
        self.proposal.setInsertPolicy(QComboBox.NoInsert)
        self.proposal.setAccessibleName(self.tr("Proposal"))
        self.proposal.setMinimumWidth(160)
        self.proposal.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.proposal.lineEdit().setPlaceholderText(self.tr("type to search your proposals"))
        completer = QCompleter(self.proposal.model(), self)
        completer.setFilterMode(Qt.MatchContains)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        self.proposal.setCompleter(completer)
        self.new_proposal = QPushButton(self.tr("New…"))
        self.new_proposal.setToolTip(self.tr("Create a proposal/investigation in the catalogue"))
        self.refresh_proposals = QPushButton(self.tr("Refresh"))
        prow = QHBoxLayout()
        prow.addWidget(self.proposal, 1)
        prow.addWidget(self.new_proposal)
        prow.addWidget(self.refresh_proposals)
        self.proposal_error = self._error_label("proposalError")

        self.name = QLineEdit()
        self.name.setAccessibleName(self.tr("Dataset name"))
        self.name_error = self._error_label("nameError")
        self.description = QPlainTextEdit()
        self.description.setAccessibleName(self.tr("Description"))
        self.description.setFixedHeight(54)
        self.dataset_type = QComboBox()
        self.dataset_type.setEditable(True)
        self.dataset_type.addItems(["raw", "derived"])
        self.dataset_type.setAccessibleName(self.tr("Dataset type"))
        self.sample = QLineEdit()
        self.sample.setAccessibleName(self.tr("Sample"))
        self.keywords = QLineEdit()
        self.keywords.setPlaceholderText(self.tr("comma-separated"))
        self.keywords.setAccessibleName(self.tr("Keywords"))

        self.metadata = QTableWidget(0, 2)
        self.metadata.setHorizontalHeaderLabels([self.tr("Key"), self.tr("Value")])
        self.metadata.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.metadata.verticalHeader().hide()
        self.metadata.setAccessibleName(self.tr("Metadata"))
        self.metadata.setMinimumHeight(80)
        self.add_meta = QPushButton(self.tr("+"))
        self.add_meta.setAccessibleName(self.tr("Add metadata"))
        self.remove_meta = QPushButton(self.tr("−"))
        self.remove_meta.setAccessibleName(self.tr("Remove metadata"))
        mrow = QHBoxLayout()
        mrow.addWidget(self.metadata, 1)
        mcol = QVBoxLayout()
        mcol.addWidget(self.add_meta)
        mcol.addWidget(self.remove_meta)
        mcol.addStretch(1)
        mrow.addLayout(mcol)
        self.metadata_error = self._error_label("metadataError")

        about = QGroupBox(self.tr("Dataset"))
        form = QFormLayout(about)
        form.addRow(self.tr("Proposal:"), prow)
        form.addRow("", self.proposal_error)
        form.addRow(self.tr("&Name:"), self.name)
        form.addRow("", self.name_error)
        form.addRow(self.tr("&Description:"), self.description)
        form.addRow(self.tr("&Type:"), self.dataset_type)
        form.addRow(self.tr("&Sample:"), self.sample)
        form.addRow(self.tr("&Keywords:"), self.keywords)
        form.addRow(self.tr("Metadata:"), mrow)
        form.addRow("", self.metadata_error)

        # which files
        self.files = FileDropList()
        self.files.setAccessibleName(self.tr("Files and folders"))
        self.files.setToolTip(self.tr("Drop files or folders here"))
        self.add_files = QPushButton(self.tr("Add &files…"))
        self.add_folder = QPushButton(self.tr("Add f&older…"))
        self.remove_files = QPushButton(self.tr("&Remove"))
        frow = QHBoxLayout()
        frow.addWidget(self.add_files)
        frow.addWidget(self.add_folder)
        frow.addWidget(self.remove_files)
        frow.addStretch(1)
        self.include = QLineEdit()
        self.include.setPlaceholderText(self.tr("e.g. *.h5 scans/**/*.cbf (empty: everything)"))
        self.include.setAccessibleName(self.tr("Include patterns"))
        self.exclude = QLineEdit()
        self.exclude.setPlaceholderText(self.tr("e.g. *.tmp ~* cache/"))
        self.exclude.setAccessibleName(self.tr("Exclude patterns"))
        self.totals = QLabel(self.tr("No files yet: drop files or folders on the list."))
        self.totals.setObjectName("totals")
        self.files_error = self._error_label("filesError")
        self.preview_model = PlanPreviewModel(self)
        self.preview = QTableView()
        self.preview.setModel(self.preview_model)
        self.preview.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.preview.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.preview.verticalHeader().hide()
        self.preview.verticalHeader().setDefaultSectionSize(22)
        self.preview.setAccessibleName(self.tr("Where each file will land"))

        filesbox = QGroupBox(self.tr("Files and folders"))
        fl = QVBoxLayout(filesbox)
        fl.addWidget(self.files, 1)
        fl.addLayout(frow)
        pf = QFormLayout()
        pf.addRow(self.tr("&Include:"), self.include)
        pf.addRow(self.tr("E&xclude:"), self.exclude)
        fl.addLayout(pf)
        fl.addWidget(self.totals)
        fl.addWidget(self.files_error)
        fl.addWidget(self.preview, 2)

        # mode and start
        self.mode_batch = QRadioButton(self.tr("Upload at the &end of the experiment"))
        self.mode_sync = QRadioButton(self.tr("S&ync during acquisition"))
        self.mode_batch.setChecked(True)
        self.mode_batch.setToolTip(self.tr("Upload everything selected, once."))
        self.mode_sync.setToolTip(self.tr("Watch the folders and upload each new or modified "
                                          "file as soon as it is complete, until you press "
                                          "Finish."))
        self.mode = QButtonGroup(self)
        self.mode.addButton(self.mode_batch)
        self.mode.addButton(self.mode_sync)
        self.start = QPushButton(self.tr("Start &upload"))
        self.start.setObjectName("startUpload")
        self.start.setDefault(True)
        self.start.setShortcut("Ctrl+U")
        self.start.setAccessibleName(self.tr("Start upload"))
        self.start_error = self._error_label("startError")
        brow = QHBoxLayout()
        brow.addWidget(self.mode_batch)
        brow.addWidget(self.mode_sync)
        brow.addStretch(1)
        brow.addWidget(self.start)

        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(about)
        split.addWidget(left)
        split.addWidget(filesbox)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(trow)
        layout.addWidget(split, 1)
        layout.addWidget(self.start_error)
        layout.addLayout(brow)

        # signals
        self.files.paths_dropped.connect(self.add_paths)
        self.add_files.clicked.connect(self._choose_files)
        self.add_folder.clicked.connect(self._choose_folder)
        self.remove_files.clicked.connect(self._remove_selected)
        self.add_meta.clicked.connect(lambda: self.add_metadata_row("", ""))
        self.remove_meta.clicked.connect(self._remove_metadata_row)
        self.new_proposal.clicked.connect(self._create_proposal)
        self.refresh_proposals.clicked.connect(self.load_investigations)
        self.load_template.clicked.connect(self._load_template)
        self.save_template.clicked.connect(self._save_template)
        self.start.clicked.connect(self.request_start)
        for w in (self.include, self.exclude, self.name):
            w.textChanged.connect(self._changed)
        self.proposal.currentTextChanged.connect(self._changed)
        self._refresh_templates()

    # -- profile and catalogue --------------------------------------------------------------
    def set_profile(self, profile: str) -> None:
        self.profile = profile
        cat = self.service.catalogue(profile)
        self.new_proposal.setEnabled(cat.can_create_investigations)
        self.load_investigations()
        self._changed()

    @pyqtSlot()
    def load_investigations(self) -> None:
        cat = self.service.catalogue(self.profile)
        self.refresh_proposals.setEnabled(False)
        self._calls.run(cat.investigations, self._show_investigations, self._investigations_failed)

    def _show_investigations(self, investigations) -> None:
        self.refresh_proposals.setEnabled(True)
        current = self.proposal.currentText()
        self._investigations = list(investigations)
        self.proposal.blockSignals(True)
        self.proposal.clear()
        for inv in self._investigations:
            label = f"{inv.proposal} — {inv.title}" if inv.title else inv.proposal
            self.proposal.addItem(label, inv.proposal)
        self.proposal.setEditText(current)
        self.proposal.blockSignals(False)

    def _investigations_failed(self, exc) -> None:
        self.refresh_proposals.setEnabled(True)
        self._show(self.proposal_error, self.tr("Could not list your proposals: {0}")
                   .format(describe(exc)))

    def proposal_id(self) -> str:
        text = self.proposal.currentText().strip()
        i = self.proposal.findText(text)
        if i >= 0 and self.proposal.itemData(i):
            return self.proposal.itemData(i)
        return text.split(" — ", 1)[0].strip()

    @pyqtSlot()
    def _create_proposal(self) -> None:
        pid, ok = QInputDialog.getText(self, self.tr("New proposal"),
                                       self.tr("Proposal number or name:"))
        if not ok or not pid.strip():
            return
        title, ok = QInputDialog.getText(self, self.tr("New proposal"), self.tr("Title:"))
        cat = self.service.catalogue(self.profile)
        pid = pid.strip()

        def created(inv):
            self.load_investigations()
            self.proposal.setEditText(inv.proposal)

        self._calls.run(lambda: cat.create_investigation(pid, title if ok else ""), created,
                        lambda e: self._show(self.proposal_error, describe(e)))

    # -- files ------------------------------------------------------------------------------
    @pyqtSlot(list)
    def add_paths(self, paths) -> None:
        have = set(self.paths())
        for p in paths:
            p = os.path.abspath(p)
            if p not in have:
                self.files.addItem(p)
                have.add(p)
        self._changed()

    def paths(self) -> list[str]:
        return [self.files.item(i).text() for i in range(self.files.count())]

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Add files"))
        self.add_paths(paths)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Add folder"))
        if path:
            self.add_paths([path])

    def _remove_selected(self) -> None:
        for item in self.files.selectedItems():
            self.files.takeItem(self.files.row(item))
        self._changed()

    # -- metadata ---------------------------------------------------------------------------
    def add_metadata_row(self, key: str, value: str) -> None:
        r = self.metadata.rowCount()
        self.metadata.insertRow(r)
        self.metadata.setItem(r, 0, QTableWidgetItem(key))
        self.metadata.setItem(r, 1, QTableWidgetItem(value))
        if not key:
            self.metadata.editItem(self.metadata.item(r, 0))

    def _remove_metadata_row(self) -> None:
        rows = sorted({i.row() for i in self.metadata.selectedIndexes()}, reverse=True)
        for r in rows or [self.metadata.rowCount() - 1]:
            if r >= 0:
                self.metadata.removeRow(r)

    def metadata_dict(self) -> dict[str, str]:
        out = {}
        for r in range(self.metadata.rowCount()):
            k = (self.metadata.item(r, 0).text() if self.metadata.item(r, 0) else "").strip()
            v = self.metadata.item(r, 1).text() if self.metadata.item(r, 1) else ""
            if k:
                out[k] = v
        return out

    # -- the definition, the plan, validation -----------------------------------------------
    def definition(self) -> DatasetDefinition:
        return DatasetDefinition(
            proposal=self.proposal_id(), name=self.name.text().strip(), paths=self.paths(),
            description=self.description.toPlainText().strip(),
            dataset_type=self.dataset_type.currentText().strip() or "raw",
            sample=self.sample.text().strip(),
            keywords=[k.strip() for k in self.keywords.text().split(",") if k.strip()],
            metadata=self.metadata_dict(), include=_split(self.include.text()),
            exclude=_split(self.exclude.text()),
            mode=Mode.SYNC.value if self.mode_sync.isChecked() else Mode.BATCH.value)

    def set_definition(self, d: DatasetDefinition) -> None:
        if d.proposal:
            self.proposal.setEditText(d.proposal)
        if d.name:
            self.name.setText(d.name)
        self.description.setPlainText(d.description)
        self.dataset_type.setCurrentText(d.dataset_type or "raw")
        self.sample.setText(d.sample)
        self.keywords.setText(", ".join(d.keywords))
        self.metadata.setRowCount(0)
        for k, v in d.metadata.items():
            self.add_metadata_row(k, v)
        self.include.setText(" ".join(d.include))
        self.exclude.setText(" ".join(d.exclude))
        (self.mode_sync if d.mode == Mode.SYNC.value else self.mode_batch).setChecked(True)
        if d.paths:
            self.files.clear()
            self.add_paths(d.paths)
        self._changed()

    @pyqtSlot()
    def _changed(self, *args) -> None:
        self._prepared = None
        self._debounce.start()

    def _replan(self) -> None:
        paths = self.paths()
        if not paths or self.profile is None:
            self.totals.setText(self.tr("No files yet: drop files or folders on the list."))
            self.preview_model.clear()
            self.files_error.hide()
            return
        d = self.definition()
        if not d.proposal or not d.name:
            # the prefix needs both; show the totals anyway with placeholders
            d.proposal = d.proposal or "PROPOSAL"
            d.name = d.name or "DATASET"
        self._plan_seq += 1
        seq = self._plan_seq
        self.totals.setText(self.tr("Scanning…"))
        profile, service = self.profile, self.service
        self._calls.run(lambda: service.prepare(d, profile),
                        lambda p: self._planned(seq, p), lambda e: self._plan_failed(seq, e))

    def _planned(self, seq: int, prepared) -> None:
        if seq != self._plan_seq:
            return  # an older scan; a newer one is on its way
        self._prepared = prepared
        self._plan_error = None
        self.files_error.hide()
        plan = prepared.plan
        text = self.tr("{0} files, {1}").format(len(plan.files), human_bytes(plan.total_bytes))
        if plan.warnings:
            text += " — " + self.tr("{0} warnings").format(len(plan.warnings))
            self._show(self.files_error, "\n".join(plan.warnings[:5]))
            self.files_error.setStyleSheet("color: #a15c00")
        self.totals.setText(text)
        self.preview_model.set_plan(plan.files, prepared.storage)
        self.plan_ready.emit(prepared)

    def _plan_failed(self, seq: int, exc) -> None:
        if seq != self._plan_seq:
            return
        self._prepared = None
        self._plan_error = describe(exc)
        self.totals.setText(self.tr("Cannot upload these files as they are:"))
        self.files_error.setStyleSheet("color: #b00020")
        self._show(self.files_error, self._plan_error)
        self.preview_model.clear()
        self.plan_ready.emit(None)

    def _show(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))

    def validate(self) -> bool:
        """Check every field; messages appear next to them. True if all is well."""
        d = self.definition()
        ok = True
        for label in (self.proposal_error, self.name_error, self.start_error,
                      self.metadata_error):
            label.hide()
        cat = self.service.catalogue(self.profile)
        known = {i.proposal for i in self._investigations}
        if not d.proposal:
            self._show(self.proposal_error, self.tr("Choose the proposal the data belongs to."))
            ok = False
        elif not cat.can_create_investigations and known and d.proposal not in known:
            self._show(self.proposal_error, self.tr(
                "{0} is not one of your proposals; choose one from the list.").format(d.proposal))
            ok = False
        if not d.name:
            self._show(self.name_error, self.tr("Give the dataset a name."))
            ok = False
        elif d.name in (".", "..") or "/" in d.name or "\\" in d.name:
            self._show(self.name_error, self.tr("A dataset name cannot be '.' or '..' or "
                                                "contain '/' or '\\'."))
            ok = False
        keys = [self.metadata.item(r, 0).text().strip() if self.metadata.item(r, 0) else ""
                for r in range(self.metadata.rowCount())]
        if len(set(k for k in keys if k)) != len([k for k in keys if k]):
            self._show(self.metadata_error, self.tr("Each metadata key may appear only once."))
            ok = False
        if not d.paths:
            self._show(self.files_error, self.tr("Add at least one file or folder."))
            self.files_error.setStyleSheet("color: #b00020")
            ok = False
        elif self._plan_error:
            ok = False
        return ok

    @pyqtSlot()
    def request_start(self) -> None:
        if not self.validate():
            return
        if self._prepared is None or self._debounce.isActive():
            # the plan is being recomputed: start as soon as it is ready
            self._debounce.stop()
            self._replan()
            self.plan_ready.connect(self._start_when_planned)
            return
        self._emit_start()

    def _start_when_planned(self, prepared) -> None:
        self.plan_ready.disconnect(self._start_when_planned)
        if prepared is not None and self.validate():
            self._emit_start()

    def _emit_start(self) -> None:
        d = self.definition()
        if self._prepared.plan.files == [] and d.mode != Mode.SYNC.value:
            self._show(self.start_error, self.tr("The patterns leave no file to upload."))
            return
        self.start_requested.emit(d, self._prepared)

    # -- templates --------------------------------------------------------------------------
    def _refresh_templates(self) -> None:
        self.template.clear()
        self.template.addItems(self.templates.names())
        self.load_template.setEnabled(self.template.count() > 0)

    def _save_template(self) -> None:
        name, ok = QInputDialog.getText(self, self.tr("Save as template"),
                                        self.tr("Template name (beamline or experiment):"),
                                        text=self.template.currentText())
        if ok and name.strip():
            try:
                self.templates.save(name.strip(), self.definition())
            except Exception as e:  # noqa: BLE001 - shown to the user
                QMessageBox.warning(self, self.tr("Template"), describe(e))
                return
            self._refresh_templates()
            self.template.setCurrentText(name.strip())

    def _load_template(self) -> None:
        name = self.template.currentText()
        if not name:
            return
        try:
            d = self.templates.load(name)
        except Exception as e:  # noqa: BLE001
            QMessageBox.warning(self, self.tr("Template"), describe(e))
            return
        self.set_definition(d)

    def reset_for_next(self) -> None:
        """After a start: keep the metadata for the next dataset, clear name and files."""
        self.name.clear()
        self.files.clear()
        self._changed()
