"""Issue 13, point 5: a multipart upload whose id never reached the journal (its
CreateMultipartUpload answer lost, or the process killed between that answer and the journal
commit) is found and aborted, at the end of the job's transfers or when it resumes; uploads
in progress of anyone else under the same prefix are left alone (rclone serve s3, the fault
proxy in front)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from datauploader.errors import ExitCode
from tests.integration.s3_rig import s3_profile, stored, uploads_in_progress
from tests.servers.fault_proxy import Fault

pytestmark = pytest.mark.integration
MiB = 1 << 20
PARTS = "multipart_threshold = 1M\npart_size = 1M\n"


@pytest.fixture
def big(tmp_path):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    content = os.urandom(3 * MiB + 17)
    (root / "big.bin").write_bytes(content)
    return root, content


def foreign_uploads(server, bucket) -> set[str]:
    """Two uploads in progress of another client under the job's prefix: one on another key
    without parts, one on the job's own key with a part sent."""
    s3 = server.boto3_client()
    other = s3.create_multipart_upload(Bucket=bucket, Key="P/D/run/other.bin")["UploadId"]
    same = s3.create_multipart_upload(Bucket=bucket, Key="P/D/run/big.bin")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="P/D/run/big.bin", UploadId=same, PartNumber=1,
                   Body=b"someone else's part")
    return {other, same}


def in_progress(server, bucket) -> set[str]:
    return {u["UploadId"] for u in uploads_in_progress(server, bucket)}


def test_an_upload_whose_creation_answer_was_lost_is_aborted_at_the_end_of_the_job(
        cli, tmp_path, s3_server, s3_bucket, fault_proxy, big):
    root, content = big
    theirs = foreign_uploads(s3_server, s3_bucket)
    proxy = fault_proxy(s3_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, s3_server, s3_bucket, proxy.url, extra=PARTS)
    lost = proxy.inject(Fault.lose_answer(method="POST", path=r"big\.bin\?uploads"))
    r = cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", root,
            env=env)
    assert r.code == ExitCode.OK, r.err + r.out
    assert lost.fired == 1 and len(proxy.seen(method="POST", path=r"big\.bin\?uploads")) == 2
    assert in_progress(s3_server, s3_bucket) == theirs  # the orphan is gone, theirs are not
    assert len(proxy.seen(method="DELETE", path=r"big\.bin\?uploadId=")) == 1
    assert stored(s3_server, s3_bucket, "P/D/run/big") == {"P/D/run/big.bin": content}
    assert r.json["files"][0]["retries"] == 1


def test_killed_between_the_creation_answer_and_the_journal_the_resume_aborts_it(
        cli, tmp_path, s3_server, s3_bucket, fault_proxy, big, home):
    root, content = big
    theirs = foreign_uploads(s3_server, s3_bucket)
    proxy = fault_proxy(s3_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, s3_server, s3_bucket, proxy.url, extra=PARTS)
    # the server creates the upload; its answer is held until the process is killed
    held = proxy.inject(Fault.stall(phase="response", method="POST", path=r"big\.bin\?uploads"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "datauploader", "--config", str(cfg), "upload", "--proposal",
         "P", "--dataset", "D", str(root)], env={**os.environ, **cli.env, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (held.fired and len(in_progress(s3_server, s3_bucket)) == len(theirs) + 1):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the upload was never created"
            time.sleep(0.02)
        orphan = in_progress(s3_server, s3_bucket) - theirs
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    proxy.clear()
    assert orphan <= in_progress(s3_server, s3_bucket)  # left behind, its id in no journal

    r = cli("--config", cfg, "resume", "1", "--json", env=env)
    assert r.code == ExitCode.OK, r.err + r.out
    assert r.json["state"] == "completed"
    assert stored(s3_server, s3_bucket, "P/D/run/big") == {"P/D/run/big.bin": content}
    assert in_progress(s3_server, s3_bucket) == theirs
    assert not os.listdir(home / "state" / "s3-pending")  # the marker went with the orphan
