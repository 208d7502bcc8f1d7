"""Issue 13, point 7: retries are counted per request, a lost CompleteMultipartUpload answer is
confirmed before anything is sent again, a server answering 503 to everything is "server
unavailable" (exit 5) in an honest sentence, and every retry shows in the log file and in the
job document (rclone serve s3 behind the fault proxy)."""

import os

import pytest

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition
from datauploader.core.planner import Planner
from datauploader.core.retry import RetryPolicy
from datauploader.errors import ExitCode
from datauploader.events import FileFailed, RecordingSubscriber, Subscriber
from datauploader.storage.s3.backend import S3Storage
from datauploader.storage.s3.credentials import Credentials
from tests.integration.s3_rig import s3_profile, stored, uploads_in_progress
from tests.servers.fault_proxy import Fault

pytestmark = pytest.mark.integration
MiB = 1 << 20
PARTS = "multipart_threshold = 1M\npart_size = 1M\npart_concurrency = 2\n"


@pytest.fixture
def big(tmp_path):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    content = os.urandom(8 * MiB)  # eight parts of 1 MiB
    (root / "big.bin").write_bytes(content)
    return root, content


def upload(cli, cfg, env, root):
    return cli("--config", cfg, "upload", "--json", "--proposal", "P", "--dataset", "D", root,
               env=env)


def test_six_faults_on_six_parts_cost_those_parts_a_try_each_not_the_file(
        cli, tmp_path, s3_server, s3_bucket, fault_proxy, home):
    root = tmp_path / "data" / "run"
    root.mkdir(parents=True)
    content = os.urandom(12 * MiB)  # twelve parts of 1 MiB
    (root / "big.bin").write_bytes(content)
    proxy = fault_proxy(s3_server.endpoint_url)
    # one part at a time, as over a slow link; a 500 for every other part
    cfg, env = s3_profile(tmp_path, s3_server, s3_bucket, proxy.url,
                          extra=PARTS.replace("part_concurrency = 2", "part_concurrency = 1"))
    faulty = (1, 3, 5, 7, 9, 11)
    faults = [proxy.inject(Fault.s3_error(500, "InternalError", method="PUT",
                                          path=rf"big\.bin\?partNumber={n}&"))
              for n in faulty]
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.OK, r.err + r.out
    assert [f.fired for f in faults] == [1] * 6
    # each part sent once, the six that met a fault twice; the file was not started again
    assert len(proxy.seen(method="PUT", path=r"big\.bin\?partNumber=")) == 12 + 6
    assert stored(s3_server, s3_bucket, "P/D/") == {"P/D/run/big.bin": content}
    row = r.json["files"][0]
    assert (row["state"], row["attempts"], row["retries"]) == ("registered", 1, 6)
    log = (home / "logs" / "datauploader.log").read_text()
    retried = [line for line in log.splitlines() if "WARNING" in line and "Try 2 of 5" in line]
    assert len(retried) == 6 and all("InternalError" in line for line in retried)
    assert {f"part {n} of 12" for n in faulty} == {
        line.split(", ", 1)[1].split(" of P/D")[0] for line in retried}


def test_a_lost_completion_answer_is_confirmed_and_nothing_is_sent_again(
        cli, tmp_path, s3_server, s3_bucket, fault_proxy, big):
    root, content = big
    proxy = fault_proxy(s3_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, s3_server, s3_bucket, proxy.url, extra=PARTS)
    lost = proxy.inject(Fault.lose_answer(method="POST", path=r"big\.bin\?uploadId="))
    r = upload(cli, cfg, env, root)
    assert r.code == ExitCode.OK, r.err + r.out
    assert lost.fired == 1
    assert len(proxy.seen(method="PUT", path=r"big\.bin\?partNumber=")) == 8
    assert len(proxy.seen(method="POST", path=r"big\.bin\?uploads")) == 1  # one upload begun
    assert len(proxy.seen(method="POST", path=r"big\.bin\?uploadId=")) == 1  # completed once
    assert r.json["bytes_sent"] == len(content)
    row = r.json["files"][0]
    assert (row["state"], row["attempts"], row["retries"]) == ("registered", 1, 1)
    assert stored(s3_server, s3_bucket, "P/D/") == {"P/D/run/big.bin": content}
    assert uploads_in_progress(s3_server, s3_bucket) == []


