"""What the command line reports is true: links out of the selection are not followed (and
said so), what cannot be read fails the job until fixed or left out, an empty selection is
refused, and a job keeps its own options when resumed."""

import json
import os
import subprocess
import sys

import pytest

from datauploader.errors import ExitCode


def test_a_link_to_system_files_is_not_followed_and_is_reported(cli, data, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "shadow").write_bytes(b"root:secret")
    os.symlink(etc, data / "etc")
    dry = cli("upload", "--dry-run", "--json", "--proposal", "P", "--dataset", "D", data)
    assert dry.code == 0
    doc = dry.json
    assert not any("shadow" in f["name"] for f in doc["files"])
    (link,) = doc["links"]
    assert link["path"] == str(data / "etc") and link["followed"] is False
    assert "outside the selected folders" in link["why"]

    r = cli("upload", "--json", "--proposal", "P", "--dataset", "D", data)
    assert r.code == 0, r.err
    assert f"notice: link not followed: {data / 'etc'} → {etc}" in r.err
    assert not any("shadow" in f["name"] for f in r.json["files"])
    # asked for: followed
    r = cli("upload", "--json", "--links", "follow", "--proposal", "P", "--dataset", "D2", data)
    assert r.code == 0 and any(f["name"] == "run1/etc/shadow" for f in r.json["files"])


@pytest.mark.parametrize("args", [["--exclude", "*"], ["--include", "*.nothing"]])
def test_an_empty_selection_is_refused(cli, data, args):
    r = cli("upload", "--json", "--proposal", "P", "--dataset", "D", *args, data)
    assert r.code == ExitCode.USAGE
    assert "nothing to upload" in r.err and r.json["exit_code"] == ExitCode.USAGE
    assert cli("jobs", "--json").json == []


def _as_user(argv, env):
    """The CLI as a process whose file permissions apply (root without the capabilities that
    let it read anything: setpriv, util-linux)."""
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] \
        if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "datauploader", *map(str, argv)],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unreadable_folder_fails_the_job_until_fixed_or_left_out(cli, tmp_path):
    runs = {}
    for name in ("fixed", "left"):
        run = tmp_path / name
        (run / "locked").mkdir(parents=True)
        (run / "ok.bin").write_bytes(b"ok")
        (run / "locked" / "x.bin").write_bytes(b"x")
        os.chmod(run / "locked", 0)
        runs[name] = run
    env = {**os.environ, **cli.env}
    try:
        for i, (name, run) in enumerate(runs.items(), start=1):
            r = _as_user(["upload", "--json", "--proposal", "P", "--dataset", name, run], env)
            assert r.returncode == ExitCode.INCOMPLETE, r.stderr
            doc = json.loads(r.stdout)
            assert doc["state"] == "incomplete" and doc["files_ok"] == 1
            (bad,) = [f for f in doc["files"] if f["state"] == "unplanned"]
            assert bad["name"] == f"{name}/locked" and "permission denied" in bad["error"]
            assert f"The folder {run / 'locked'} cannot be read" in r.stderr
    finally:
        for run in runs.values():
            os.chmod(run / "locked", 0o755)
    # the cause fixed: a resume finds the folder's file and completes the dataset
    r = _as_user(["resume", "1", "--json"], env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["state"] == "completed"
    assert sorted(f["name"] for f in doc["files"]) == ["fixed/locked/x.bin", "fixed/ok.bin"]
    # or the operator's decision, recorded: the dataset completes without it
    r = cli("leave-out", "2", "left/ok.bin")
    assert r.code == ExitCode.USAGE and "no failed file named left/ok.bin" in r.err
    r = cli("leave-out", "2", "--all-failed")
    assert r.code == 0 and "left out: left/locked" in r.out and "resume 2" in r.out
    r = cli("resume", "2", "--json")
    assert r.code == 0, r.err
    assert r.json["state"] == "completed"
    assert [f["state"] for f in r.json["files"] if f["name"] == "left/locked"] == ["left-out"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_resume_keeps_the_jobs_workers_and_bandwidth_limit(cli, data, home):
    env = {**os.environ, **cli.env}
    os.chmod(data / "a.h5", 0)  # one file fails: the job stays resumable
    try:
        r = _as_user(["upload", "--proposal", "P", "--dataset", "D", "--workers", "3",
                      "--bwlimit", "5M", data], env)
        assert r.returncode == ExitCode.INCOMPLETE, r.stderr
        assert _as_user(["resume", "1"], env).returncode == ExitCode.INCOMPLETE
        assert _as_user(["resume", "1", "--workers", "2"], env).returncode == \
            ExitCode.INCOMPLETE
        assert _as_user(["resume", "1"], env).returncode == ExitCode.INCOMPLETE
    finally:
        os.chmod(data / "a.h5", 0o644)
    log = (home / "logs" / "datauploader.log").read_text()
    runs = [line.split("job 1 runs with ")[1] for line in log.splitlines()
            if "job 1 runs with" in line]
    assert runs == ["3 workers, bandwidth limit 5M, checksum sha256",
                    "3 workers, bandwidth limit 5M, checksum sha256",
                    "2 workers, bandwidth limit 5M, checksum sha256",
                    "2 workers, bandwidth limit 5M, checksum sha256"]
    r = cli("jobs", "1", "--json")
    assert r.json["options"]["workers"] == 2 and r.json["options"]["bandwidth_limit"] == "5M"
    r = cli("resume", "1", "--json")  # readable again: this run's own figures
    assert r.code == 0 and r.json["bytes_sent"] == 5000 and r.json["files_ok"] == 5


def test_a_password_on_the_command_line_never_reaches_the_log(cli, data, home):
    r = cli("upload", "--proposal", "P", "--dataset", "D", "--credential", "password=hunter2",
            "--credential=token=s3cr3t-t0ken", data)
    assert r.code == 0, r.err  # the local catalogue takes no login: the fields are unused
    log = (home / "logs" / "datauploader.log").read_text()
    assert "--credential password=…" in log and "--credential=token=…" in log
    assert "hunter2" not in log and "s3cr3t-t0ken" not in log


def test_unchecked_tls_is_said_before_every_job_and_by_config_check(cli, data, tmp_path):
    cfg = tmp_path / "insecure.ini"
    cfg.write_text("[settings]\ndefault_profile = lab\n[profile:lab]\ncatalogue = local\n"
                   "retries = 1\nstorage = st\n[storage:st]\ntype = webdav\n"
                   "url = https://127.0.0.1:9/\nauth = none\nverify_tls = no\n")
    r = cli("--config", cfg, "config", "check")
    assert r.code == 0
    assert "TLS certificates are not checked for [storage:st] (verify_tls = no in" in r.err
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", data)
    assert "warning: TLS certificates are not checked for [storage:st]" in r.err
