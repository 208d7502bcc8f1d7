"""ProgressTracker: the snapshots the GUI shows, fed with engine events and a fake clock."""

from datauploader.core.clock import FakeClock
from datauploader.core.progress import ProgressTracker
from datauploader.errors import Reaction
from datauploader.events import BytesSent, FileDone, FileFailed, FileStarted, JobDone, JobStarted
from datauploader.states import FileStatus, JobState


def _tracker():
    clock = FakeClock()
    t = ProgressTracker(clock=clock.monotonic, window=5.0)
    t.on_job_started(JobStarted(job_id=1, files_total=2, bytes_total=2000, files_done=0,
                                bytes_done=0))
    return t, clock


def test_speed_and_progress_from_bytes_sent():
    t, clock = _tracker()
    t.on_file_started(FileStarted(1, 1, "a", 1000, 1))
    t.snapshot()
    clock.advance(2.0)
    t.on_bytes(BytesSent(1, 1, 400))
    s = t.snapshot()
    assert s.bytes_done == 400 and s.speed == 200.0
    assert s.eta == (2000 - 400) / 200.0
    (row,) = s.changed_rows
    assert (row.status, row.sent) == ("uploading", 400)


def test_resumed_bytes_count_as_done_but_not_as_speed():
    t, clock = _tracker()
    t.on_file_started(FileStarted(1, 1, "a", 1000, 2))
    t.snapshot()
    clock.advance(1.0)
    t.on_bytes(BytesSent(1, 1, 600, resumed=True))  # an earlier attempt left 600 bytes there
    t.on_bytes(BytesSent(1, 1, 100))
    s = t.snapshot()
    assert s.bytes_done == 700 and s.speed == 100.0
    assert s.changed_rows[0].sent == 700
    # withdrawn (the partial file was started afresh): back to what was really sent
    t.on_bytes(BytesSent(1, 1, -600, resumed=True))
    clock.advance(1.0)
    s = t.snapshot()
    assert s.bytes_done == 100 and s.changed_rows[0].sent == 100
    t.on_file_done(FileDone(1, 1, "a", 1000, "ab", "sha256", "P/a", "folder:/x/P/a", "size"))
    s = t.snapshot()
    assert s.files_done == 1 and s.bytes_done == 1000


def test_resumed_multipart_parts_do_not_inflate_speed():
    t, clock = _tracker()
    t.snapshot()
    clock.advance(1.0)
    t.on_file_started(FileStarted(1, 1, "a", 1000, 2, resumed_bytes=800))
    t.on_bytes(BytesSent(1, 1, 50))
    s = t.snapshot()
    assert s.bytes_done == 850 and s.speed == 50.0


def test_rows_and_states_are_enums_that_read_as_their_values():
    t, clock = _tracker()
    s = t.snapshot()
    assert s.started and s.state is JobState.RUNNING
    t.on_file_started(FileStarted(1, 1, "a", 1000, 1))
    t.on_file_failed(FileFailed(1, 2, "b", "b could not be read.", Reaction.FILE, 1))
    rows = {r.relpath: r.status for r in t.snapshot().changed_rows}
    assert rows == {"a": FileStatus.UPLOADING, "b": FileStatus.FAILED}
    assert rows["a"] == "uploading" and str(rows["b"]) == "failed"
    t.on_job_done(JobDone(1, JobState.INCOMPLETE, 0, 1, 0, 1.0, "1 of 2 files failed."))
    s = t.snapshot()
    assert s.state is JobState.INCOMPLETE and s.state == "incomplete"
