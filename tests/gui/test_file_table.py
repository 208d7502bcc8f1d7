"""The progress view's per-file table: cells kept by Qt (no Python callbacks while painting),
rows merged from snapshots, filtering by status in C++."""

from PyQt5.QtCore import QSortFilterProxyModel, Qt
from PyQt5.QtGui import QStandardItemModel

from datauploader.core.progress import FileRow
from datauploader.gui.table_models import STATUS_ROLE, FileTableModel
from datauploader.gui.views.progress import ProgressView, _StatusFilter

# Qt calls these for every cell, row count and repaint; a Python override would make each
# call take the GIL from the upload threads (the stalls benchmarks/gui_responsiveness.py
# measures)
QT_HOT_VIRTUALS = ("data", "rowCount", "columnCount", "headerData", "flags", "index", "parent",
                   "hasChildren", "sibling", "itemData")


def _python_overrides(cls, qt_class, names) -> set:
    """Names defined by Python classes between ``cls`` and the Qt class it derives from."""
    ours = cls.__mro__[:cls.__mro__.index(qt_class)]
    return {n for n in names for c in ours if n in vars(c)}


def test_no_python_overrides_of_what_qt_calls_per_cell(qapp):
    assert not _python_overrides(FileTableModel, QStandardItemModel, QT_HOT_VIRTUALS)
    assert not _python_overrides(_StatusFilter, QSortFilterProxyModel, (
        *QT_HOT_VIRTUALS, "filterAcceptsRow", "filterAcceptsColumn", "lessThan", "mapToSource",
        "mapFromSource"))
    # (the check itself sees overrides)
    assert _python_overrides(ProgressView, ProgressView.__mro__[1], ("update_snapshot",))


def test_rows_merge_and_cells_follow_the_file(qapp):
    m = FileTableModel()
    assert [m.headerData(c, Qt.Horizontal) for c in range(5)] == list(FileTableModel.HEADERS)
    m.apply([FileRow(1, "a.raw", 2048, "uploading", 1024),
             FileRow(2, "b.raw", 10, "uploading", 0)])
    assert m.rowCount() == 2
    assert [m.index(0, c).data() for c in range(4)] == ["a.raw", "2.0 KiB", "uploading", "50 %"]
    assert m.index(0, 1).data(Qt.TextAlignmentRole) == int(Qt.AlignRight | Qt.AlignVCenter)
    m.apply([FileRow(1, "a.raw", 2048, "verified", 2048, checksum="ab" * 32,
                     verified_by="etag-md5"),
             FileRow(3, "c.raw", 5, "failed", 0, error="c.raw could not be read.")])
    assert m.rowCount() == 3
    assert [m.index(0, c).data() for c in range(5)] == [
        "a.raw", "2.0 KiB", "verified", "100 %", "ab" * 8 + "…"]
    assert m.index(0, 4).data(Qt.ToolTipRole) == "ab" * 32 + "\nverified by etag-md5"
    assert m.index(0, 2).data(Qt.ForegroundRole).color().name() == "#1b5e20"
    assert m.index(2, 0).data(Qt.ToolTipRole) == "c.raw could not be read."
    assert m.index(2, 2).data(STATUS_ROLE) == "failed"
    assert m.file_row(0).verified_by == "etag-md5"
    # a retried file loses its error and its colour follows the new status
    m.apply([FileRow(3, "c.raw", 5, "uploading", 0)])
    assert m.index(2, 0).data(Qt.ToolTipRole) is None
    assert m.index(2, 2).data(Qt.ForegroundRole).color().name() == "#0d47a1"
    m.clear()
    assert m.rowCount() == 0 and m.columnCount() == 5
    m.apply([FileRow(1, "a.raw", 1, "uploading", 0)])
    assert m.rowCount() == 1 and m.file_row(0).relpath == "a.raw"


def test_status_filter(qtbot):
    view = ProgressView()
    qtbot.addWidget(view)
    view.model.apply([FileRow(i, f"f{i}", 1, s, 0) for i, s in
                      enumerate(("verified", "failed", "uploading", "retrying", "skipped"))])
    shown = {}
    for i in range(view.show_only.count()):
        view.show_only.setCurrentIndex(i)
        rows = view.filtered.rowCount()
        shown[view.show_only.itemText(i)] = sorted(
            view.filtered.index(r, 0).data() for r in range(rows))
    assert shown == {"All files": ["f0", "f1", "f2", "f3", "f4"],
                     "In progress": ["f2", "f3"], "Failed": ["f1"], "Done": ["f0", "f4"]}
    # rows that change state move in and out of the filtered view
    view.show_only.setCurrentIndex(2)
    view.model.apply([FileRow(2, "f2", 1, "failed", 0, error="gone")])
    assert view.filtered.rowCount() == 2


def test_finished_rows_beyond_the_limit_give_way_to_new_ones(qapp):
    m = FileTableModel(keep_done=4)  # drops once more than 5 are done, down to 4
    m.apply([FileRow(0, "failed.raw", 1, "failed", 0, error="unreadable")])
    m.apply([FileRow(i, f"f{i}", 1, "uploading", 0) for i in range(1, 8)])
    assert m.rowCount() == 8 and m.dropped == 0
    m.apply([FileRow(i, f"f{i}", 1, "verified", 1) for i in range(1, 6)])  # 5 done: kept
    assert m.rowCount() == 8 and m.dropped == 0
    m.apply([FileRow(6, "f6", 1, "verified", 1)])  # 6 done: the two oldest give way
    assert m.dropped == 2
    names = [m.index(r, 0).data() for r in range(m.rowCount())]
    assert names == ["failed.raw", "f3", "f4", "f5", "f6", "f7"]
    assert [m.file_row(r).relpath for r in range(m.rowCount())] == names
    # rows still shown are still updated in place; failed and running ones never drop
    m.apply([FileRow(7, "f7", 1, "failed", 0, error="gone"),
             FileRow(8, "f8", 1, "uploading", 0)])
    assert [m.index(r, 2).data() for r in (0, 5, 6)] == ["failed", "failed", "uploading"]
    assert m.index(5, 0).data() == "f7" and m.index(6, 0).data() == "f8"


def test_the_view_says_when_finished_rows_were_dropped(qtbot):
    from datauploader.core.progress import JobSnapshot

    view = ProgressView()
    qtbot.addWidget(view)
    view.model.keep_done = 2
    view.start(1, "P / D")
    rows = tuple(FileRow(i, f"f{i}", 1, "verified", 1) for i in range(5))
    view.update_snapshot(JobSnapshot(
        job_id=1, files_total=5, files_done=5, files_failed=0, bytes_total=5, bytes_done=5,
        speed=1.0, eta=None, paused=False, finished=False, state="running", changed_rows=rows))
    assert view.model.rowCount() == 2 and not view.dropped_note.isHidden()
    assert "newest 2 finished files" in view.dropped_note.text()
    view.start(2, "P / D2")
    assert view.dropped_note.isHidden() and view.model.rowCount() == 0
