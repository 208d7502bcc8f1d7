"""Claims on a dataset's prefix (storage/s3/claims.py) on rclone serve s3: of two jobs that
claim at the same moment exactly one goes on; a job that comes back (resume) keeps its own
claim; claims are hidden from the job's listings and gone when released."""

import socket
import threading

import pytest

from datauploader.storage.s3.backend import S3Storage
from datauploader.storage.s3.claims import DatasetClaimedError
from datauploader.storage.s3.credentials import Credentials

pytestmark = pytest.mark.integration


def storage(server, bucket):
    return S3Storage(bucket=bucket, endpoint_url=server.endpoint_url,
                     credentials=Credentials(server.access_key, server.secret_key))


def keys(server, bucket):
    return {o["Key"] for o in server.boto3_client().list_objects_v2(Bucket=bucket)
            .get("Contents", [])}


@pytest.mark.parametrize("round_", range(3))
def test_of_two_jobs_claiming_together_exactly_one_goes_on(s3_server, s3_bucket, round_):
    a, b = storage(s3_server, s3_bucket), storage(s3_server, s3_bucket)
    start = threading.Barrier(2)
    outcome = {}

    def claim(name, st):
        start.wait()
        try:
            st.claim("P/D", f"job-{name}")
            outcome[name] = "claimed"
        except DatasetClaimedError as e:
            outcome[name] = e

    threads = [threading.Thread(target=claim, args=(n, st)) for n, st in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert sorted(map(str, outcome.values())).count("claimed") == 1, outcome
        winner = next(n for n, v in outcome.items() if v == "claimed")
        loser = outcome["b" if winner == "a" else "a"]
        assert f"job job-{winner} on {socket.gethostname()}" in str(loser)
        assert "Nothing was sent" in str(loser)
        assert keys(s3_server, s3_bucket) == {f"P/D/.du-claim-job-{winner}"}
        assert (a if winner == "a" else b).existing("P/D") == {}  # claims are not listed
    finally:
        for st, n in ((a, "a"), (b, "b")):
            st.release("P/D", f"job-{n}")
            st.close()
    assert keys(s3_server, s3_bucket) == set()


def test_a_job_coming_back_keeps_its_own_claim(s3_server, s3_bucket):
    first, again = storage(s3_server, s3_bucket), storage(s3_server, s3_bucket)
    try:
        first.claim("P/D", "job-1")
        first.close()  # killed: its claim stays behind
        again.claim("P/D", "job-1")  # the resume of the same job
        with pytest.raises(DatasetClaimedError):
            storage(s3_server, s3_bucket).claim("P/D", "job-2")
        assert keys(s3_server, s3_bucket) == {"P/D/.du-claim-job-1"}
    finally:
        again.release("P/D", "job-1")
        again.close()
    assert keys(s3_server, s3_bucket) == set()
