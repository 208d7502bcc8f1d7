"""Qt item models over engine snapshots and the journal (model/view: views never hold data)."""

from __future__ import annotations

from PyQt5.QtCore import QAbstractTableModel, QCoreApplication, QModelIndex, Qt
from PyQt5.QtGui import QBrush, QColor, QStandardItemModel

from datauploader.core.progress import FileRow
from datauploader.states import FileStatus, JobState
from datauploader.units import human_bytes, local_time

STATUS_COLORS = {FileStatus.FAILED: QColor("#b00020"), FileStatus.RETRYING: QColor("#a15c00"),
                 FileStatus.VERIFIED: QColor("#1b5e20"), FileStatus.REGISTERED: QColor("#1b5e20"),
                 FileStatus.SKIPPED: QColor("#1b5e20"), FileStatus.UPLOADING: QColor("#0d47a1")}
STATE_COLORS = {JobState.COMPLETED: "#1b5e20", JobState.FAILED: "#b00020",
                JobState.INCOMPLETE: "#a15c00", JobState.INTERRUPTED: "#a15c00",
                JobState.CANCELLED: "#616161"}


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


STATUS_ROLE = Qt.UserRole + 1  # the row's status, for filtering in C++
# finished files the progress table keeps (about 1.7 KiB each); older ones give way, so that
# a 500,000-file job does not fill memory with rows nobody scrolls to (the report has all)
KEEP_DONE = 5000
_DONE = frozenset(s for s in FileStatus if s.done)
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)


class FileTableModel(QStandardItemModel):
    """One row per file that has started (the newest ``keep_done`` of those finished); rows
    change in place as snapshots arrive.

    Its cells live in Qt's own item model (C++), not behind a Python ``data()``: a view asks
    a table model for thousands of cells, row counts and roles a second, and each call into
    Python would have to take the GIL from the busy upload threads (measured: stalls of
    200 ms during a 20,000-file job with eight workers, 30-40 ms without Python callbacks).
    This class overrides none of Qt's virtual methods, so Qt never calls into Python."""

    HEADERS = ("File", "Size", "Status", "Progress", "Checksum")

    def __init__(self, parent=None, keep_done: int = KEEP_DONE):
        super().__init__(0, len(self.HEADERS), parent)
        self.setHorizontalHeaderLabels([self.tr(h) for h in self.HEADERS])
        self.keep_done = keep_done
        self.dropped = 0  # finished rows removed to keep the table (and memory) bounded
        self._rows: list[FileRow] = []
        self._index: dict[int, int] = {}  # task id → row
        self._done = 0  # rows of files finished without error

    def tr(self, text: str) -> str:  # Qt's translation hook, per model class
        return QCoreApplication.translate(type(self).__name__, text)

    def clear(self) -> None:
        self._rows = []
        self._index = {}
        self._done = self.dropped = 0
        self.removeRows(0, self.rowCount())

    def apply(self, rows) -> None:
        """Merge changed rows from a snapshot: new ones appended in one insert, the others
        updated cell by cell where they changed. Beyond ``keep_done`` finished files the
        oldest finished rows are dropped (files in progress and failed ones always stay)."""
        new = [r for r in rows if r.task_id not in self._index]
        for r in rows:
            i = self._index.get(r.task_id)
            if i is not None:
                old, self._rows[i] = self._rows[i], r
                self._done += (r.status in _DONE) - (old.status in _DONE)
                self._fill(i, r, old)
        if new:
            first = len(self._rows)
            self.insertRows(first, len(new))
            for k, r in enumerate(new):
                self._index[r.task_id] = first + k
                self._rows.append(r)
                self._done += r.status in _DONE
                self._fill(first + k, r, None)
        # (a few hundred at a time: each removal costs Qt's views work over the whole table)
        if self._done > self.keep_done + min(200, max(1, self.keep_done // 4)):
            self._drop_oldest_done(self._done - self.keep_done)

    def _drop_oldest_done(self, n: int) -> None:
        """Remove the ``n`` oldest rows of finished files, in contiguous blocks."""
        drop = []
        for i, r in enumerate(self._rows):
            if r.status in _DONE:
                drop.append(i)
                if len(drop) == n:
                    break
        blocks: list[list[int]] = []  # [first, count], top to bottom
        for i in drop:
            if blocks and blocks[-1][0] + blocks[-1][1] == i:
                blocks[-1][1] += 1
            else:
                blocks.append([i, 1])
        for first, count in reversed(blocks):  # bottom first: the indices above stay valid
            self.removeRows(first, count)
        gone = set(drop)
        self._rows = [r for i, r in enumerate(self._rows) if i not in gone]
        self._index = {r.task_id: i for i, r in enumerate(self._rows)}
        self._done -= len(drop)
        self.dropped += len(drop)

    def _fill(self, i: int, r: FileRow, old: FileRow | None) -> None:
        """Set the cells of row ``i`` that differ from ``old`` (None: a new row)."""
        set_ = self.setData
        index = self.index
        if old is None:
            set_(index(i, 0), r.relpath)
            size = index(i, 1)
            set_(size, human_bytes(r.size))
            set_(size, _RIGHT, Qt.TextAlignmentRole)
            set_(index(i, 3), _RIGHT, Qt.TextAlignmentRole)
        if old is None or old.status != r.status:
            status = index(i, 2)
            set_(status, self.tr(str(r.status)))
            set_(status, str(r.status), STATUS_ROLE)
            color = STATUS_COLORS.get(r.status)
            set_(status, QBrush(color) if color is not None else None, Qt.ForegroundRole)
        pct = min(100, 100 if r.status in _DONE else
                  int(100 * r.sent / r.size) if r.size else 0)
        if old is None or old.status != r.status or old.sent != r.sent:
            set_(index(i, 3), f"{pct} %")
        if old is None or (old.checksum, old.verified_by) != (r.checksum, r.verified_by):
            checksum = index(i, 4)
            set_(checksum, r.checksum[:16] + ("…" if len(r.checksum) > 16 else ""))
            set_(checksum, f"{r.checksum}\n{self.tr('verified by')} {r.verified_by}"
                 if r.checksum else None, Qt.ToolTipRole)
        if old is None or old.error != r.error:
            for c in range(4):
                set_(index(i, c), r.error or None, Qt.ToolTipRole)

    def file_row(self, i: int) -> FileRow:
        return self._rows[i]


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
                    local_time(job.created),
                    job.proposal, job.dataset_name, str(job.files_total),
                    human_bytes(job.bytes_total))[col]
        if role == Qt.ForegroundRole and col == 1:
            color = STATE_COLORS.get(state)
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
