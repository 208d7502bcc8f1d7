"""The completeness gate and the watcher's bookkeeping, on real files with a fake clock."""

import os
import subprocess
import sys
import time

import pytest

import datauploader.core.openfiles as of
from datauploader.core.sync import versioned
from datauploader.core.watch import FolderWatcher, WatchSettings, is_network_path


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def watcher(root, clock, **kw):
    settings = WatchSettings(settle_time=5, observer="polling", poll_interval=1,
                             rescan_interval=3600, check_open=False, **kw)
    w = FolderWatcher([root], settings, clock=clock)
    w.start()
    return w


def test_a_file_is_ready_only_after_the_settle_time(tmp_path):
    clock = Clock()
    (tmp_path / "a.raw").write_bytes(b"x" * 10)
    w = watcher(tmp_path, clock)
    assert w.tick() == [] and w.pending == 1
    clock.t += 4.9
    assert w.tick() == []
    clock.t += 0.2
    ready = w.tick()
    assert [(r.relpath, r.size, r.modified) for r in ready] == [
        (f"{tmp_path.name}/a.raw", 10, False)]
    assert w.pending == 0 and w.seen == 1
    clock.t += 100
    assert w.tick() == []  # unchanged: not handed over twice


def test_a_change_restarts_the_settle_time(tmp_path):
    clock = Clock()
    f = tmp_path / "grow.raw"
    f.write_bytes(b"x")
    w = watcher(tmp_path, clock)
    for _ in range(5):
        clock.t += 3
        with open(f, "ab") as h:
            h.write(b"more")
        assert w.tick() == []
    clock.t += 5.1
    assert [r.size for r in w.tick()] == [21]


def test_temporary_names_and_excludes_are_ignored_and_renames_are_new_files(tmp_path):
    clock = Clock()
    w = watcher(tmp_path, clock, exclude=("*.log",))
    (tmp_path / "data.h5.part").write_bytes(b"1")
    (tmp_path / "~lock").write_bytes(b"1")
    (tmp_path / "run.log").write_bytes(b"1")
    clock.t += 2
    w.tick()
    assert w.pending == 0
    os.rename(tmp_path / "data.h5.part", tmp_path / "data.h5")
    clock.t += 2
    w.tick()
    clock.t += 6
    assert [os.path.basename(r.path) for r in w.tick()] == ["data.h5"]


def test_marker_file(tmp_path):
    clock = Clock()
    w = watcher(tmp_path, clock, marker="{name}.done")
    (tmp_path / "a.raw").write_bytes(b"1")
    clock.t += 2
    w.tick()
    clock.t += 10
    assert w.tick() == []  # settled, but no marker yet
    (tmp_path / "a.raw.done").write_bytes(b"")
    clock.t += 2
    assert [os.path.basename(r.path) for r in w.tick()] == ["a.raw"]
    clock.t += 10
    assert w.tick() == [] and w.pending == 0  # the marker itself is never a candidate


def test_modified_after_handover_is_a_candidate_again(tmp_path):
    clock = Clock()
    f = tmp_path / "a.raw"
    f.write_bytes(b"1")
    w = watcher(tmp_path, clock)
    clock.t += 6
    assert len(w.tick()) == 1
    with open(f, "ab") as h:
        h.write(b"2")
    w.full_scan()  # polling notices modifications at the full rescans
    clock.t += 6
    [r] = w.tick()
    assert r.modified and r.size == 2


def test_a_vanished_folder_is_reported_and_recovered(tmp_path):
    clock = Clock()
    root = tmp_path / "run"
    root.mkdir()
    notes = []
    w = FolderWatcher([root], WatchSettings(settle_time=1, observer="polling",
                                            check_open=False), clock=clock,
                      notify=notes.append)
    w.start()
    root.rmdir()
    w.tick()
    assert w.status()[0][1] == "unavailable" and "not available" in notes[-1]
    root.mkdir()
    (root / "x").write_bytes(b"1")
    w.tick()
    assert w.status()[0][1] == "watching" and "available again" in notes[-1]
    clock.t += 2
    assert len(w.tick()) == 1


def test_open_for_writing_holds_a_file_back(tmp_path):
    clock = Clock()
    f = tmp_path / "held.raw"
    h = open(f, "wb")
    h.write(b"data")
    h.flush()
    settings = WatchSettings(settle_time=1, observer="polling", check_open=True)
    w = FolderWatcher([tmp_path], settings, clock=clock)
    w.start()
    clock.t += 5
    # the check skips our own process (we only read): the writer is another process
    child = subprocess.Popen([sys.executable, "-c", f"f = open({str(f)!r}, 'ab'); "
                              "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    h.close()
    try:
        deadline = time.monotonic() + 10
        while not of.open_for_writing([str(f)]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert of.open_for_writing([str(f)]) == {str(f)}
        assert w.tick() == []
        assert w.pending == 1
    finally:
        child.stdin.close()
        child.wait(10)
    clock.t += 2
    assert [os.path.basename(r.path) for r in w.tick()] == ["held.raw"]


@pytest.mark.parametrize("rel,n,expected", [
    ("run/frame_001.h5", 2, "run/frame_001.v2.h5"),
    ("data.tar.gz", 3, "data.v3.tar.gz"),
    ("noext", 2, "noext.v2"),
    ("dir/.hidden", 2, "dir/.hidden.v2"),
])
def test_version_names(rel, n, expected):
    assert versioned(rel, n) == expected


def test_local_disk_is_not_a_network_share(tmp_path):
    assert is_network_path(str(tmp_path)) is False
