"""Qt item models over engine snapshots and the journal (model/view: views never hold data)."""

from __future__ import annotations

import datetime as dt

from PyQt5.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, Qt
from PyQt5.QtGui import QBrush, QColor

from datauploader.cli.progress import human_bytes
from datauploader.core.progress import FileRow

STATUS_COLORS = {"failed": QColor("#b00020"), "retrying": QColor("#a15c00"),
                 "verified": QColor("#1b5e20"), "registered": QColor("#1b5e20"),
                 "skipped": QColor("#1b5e20"), "uploading": QColor("#0d47a1")}


class _TableModel(QAbstractTableModel):
    """A table over a Python list ``self._items``, with translated column headers."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._items: list = []

    def tr(self, text: str) -> str:  # Qt's translation hook, per model class
        return QCoreApplication.translate(type(self).__name__, text)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.tr(self.HEADERS[section])
        return None

    def _reset(self, items) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()


class FileTableModel(_TableModel):
    """One row per file that has started; rows change in place as snapshots arrive."""

    HEADERS = ("File", "Size", "Status", "Progress", "Checksum")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._index: dict[int, int] = {}  # task id → row

    def clear(self) -> None:
        self._index = {}
        self._reset([])

    def apply(self, rows) -> None:
        """Merge changed rows from a snapshot: new ones appended in one insert, others
        updated with one dataChanged over the span they cover."""
        new = [r for r in rows if r.task_id not in self._index]
        lo = hi = None
        for r in rows:
            i = self._index.get(r.task_id)
            if i is not None:
                self._items[i] = r
                lo = i if lo is None else min(lo, i)
                hi = i if hi is None else max(hi, i)
        if lo is not None:
            self.dataChanged.emit(self.index(lo, 0), self.index(hi, len(self.HEADERS) - 1))
        if new:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for r in new:
                self._index[r.task_id] = len(self._items)
                self._items.append(r)
            self.endInsertRows()

    def row(self, i: int) -> FileRow:
        return self._items[i]

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._items[index.row()]
        col = index.column()
        if role == Qt.DisplayRole:
            if col == 0:
                return r.relpath
            if col == 1:
                return human_bytes(r.size)
            if col == 2:
                return self.tr(r.status)
            if col == 3:
                pct = 100 if r.status in ("verified", "registered", "skipped") else (
                    int(100 * r.sent / r.size) if r.size else 0)
                return f"{min(pct, 100)} %"
            if col == 4:
                return r.checksum[:16] + ("…" if len(r.checksum) > 16 else "")
        if role == Qt.ToolTipRole:
            if r.error:
                return r.error
            if col == 4 and r.checksum:
                return f"{r.checksum}\n{self.tr('verified by')} {r.verified_by}"
        if role == Qt.ForegroundRole and col == 2 and r.status in STATUS_COLORS:
            return QBrush(STATUS_COLORS[r.status])
        if role == Qt.TextAlignmentRole and col in (1, 3):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.UserRole:
            return r
        return None


class HistoryTableModel(_TableModel):
    """Jobs from the journal with their outcome; items are (JobRecord, JobState)."""

    HEADERS = ("Job", "State", "Started", "Proposal", "Dataset", "Files", "Size")

    def set_jobs(self, jobs) -> None:
        self._reset(jobs)

    def job_at(self, row: int):
        return self._items[row]

    def row_of(self, job_id: int) -> int | None:
        for i, (j, _) in enumerate(self._items):
            if j.id == job_id:
                return i
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        job, state = self._items[index.row()]
        col = index.column()
        if role == Qt.DisplayRole:
            return (str(job.id), self.tr(state.value),
                    dt.datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M"),
                    job.proposal, job.dataset_name, str(job.files_total),
                    human_bytes(job.bytes_total))[col]
        if role == Qt.ForegroundRole and col == 1:
            color = {"completed": "#1b5e20", "failed": "#b00020", "incomplete": "#a15c00",
                     "interrupted": "#a15c00", "cancelled": "#616161"}.get(state.value)
            return QBrush(QColor(color)) if color else None
        if role == Qt.ToolTipRole and job.error:
            return job.error
        if role == Qt.UserRole:
            return job.id
        return None


class PlanPreviewModel(_TableModel):
    """Where each planned file will land; a model, so 100,000 files cost nothing until shown."""

    HEADERS = ("File", "Size", "Will land at")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._storage = None

    def set_plan(self, files, storage) -> None:
        self._storage = storage
        self._reset(files)

    def clear(self) -> None:
        self.set_plan([], None)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or role not in (Qt.DisplayRole, Qt.ToolTipRole):
            return None
        f = self._items[index.row()]
        col = index.column()
        if col == 0:
            return f.relpath if role == Qt.DisplayRole else f.path  # the local file as tooltip
        if col == 1:
            return human_bytes(f.size)
        return self._storage.location(f.key)
