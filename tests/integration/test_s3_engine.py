"""The engine with the real S3 backend on a real server: multipart resume part by part, files
that change while read, adoption of objects already there."""

import os

import pytest

from datauploader.catalogue.local import LocalCatalogue
from datauploader.core.controls import JobControls
from datauploader.core.engine import Engine, EngineSettings
from datauploader.core.journal import Journal
from datauploader.core.keys import dataset_key
from datauploader.core.models import DatasetDefinition, TaskState
from datauploader.core.planner import Planner
from datauploader.core.retry import RetryPolicy
from datauploader.events import BytesSent, FileDone, PartDone, RecordingSubscriber, Subscriber
from datauploader.source import SourceReader
from datauploader.storage.s3.backend import S3Storage
from datauploader.storage.s3.credentials import Credentials

pytestmark = pytest.mark.integration
MiB = 1 << 20


@pytest.fixture
def rig(tmp_path, s3_server, s3_bucket):
    storage = S3Storage(bucket=s3_bucket, endpoint_url=s3_server.endpoint_url,
                        multipart_threshold=MiB, part_size=MiB, part_concurrency=2,
                        credentials=lambda: Credentials(s3_server.access_key,
                                                        s3_server.secret_key))
    journal = Journal(str(tmp_path / "journal.sqlite"))
    catalogue = LocalCatalogue(str(tmp_path / "cat.sqlite"))
    data = tmp_path / "data"
    data.mkdir()
    yield {"storage": storage, "journal": journal, "catalogue": catalogue, "data": data,
           "tmp": tmp_path, "server": s3_server, "bucket": s3_bucket}
    storage.close()
    journal.close()
    catalogue.close()


def job(rig, name="D"):
    d = DatasetDefinition(proposal="P", name=name, paths=[str(rig["data"])])
    prefix = f"P/{name}"
    plan = Planner(rig["storage"].name_rules).plan(d.paths, prefix)
    st = rig["storage"]
    key = dataset_key(rig["catalogue"].describe(), "P", name, st.describe(), prefix)
    return rig["journal"].create_job(profile="t", catalogue=rig["catalogue"].describe(),
                                     storage=st.describe(), prefix=prefix, definition=d,
                                     files=plan.files, dataset_key=key)


def engine(rig, subscribers=(), workers=2, **kw):
    return Engine(rig["journal"], rig["storage"], rig["catalogue"],
                  EngineSettings(workers=workers, retry=RetryPolicy(attempts=2, base_delay=0.01)),
                  subscribers=subscribers, lock_dir=str(rig["tmp"] / "locks"), **kw)


def open_uploads(s3, bucket):
    """Multipart uploads in progress (rclone answers NoSuchUpload for a bucket that never had
    any)."""
    try:
        return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    except s3.exceptions.NoSuchUpload:
        return []


def body(rig, key):
    s3 = rig["server"].boto3_client()
    return s3.get_object(Bucket=rig["bucket"], Key=key)["Body"].read()


def test_multipart_resume_sends_only_the_missing_parts(rig):
    content = os.urandom(6 * MiB + 100)
    (rig["data"] / "vol.h5").write_bytes(content)
    job_id = job(rig)
    controls = JobControls()

    class CancelAfterThreeParts(Subscriber):
        parts = []

        def on_part_done(self, e, **kw):
            self.parts.append(e.part_number)
            if len(self.parts) == 3:
                controls.cancel()

    first = CancelAfterThreeParts()
    done = engine(rig, [first], workers=1).run(job_id, controls)
    assert done.state == "cancelled"
    mp = rig["journal"].multipart(rig["journal"].tasks(job_id)[0].id)
    assert mp is not None and len(mp.parts) >= 3
    already = sum(size for size, _, _ in mp.parts.values())

    rec = RecordingSubscriber()
    done = engine(rig, [rec]).run(job_id)
    assert done.state == "completed"
    resent = {e.part_number for e in rec.of(PartDone)}
    assert resent.isdisjoint(mp.parts)  # parts on the server were not sent again
    assert sum(e.nbytes for e in rec.of(BytesSent)) == len(content) - already
    assert done.bytes_sent == len(content) - already
    assert body(rig, "P/D/data/vol.h5") == content
    s3 = rig["server"].boto3_client()
    assert open_uploads(s3, rig["bucket"]) == []


def test_a_file_changed_between_runs_restarts_its_multipart_upload(rig):
    path = rig["data"] / "vol.h5"
    path.write_bytes(os.urandom(5 * MiB))
    job_id = job(rig)
    controls = JobControls()

    class CancelAfterTwoParts(Subscriber):
        n = 0

        def on_part_done(self, e, **kw):
            self.n += 1
            if self.n == 2:
                controls.cancel()

    engine(rig, [CancelAfterTwoParts()], workers=1).run(job_id, controls)
    new = os.urandom(5 * MiB)
    path.write_bytes(new)  # rewritten while the job was stopped
    done = engine(rig).run(job_id)
    assert done.state == "completed"
    assert body(rig, "P/D/data/vol.h5") == new
    t = rig["journal"].tasks(job_id)[0]
    import hashlib
    assert t.checksum == hashlib.sha256(new).hexdigest()


class AppendingReader(SourceReader):
    """Reads the real file; the acquisition software appends to it right after our first
    read, as an instrument writing the next frame would."""

    def readinto(self, buf, hash_it=True):
        n = super().readinto(buf, hash_it)
        if n and not getattr(self, "_appended", False):
            self._appended = True
            with open(self.path, "ab") as f:
                f.write(b"late frame")
        return n


@pytest.mark.parametrize("size", [200_000, 3 * MiB + 5], ids=["single-put", "multipart"])
def test_a_file_growing_while_read_is_never_uploaded_as_complete(rig, size):
    path = rig["data"] / "growing.raw"
    path.write_bytes(os.urandom(size))
    job_id = job(rig)
    done = engine(rig, source_factory=AppendingReader).run(job_id)
    t = rig["journal"].tasks(job_id)[0]
    assert t.state is TaskState.FAILED and "changed while it was being read" in t.error
    assert done.state == "incomplete"
    s3 = rig["server"].boto3_client()
    assert s3.list_objects_v2(Bucket=rig["bucket"]).get("KeyCount", 0) == 0
    assert open_uploads(s3, rig["bucket"]) == []
    # once the file is complete, resume uploads it in full
    done = engine(rig).run(job_id)
    assert done.state == "completed"
    assert body(rig, "P/D/data/growing.raw") == path.read_bytes()


def test_objects_already_there_are_adopted_single_and_multipart(rig):
    small, big = os.urandom(1000), os.urandom(3 * MiB + 1)
    (rig["data"] / "small.bin").write_bytes(small)
    (rig["data"] / "big.bin").write_bytes(big)
    assert engine(rig).run(job(rig, "D1")).state == "completed"
    # a second job for another dataset name whose objects happen to exist already: same
    # prefix is needed, so copy the objects there with another tool
    s3 = rig["server"].boto3_client()
    s3.put_object(Bucket=rig["bucket"], Key="P/D2/data/small.bin", Body=small)
    s3.put_object(Bucket=rig["bucket"], Key="P/D2/data/big.bin", Body=big)
    rec = RecordingSubscriber()
    done = engine(rig, [rec]).run(job(rig, "D2"))
    assert done.state == "completed" and done.bytes_sent == 0
    how = {e.relpath: e.verified_by for e in rec.of(FileDone)}
    assert all(e.skipped for e in rec.of(FileDone))
    assert how["data/small.bin"] == "already present (etag-md5)"
    assert how["data/big.bin"].startswith("already present (etag")