def test_a_server_answering_503_to_everything_is_unavailable_exit_5(tmp_path, s3_server,
                                                                    s3_bucket, fault_proxy):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        (data / f"f{i}.bin").write_bytes(os.urandom(3000))
    proxy = fault_proxy(s3_server.endpoint_url)
    storage = S3Storage(bucket=s3_bucket, endpoint_url=proxy.url,
                        credentials=Credentials(s3_server.access_key, s3_server.secret_key))
    journal = Journal(str(tmp_path / "journal.sqlite"))
    catalogue = LocalCatalogue(str(tmp_path / "cat.sqlite"))
    d = DatasetDefinition(proposal="P", name="D", paths=[str(data)])
    plan = Planner(storage.name_rules).plan(d.paths, "P/D")
    job_id = journal.create_job(
        profile="t", catalogue=catalogue.describe(), storage=storage.describe(), prefix="P/D",
        definition=d, files=plan.files,
        dataset_key=dataset_key(catalogue.describe(), "P", "D", storage.describe(), "P/D"))

    class GoesDown(Subscriber):
        """From the first file on, the server answers every request with 503."""

        def on_file_started(self, e, **kw):
            if not proxy.faults:
                proxy.inject(Fault.s3_error(503, "ServiceUnavailable", "Please try later",
                                            times=None))

    rec = RecordingSubscriber()
    engine = Engine(journal, storage, catalogue,
                    EngineSettings(workers=2, retry=RetryPolicy(attempts=3, base_delay=0.01)),
                    subscribers=[GoesDown(), rec], lock_dir=str(tmp_path / "locks"))
    try:
        done = engine.run(job_id)
    finally:
        storage.close()
        journal.close()
        catalogue.close()
    assert (done.state, done.exit_code) == ("failed", ExitCode.UNREACHABLE)
    assert done.error.startswith(f"The storage ({storage.describe()}) seems to be unavailable: "
                                 "no request succeeded for ")
    assert "3 tries of each" in done.error and "ServiceUnavailable" in done.error
    assert done.error.endswith(f"Nothing is lost: resume the job (datauploader resume {job_id}).")
    said = [done.error] + [e.error for e in rec.of(FileFailed)]
    assert not any("will be retried" in s for s in said)
    assert len(rec.of(FileFailed)) <= 2  # the job stopped: not every file was tried to its end


def test_a_fault_that_stays_with_one_file_fails_that_file_only(cli, tmp_path, s3_server,
                                                                s3_bucket, fault_proxy):
    data = tmp_path / "data" / "run"
    data.mkdir(parents=True)
    for i in range(4):
        (data / f"f{i}.bin").write_bytes(os.urandom(3000))
    proxy = fault_proxy(s3_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, s3_server, s3_bucket, proxy.url)
    fault = proxy.inject(Fault.s3_error(503, "SlowDown", method="PUT", path=r"/run/f1\.bin$",
                                        times=None))
    r = upload(cli, cfg, env, data)
    assert r.code == ExitCode.INCOMPLETE, r.err + r.out
    assert fault.fired == 5
    rows = {f["name"]: f for f in r.json["files"]}
    f1 = rows.pop("run/f1.bin")
    assert (f1["state"], f1["retries"]) == ("failed", 4)
    assert f1["error"].endswith("(SlowDown). Gave up after 5 tries.")
    assert "retried" not in f1["error"]
    assert {f["state"] for f in rows.values()} == {"registered"}
