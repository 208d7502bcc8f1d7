import json
import os
import subprocess
import sys

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


def test_a_link_out_of_the_selection_is_not_followed_but_reported(tmp_path):
    """A link to /etc inside a data folder must not put system files into a dataset."""
    tree(tmp_path / "elsewhere", {"shadow": b"secret"})
    tree(tmp_path / "run", {"a.h5": b"a"})
    os.symlink(tmp_path / "elsewhere", tmp_path / "run" / "etc")
    plan = Planner(RULES["s3"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/a.h5"]
    (d,) = plan.links
    assert d.path == str(tmp_path / "run" / "etc") and d.target == str(tmp_path / "elsewhere")
    assert not d.followed and "outside the selected folders" in d.why
    assert plan.links_not_followed == [d] and not plan.unplanned


def test_a_link_inside_the_selection_is_followed(tmp_path):
    tree(tmp_path / "run", {"scans/x.bin": b"xx"})
    os.symlink(tmp_path / "run" / "scans", tmp_path / "run" / "latest")
    os.symlink(tmp_path / "other" / "y.bin", tmp_path / "run" / "y.bin")  # into the 2nd root
    tree(tmp_path / "other", {"y.bin": b"y"})
    plan = Planner(RULES["s3"]).plan([tmp_path / "run", tmp_path / "other"], "p")
    assert sorted(f.relpath for f in plan.files) == [
        "other/y.bin", "run/latest/x.bin", "run/scans/x.bin", "run/y.bin"]
    assert all(d.followed for d in plan.links) and len(plan.links) == 2


@pytest.mark.parametrize("policy,expected", [
    ("follow", ["run/a", "run/linked/x.bin"]),
    ("inside", ["run/a"]),
    ("skip", ["run/a"]),
])
def test_link_policies(tmp_path, policy, expected):
    tree(tmp_path / "elsewhere", {"x.bin": b"xx"})
    tree(tmp_path / "run", {"a": b"1", "inner/b": b"2"})
    os.symlink(tmp_path / "elsewhere", tmp_path / "run" / "linked")
    os.symlink(tmp_path / "run" / "inner" / "b", tmp_path / "run" / "b-link")
    plan = Planner(RULES["s3"], include=["a", "linked/*", "b-link"], links=policy).plan(
        [tmp_path / "run"], "p")
    inside = ["run/b-link"] if policy != "skip" else []
    assert sorted(f.relpath for f in plan.files) == sorted(expected + inside)
    followed = {os.path.basename(d.path): d.followed for d in plan.links}
    assert followed == {"linked": policy == "follow", "b-link": policy != "skip"}


def test_broken_link_and_fifo_are_reported(tmp_path):
    tree(tmp_path / "run", {"ok": b"1"})
    os.symlink(tmp_path / "gone", tmp_path / "run" / "dangling")
    os.mkfifo(tmp_path / "run" / "pipe")
    plan = Planner(RULES["s3"]).plan([tmp_path / "run"], "p")
    assert [f.relpath for f in plan.files] == ["run/ok"]
    (d,) = plan.links
    assert not d.followed and "does not exist" in d.why
    assert any("pipe" in w for w in plan.warnings)


_PLAN_LOCKED = """
import json, sys
from datauploader.core.planner import Planner
from datauploader.names import RULES
plan = Planner(RULES["s3"]).plan([sys.argv[1]], "p")
print(json.dumps({"files": [f.relpath for f in plan.files],
                  "unplanned": [[u.path, u.relpath, u.kind, u.reason] for u in plan.unplanned]}))
"""


def test_an_unreadable_folder_is_unplanned_not_dropped(tmp_path):
    tree(tmp_path / "run", {"ok": b"1", "locked/x": b"2"})
    os.chmod(tmp_path / "run" / "locked", 0)
    # as root, without the capabilities that let root read any folder (setpriv, util-linux)
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] \
        if os.geteuid() == 0 else []
    try:
        r = subprocess.run([*prefix, sys.executable, "-c", _PLAN_LOCKED, str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=60, check=True)
    finally:
        os.chmod(tmp_path / "run" / "locked", 0o755)
    got = json.loads(r.stdout)
    assert got["files"] == ["run/ok"]
    ((path, relpath, kind, reason),) = got["unplanned"]
    assert (relpath, kind) == ("run/locked", "folder") and "permission denied" in reason
    again = Planner(RULES["s3"]).replan(path, relpath, kind, "p", [tmp_path / "run"])
    assert [(f.relpath, f.key) for f in again.files] == [("run/locked/x", "p/run/locked/x")]


def test_a_path_too_long_for_the_os_is_unplanned(tmp_path):
    deep = tmp_path / "run"
    deep.mkdir()
    (deep / "ok").write_bytes(b"1")
    fd = os.open(deep, os.O_RDONLY)
    try:  # create a chain deeper than PATH_MAX by working relative to open folders
        for _ in range(40):
            name = "d" * 200
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open("far.bin", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "wb") as f:
            f.write(b"x")
    finally:
        os.close(fd)
    plan = Planner(RULES["posix"]).plan([deep], "p")
    assert [f.relpath for f in plan.files][0] == "run/ok"
    assert plan.unplanned and "longer than the operating system allows" in \
        plan.unplanned[0].reason


def test_a_very_deep_tree_is_walked_without_recursion(tmp_path):
    folder = str(tmp_path / "run")
    os.mkdir(folder)
    parts = ["run"]
    for _ in range(1500):  # deeper than Python's recursion limit
        folder += "/a"
        os.mkdir(folder)
        parts.append("a")
    with open(folder + "/leaf.txt", "wb") as f:
        f.write(b"leaf")
    try:
        plan = Planner(RULES["posix"]).plan([tmp_path / "run"], "p")
        assert [f.relpath for f in plan.files] == ["/".join(parts) + "/leaf.txt"]
    finally:  # bottom-up: shutil.rmtree itself recurses once per level
        os.remove(folder + "/leaf.txt")
        while folder != str(tmp_path):
            os.rmdir(folder)
            folder = os.path.dirname(folder)


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
