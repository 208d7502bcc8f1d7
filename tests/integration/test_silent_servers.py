"""A server that stops answering, or answers one byte at a time, through the fault proxy in
front of the real S3 server: the operator hears of it within the stall notice (also when
standard error is not a terminal), the request is given up after the time-out, the job ends
resumable with the exit code of an unreachable server, and SIGTERM ends the command within
seconds with the journal consistent."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from datauploader.errors import ExitCode
from tests.servers.fault_proxy import Fault

pytestmark = pytest.mark.integration


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    for i in range(4):
        (root / f"f{i}.bin").write_bytes(os.urandom(20_000))
    return root


@pytest.fixture
def through_proxy(fault_proxy, s3_server, s3_config, cli):
    proxy = fault_proxy(s3_server)
    cfg = s3_config(endpoint=proxy.url, extra="timeout = 3\n",
                    settings="stall_notice = 1\nretries = 2\nretry_max_delay = 0.5\n"
                             "workers = 2\n")
    env = {**os.environ, **cli.env, **s3_config.env}
    return proxy, cfg, env


def _cli(env, *argv, **kw):
    return subprocess.Popen([sys.executable, "-m", "datauploader", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("fault", [
    Fault.stall(phase="response", method="PUT", times=None),  # accepts, never answers
    Fault.drip(every=0.5, method="PUT", times=None),  # one byte every half second
], ids=["stall", "drip"])
def test_a_silent_server_is_named_then_given_up_resumably(through_proxy, files, fault, cli):
    proxy, cfg, env = through_proxy
    proxy.inject(fault)
    started = time.monotonic()
    proc = _cli(env, "--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D",
                files)
    out, err = proc.communicate(timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == ExitCode.UNREACHABLE, err
    assert "No answer from s3://" in err and "still trying" in err  # stderr is a pipe here
    doc = json.loads(out)
    assert doc["state"] == "failed" and "resume" in doc["error"]
    reason = "stalled or drip-feeding" if fault.action == "drip" else "no answer within 3"
    assert reason in doc["error"] or reason in err, err
    # given up on the time-out and the retries, not on the server's patience
    assert took < 60, f"took {took:.0f} s"
    proxy.clear()
    r = cli("--config", cfg, "resume", "1", "--json", env=env)
    assert r.code == 0, r.err
    assert r.json["state"] == "completed" and r.json["files_ok"] == 4


def test_sigterm_ends_a_job_stuck_on_a_silent_server_within_seconds(through_proxy, files, cli):
    proxy, cfg, env = through_proxy
    proxy.inject(Fault.stall(phase="response", method="PUT", times=None))
    proc = _cli(env, "--config", cfg, "upload", "--proposal", "P", "--dataset", "D", files)
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline and "No answer from" not in seen:
        line = proc.stderr.readline()
        assert line, f"ended early: {proc.wait()} {seen}"
        seen += line
    assert "No answer from" in seen
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert time.monotonic() - sent < 5, "SIGTERM must not wait for the silent server"
    r = cli("jobs", "1", "--json", env=env)
    assert r.json["state"] == "cancelled"
    proxy.clear()
    r = cli("--config", cfg, "resume", "1", "--json", env=env)
    assert r.code == 0 and r.json["files_ok"] == 4
