import os

import pytest

from datauploader.core.planner import Planner, matches
from datauploader.errors import InputError
from datauploader.names import RULES


def tree(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.mark.parametrize("pattern,path,is_dir,expected", [
    ("*.h5", "run/a.h5", False, True),
    ("*.h5", "run/a.h5.tmp", False, False),
    ("run/*.h5", "run/a.h5", False, True),
    ("run/*.h5", "run/sub/a.h5", False, False),
    ("run/**/*.h5", "run/sub/deep/a.h5", False, True),
    ("run/**/*.h5", "run/a.h5", False, True),
    ("cache/", "cache", True, True),
    ("cache/", "cache", False, False),
    ("~*", "x/~lock", False, True),
    ("[ab].txt", "b.txt", False, True),
    ("[!ab].txt", "b.txt", False, False),
])
def test_matches(pattern, path, is_dir, expected):
    assert matches(pattern, path, is_dir) is expected


def test_folder_keeps_its_name_and_keys_follow_the_prefix(tmp_path):
    tree(tmp_path / "run1", {"a.h5": b"a", "sub/b.h5": b"bb", "c.tmp": b"c"})
    plan = Planner(RULES["s3"], exclude=["*.tmp"]).plan([tmp_path / "run1"], "P/D")
    assert [(f.relpath, f.key, f.size) for f in plan.files] == [
        ("run1/a.h5", "P/D/run1/a.h5", 1), ("run1/sub/b.h5", "P/D/run1/sub/b.h5", 2)]
    assert all(os.path.isabs(f.path) for f in plan.files)
    assert plan.total_bytes == 3


def test_include_patterns_apply_inside_the_folder(tmp_path):
    tree(tmp_path / "run", {"scans/x.cbf": b"1", "scans/x.log": b"2", "notes.txt": b"3"})
    plan = Planner(RULES["s3"], include=["scans/*.cbf", "*.txt"]).plan([tmp_path / "run"], "p")
    assert sorted(f.relpath for f in plan.files) == ["run/notes.txt", "run/scans/x.cbf"]


def test_excluded_folder_is_pruned(tmp_path):
    tree(tmp_path / "run", {"cache/x": b"1", "data/y": b"2"})
    plan = Planner(RULES["s3"], exclude=["cache/"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/data/y"]


def test_single_file_and_empty_file(tmp_path):
    (tmp_path / "empty.dat").write_bytes(b"")
    plan = Planner(RULES["s3"]).plan([tmp_path / "empty.dat"], "p")
    assert [(f.relpath, f.size) for f in plan.files] == [("empty.dat", 0)]


def test_missing_path_is_a_clear_input_error(tmp_path):
    with pytest.raises(InputError, match="No such file or folder: .*nope. Check the path."):
        Planner(RULES["s3"]).plan([tmp_path / "nope"], "p")


def test_no_paths(tmp_path):
    with pytest.raises(InputError, match="No files or folders"):
        Planner(RULES["s3"]).plan([], "p")


def test_symlink_loop_is_reported_and_skipped(tmp_path):
    tree(tmp_path / "run", {"a/file.txt": b"x"})
    os.symlink(tmp_path / "run", tmp_path / "run" / "a" / "loop")
    plan = Planner(RULES["s3"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/a/file.txt"]
    assert any("links back" in w and "loop" in w for w in plan.warnings)


def test_linked_folder_is_followed(tmp_path):
    tree(tmp_path / "elsewhere", {"x.bin": b"xx"})
    (tmp_path / "run").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "run" / "linked")
    plan = Planner(RULES["s3"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/linked/x.bin"]


def test_broken_link_and_fifo_are_skipped_with_warnings(tmp_path):
    tree(tmp_path / "run", {"ok": b"1"})
    os.symlink(tmp_path / "gone", tmp_path / "run" / "dangling")
    os.mkfifo(tmp_path / "run" / "pipe")
    plan = Planner(RULES["s3"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/ok"]
    assert any("does not exist" in w for w in plan.warnings)
    assert any("pipe" in w for w in plan.warnings)


def test_same_remote_name_twice_is_refused(tmp_path):
    tree(tmp_path / "a" / "run", {"x": b"1"})
    tree(tmp_path / "b" / "run", {"x": b"2"})
    with pytest.raises(InputError, match="same remote name"):
        Planner(RULES["s3"]).plan([tmp_path / "a" / "run", tmp_path / "b" / "run"], "p")


def test_names_that_windows_folds_together_collide(tmp_path):
    tree(tmp_path / "r", {"A?.txt": b"1", "a_.txt": b"2"})
    with pytest.raises(InputError, match="same remote name"):
        Planner(RULES["windows"]).plan([tmp_path / "r"], "p")


def test_odd_names_survive(tmp_path):
    names = ["with space.txt", "unicodé ✓.dat", "hash#1.txt", "100%.txt", "what?.txt"]
    tree(tmp_path / "r", {n: n.encode() for n in names})
    plan = Planner(RULES["s3"]).plan([tmp_path / "r"], "p")
    assert sorted(f.key for f in plan.files) == sorted(f"p/r/{n}" for n in names)
