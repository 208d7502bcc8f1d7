"""Issue 13, point 11: a bucket in another region than the one configured is named in the
error, as AWS tells it: a 301 with ``x-amz-bucket-region``, a HEAD 400 with that header (no
body), a PermanentRedirect naming the bucket's endpoint, an AuthorizationHeaderMalformed
naming the region expected. moto accepts any region (it answers HeadBucket with 200 and the
bucket's region), so the fault proxy, in front of moto, answers as AWS does."""

import pytest

from datauploader.errors import ExitCode
from tests.integration.s3_rig import s3_profile
from tests.servers.fault_proxy import Fault

pytestmark = pytest.mark.integration

REDIRECT = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code>"
            "<Message>The bucket you are attempting to access must be addressed using the "
            "specified endpoint. Please send all future requests to this endpoint.</Message>"
            "<Endpoint>{bucket}.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>{bucket}</Bucket>"
            "<RequestId>R1</RequestId></Error>")
MALFORMED = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
             "<Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is "
             "malformed; the region 'us-east-1' is wrong; expecting 'ap-southeast-2'</Message>"
             "<Region>ap-southeast-2</Region><RequestId>R2</RequestId></Error>")


@pytest.mark.parametrize("status, region", [(301, "eu-west-1"), (400, "eu-central-1")],
                         ids=["301", "400"])
def test_a_wrong_region_names_the_right_one(cli, tmp_path, moto_server, moto_bucket,
                                            fault_proxy, status, region):
    """HeadBucket (``config check --online``): AWS answers without a body, the region is in a
    header."""
    proxy = fault_proxy(moto_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket, proxy.url)
    proxy.inject(Fault.answer(status, headers={"x-amz-bucket-region": region}, method="HEAD"))
    r = cli("--config", cfg, "config", "check", "--online", env=env)
    assert r.code == ExitCode.USAGE, r.err
    assert (f"The bucket '{moto_bucket}' is in region '{region}', not in 'us-east-1' as "
            "configured") in r.err
    assert f"set region = {region} in the storage configuration" in r.err


@pytest.mark.parametrize("status, body, region", [
    (301, REDIRECT, "eu-west-1"), (400, MALFORMED, "ap-southeast-2")],
    ids=["permanent-redirect", "authorization-header-malformed"])
def test_a_wrong_region_met_by_an_upload_names_the_right_one(
        cli, tmp_path, moto_server, moto_bucket, fault_proxy, status, body, region):
    """The listing of the dataset's prefix (a GET): the region is in the error's body."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"x" * 100)
    proxy = fault_proxy(moto_server.endpoint_url)
    cfg, env = s3_profile(tmp_path, moto_server, moto_bucket, proxy.url)
    proxy.inject(Fault.answer(status, body.format(bucket=moto_bucket),
                              content_type="application/xml", method="GET", times=None))
    r = cli("--config", cfg, "upload", "--proposal", "P", "--dataset", "D", data, env=env)
    assert r.code == ExitCode.USAGE, r.err
    assert f"is in region '{region}', not in 'us-east-1'" in r.err
    assert moto_server.boto3_client().list_objects_v2(Bucket=moto_bucket)["KeyCount"] == 0
