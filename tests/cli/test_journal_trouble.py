"""The journal's disk fills up, or the journal is read-only: one true sentence with the fix
(never SQLite's 'cannot rollback', never the advice to move a journal with resumable jobs
aside), an exit status that says the job is resumable, and nothing recorded lost."""

import json
import os
import subprocess
import sys


from datauploader.errors import ExitCode


def _datauploader(argv, env, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", "datauploader", *map(str, argv)],
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_full_disk_under_the_journal_is_named_and_the_job_resumes(tmp_path, cli):
    data = tmp_path / "run"
    data.mkdir()
    for i in range(3000):  # enough rows to outgrow a small disk
        (data / f"frame_{i:05d}_with_a_rather_long_name_as_detectors_write.raw").write_bytes(b"x")
    state = tmp_path / "state"
    state.mkdir()
    # a private mount namespace: a 400 KiB disk for the journal, seen by this process only
    small_disk = ["unshare", "--map-root-user", "--mount", "sh", "-c",
                  'mount -t tmpfs -o size=400k tmpfs "$1" && shift && exec "$@"', "sh",
                  str(state)]
    env = {**os.environ, **cli.env, "DATAUPLOADER_HOME": str(tmp_path)}  # state/: that disk
    r = _datauploader(["upload", "--json", "--proposal", "P", "--dataset", "D", data], env,
                      small_disk)
    assert r.returncode == ExitCode.INCOMPLETE, r.stderr
    assert "The journal" in r.stderr and "is full" in r.stderr and "Free some space" in r.stderr
    assert "rollback" not in r.stderr and "Unexpected" not in r.stderr
    assert json.loads(r.stdout)["exit_code"] == ExitCode.INCOMPLETE


def test_a_read_only_journal_is_named_without_the_advice_to_move_it(tmp_path, cli, data):
    assert cli("upload", "--proposal", "P", "--dataset", "D", data).code == 0
    state = tmp_path / "home" / "state"
    journal = state / "journal.sqlite"
    env = {**os.environ, **cli.env}
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] \
        if os.geteuid() == 0 else []
    modes = {p: p.stat().st_mode for p in [state, *state.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        r = _datauploader(["upload", "--json", "--proposal", "P", "--dataset", "D2", data], env,
                          prefix)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert r.returncode == ExitCode.INCOMPLETE, r.stderr
    assert f"The journal {journal} cannot be written" in r.stderr
    assert "read-only" in r.stderr and "do not move it aside" in r.stderr
    assert json.loads(r.stdout)["exit_code"] == ExitCode.INCOMPLETE
    # write access back: everything recorded is there
    assert cli("jobs", "1", "--json").json["state"] == "completed"
