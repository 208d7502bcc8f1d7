"""Bad input from the command line: each gets one clear sentence, and nothing is lost."""

import json
import os
import subprocess
import sys

import pytest

from datauploader.errors import ExitCode


def test_directory_symlink_loop_is_reported_and_the_rest_uploaded(cli, data):
    os.symlink(data, data / "sub" / "back-to-run1")
    r = cli("upload", "--proposal", "P", "--dataset", "D", data)
    assert r.code == 0
    assert "warning: Skipped" in r.err and "links back to one of its own parent folders" in r.err
    assert "5 files" in r.out


def test_a_file_given_twice_under_one_name_is_refused(cli, data, tmp_path):
    other = tmp_path / "other" / "run1"
    other.mkdir(parents=True)
    (other / "a.h5").write_bytes(b"different")
    r = cli("upload", "--proposal", "P", "--dataset", "D", data, other)
    assert r.code == ExitCode.USAGE and "same remote name" in r.err


def test_a_device_or_pipe_given_directly_is_refused(cli, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    r = cli("upload", "--proposal", "P", "--dataset", "D", tmp_path / "fifo")
    assert r.code == ExitCode.USAGE and "not a regular file" in r.err


def _without_root_powers(argv, env):
    """Run the CLI so that file permissions apply: as root, without the capabilities that let
    root read any file (setpriv from util-linux)."""
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run([*prefix, sys.executable, "-m", "datauploader", *map(str, argv)],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unreadable_file_fails_alone_and_resumes_once_readable(tmp_path):
    world_dir = str(tmp_path)
    data = os.path.join(world_dir, "run")
    os.makedirs(data)
    for name in ("ok1.bin", "ok2.bin", "secret.bin"):
        with open(os.path.join(data, name), "wb") as f:
            f.write(os.urandom(100))
    os.chmod(os.path.join(data, "secret.bin"), 0o000)
    home = os.path.join(world_dir, "home")
    env = {**os.environ, "DATAUPLOADER_HOME": home, "HOME": world_dir,
           "DATAUPLOADER_SYSTEM_CONFIG": os.path.join(world_dir, "none.ini"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    r = _without_root_powers(["upload", "--json", "--proposal", "P", "--dataset", "D", data], env)
    assert r.returncode == ExitCode.INCOMPLETE, r.stderr
    result = json.loads(r.stdout)
    assert result["files_ok"] == 2
    failed = [{"name": f["name"], "error": f["error"]} for f in result["files"]
              if f["state"] == "failed"]
    assert failed == [{
        "name": "run/secret.bin",
        "error": f"Cannot read {data}/secret.bin: permission denied. Fix its permissions, then "
                 "resume the job."}]
    assert "secret.bin is not readable" in r.stderr  # warned before anything moved
    os.chmod(os.path.join(data, "secret.bin"), 0o644)
    r = _without_root_powers(["resume", "1", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files_ok"] == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland check")
def test_no_display_gets_a_plain_sentence_not_a_qt_abort(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DATAUPLOADER_HOME"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-m", "datauploader"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == ExitCode.USAGE
    assert "there is no display" in r.stderr and "datauploader demo" in r.stderr
