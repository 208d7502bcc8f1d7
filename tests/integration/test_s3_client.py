"""S3Client against a real ``rclone serve s3`` (and, for error paths no real server produces
on demand, against a scripted loopback HTTP server). Objects are cross-checked with boto3.

What rclone serve s3 (v1.75) does, as asserted below:
* ``If-None-Match: *`` is ignored on PutObject and on CompleteMultipartUpload: an existing
  key is silently overwritten (AWS answers 412). The engine must not rely on it here.
* ``x-amz-content-sha256`` is not checked against the body: a wrong hash is accepted.
* ``Content-MD5`` is checked: a wrong one is refused with 400 ``BadDigest`` and nothing is
  stored.
* The ETag returned by CompleteMultipartUpload has the AWS form (md5 of the part md5s, then
  ``-N``), but HEAD and listings later report the plain MD5 of the whole object.
* Lookups fold Unicode normalisation: HEAD of the NFD form of a key finds the NFC object.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socketserver
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest

from datauploader.errors import (AuthError, CancelledError, PermissionDeniedError, StorageFullError,
                                 TransientError, UnreachableError, UsageError, UserFacingError,
                                 classify)
from datauploader.net.http import Connection, peer_closed
from datauploader.net.tls import TLSCertificateError
from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import Credentials
from datauploader.storage.s3.errors import (ClockSkewError, NoSuchBucket, NoSuchKey, NoSuchUpload,
                                            PreconditionFailed, S3AuthError, S3ChecksumMismatch,
                                            S3Error, S3PermissionDenied, S3StorageFull,
                                            S3TransientError, WrongRegion)
from tests.servers.rclone_s3 import RcloneS3Server, free_port

pytestmark = pytest.mark.integration

MiB = 1024 * 1024

TRICKY_KEYS = [
    "plain.bin",
    "dir/sub dir/with space.txt",
    unicodedata.normalize("NFC", "unicodé/Grüße/日本語 ñ.dat"),
    "hash#fragment",
    "percent%41%zz%",
    "question?mark",
    "plus+sign + space",
    "amp&and=equals",
    "mix #%?+&= all",
    "~tilde_under-dash.dot",
    "quote'paren()!star*comma,semi;colon:at@dollar$",
]


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(client, bucket, key, data, **kw):
    kw.setdefault("content_md5_b64", md5_b64(data))
    kw.setdefault("payload_sha256", sha256_hex(data))
    return client.put_object(bucket, key, data, **kw)


def get_all(client, bucket, key, **kw) -> tuple[bytes, object, list[int]]:
    pieces: list[bytes] = []
    info = client.get_object(bucket, key, lambda mv: pieces.append(bytes(mv)), **kw)
    return b"".join(pieces), info, [len(p) for p in pieces]


def boto3_body(server, bucket, key) -> bytes:
    return server.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def client(s3_server):
    c = S3Client(s3_server.endpoint_url,
                 credentials=Credentials(s3_server.access_key, s3_server.secret_key))
    yield c
    c.close()


@pytest.fixture
def own_server(tmp_path):
    """A private server, for tests that stop, restart or kill it."""
    server = RcloneS3Server(tmp_path / "root").start()
    yield server
    server.stop()


# ---------------------------------------------------------------------------------------------
# Objects


def test_put_head_list_get_with_tricky_keys(client, s3_server, s3_bucket):
    bodies = {key: os.urandom(100 + i) for i, key in enumerate(TRICKY_KEYS)}
    for key, data in bodies.items():
        result = put(client, s3_bucket, key, data)
        assert result.etag == hashlib.md5(data).hexdigest()
        assert '"' not in result.etag
        assert result.headers["etag"].strip('"') == result.etag

    for key, data in bodies.items():
        info = client.head_object(s3_bucket, key)
        assert info is not None, key
        assert (info.key, info.size, info.etag) == (key, len(data), hashlib.md5(data).hexdigest())
        assert info.last_modified
        assert get_all(client, s3_bucket, key)[0] == data
        assert boto3_body(s3_server, s3_bucket, key) == data  # the reference client agrees
        assert s3_server.path_of(s3_bucket, key).read_bytes() == data  # and so does the disk

    listed = {o.key: o for o in client.list_objects(s3_bucket)}
    assert set(listed) == set(bodies)
    for key, data in bodies.items():
        assert listed[key].size == len(data)
        assert listed[key].etag == hashlib.md5(data).hexdigest()
    ref = s3_server.boto3_client().list_objects_v2(Bucket=s3_bucket)
    assert {o["Key"] for o in ref["Contents"]} == set(bodies)

    # prefix listing
    assert [o.key for o in client.list_objects(s3_bucket, "dir/sub dir/")] == \
        ["dir/sub dir/with space.txt"]
    assert list(client.list_objects(s3_bucket, "nothing-here/")) == []


def test_head_missing_key_is_none(client, s3_bucket):
    assert client.head_object(s3_bucket, "no/such key") is None


def test_listing_paginates(client, s3_bucket):
    n = 1050  # more than one page of 1,000
    for i in range(n):
        client.put_object(s3_bucket, f"many/f {i:05d}+.txt", b"%d" % i)
    keys = [o.key for o in client.list_objects(s3_bucket, "many/")]
    assert keys == sorted(f"many/f {i:05d}+.txt" for i in range(n))


def test_empty_object(client, s3_server, s3_bucket):
    result = put(client, s3_bucket, "empty", b"")
    assert result.etag == "d41d8cd98f00b204e9800998ecf8427e"
    info = client.head_object(s3_bucket, "empty")
    assert (info.size, info.etag) == (0, "d41d8cd98f00b204e9800998ecf8427e")
    data, info, pieces = get_all(client, s3_bucket, "empty")
    assert data == b"" and pieces == [] and info.size == 0
    assert boto3_body(s3_server, s3_bucket, "empty") == b""


def test_metadata_round_trip(client, s3_server, s3_bucket):
    meta = {
        "sha256": "ab" * 32,
        "Job-UUID": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "note": "Grüße, 100% sûr 日本",
        "spaces": "  leading and trailing  ",
        "percent": "%41 is not A",
    }
    put(client, s3_bucket, "with-meta", b"data", metadata=meta,
        content_type="text/plain; charset=utf-8")
    info = client.head_object(s3_bucket, "with-meta")
    assert info.metadata == {k.lower(): v for k, v in meta.items()}
    assert info.content_type == "text/plain; charset=utf-8"
    # On the wire (what other tools see) the values are ASCII, percent-encoded where needed.
    ref = s3_server.boto3_client().head_object(Bucket=s3_bucket, Key="with-meta")["Metadata"]
    ref = {k.lower(): v for k, v in ref.items()}  # botocore title-cases the names
    assert ref["sha256"] == "ab" * 32
    assert ref["note"] == "Gr%C3%BC%C3%9Fe, 100%25 s%C3%BBr %E6%97%A5%E6%9C%AC"
    assert ref["percent"] == "%2541 is not A"
    with pytest.raises(ValueError):
        client.put_object(s3_bucket, "bad-meta", b"", metadata={"no spaces": "x"})


def test_get_object_streams_in_bounded_pieces_and_ranges(client, s3_server, s3_bucket):
    data = os.urandom(3 * MiB + 123)
    put(client, s3_bucket, "big/object.bin", data)

    got, info, pieces = get_all(client, s3_bucket, "big/object.bin", chunk_size=64 * 1024)
    assert got == data
    assert max(pieces) <= 64 * 1024 and len(pieces) >= len(data) // (64 * 1024)
    assert (info.size, info.etag) == (len(data), hashlib.md5(data).hexdigest())

    got, info, _ = get_all(client, s3_bucket, "big/object.bin", range=(10, 99))
    assert got == data[10:100] and info.size == len(data)
    got, info, _ = get_all(client, s3_bucket, "big/object.bin", range=(len(data) - 5, None))
    assert got == data[-5:] and info.size == len(data)

    with pytest.raises(NoSuchKey):
        client.get_object(s3_bucket, "big/missing", lambda mv: None)


def test_get_object_callback_error_propagates_and_client_recovers(client, s3_bucket):
    put(client, s3_bucket, "obj", os.urandom(2 * MiB))

    def boom(mv):
        raise CancelledError()

    with pytest.raises(CancelledError):
        client.get_object(s3_bucket, "obj", boom, chunk_size=64 * 1024)
    assert client.head_object(s3_bucket, "obj").size == 2 * MiB  # the client still works


# ---------------------------------------------------------------------------------------------
# Bodies, chunks and connections


def test_small_body_goes_in_one_send_large_in_256k_chunks(client, s3_bucket, monkeypatch):
    sends: list[int] = []
    real_send_head, real_send = Connection.send_head, Connection.send

    def counting_send_head(self, head, body=None, tail=b""):
        sends.append(len(head) + (len(body) if body is not None else 0) + len(tail))
        return real_send_head(self, head, body, tail)

    def counting_send(self, data):
        sends.append(len(data))
        return real_send(self, data)

    client.head_bucket(s3_bucket)  # connect first
    monkeypatch.setattr(Connection, "send_head", counting_send_head)
    monkeypatch.setattr(Connection, "send", counting_send)

    chunks: list[int] = []
    small = os.urandom(4096)
    put(client, s3_bucket, "small", small, on_chunk=chunks.append)
    assert len(sends) == 1 and sends[0] > len(small)  # headers and body together
    assert chunks == [len(small)]

    sends.clear()
    chunks.clear()
    large = os.urandom(MiB + 10)
    put(client, s3_bucket, "large", large, on_chunk=chunks.append)
    assert chunks == [256 * 1024] * 4 + [10]
    assert sends[1:] == chunks  # headers, then the chunks
    assert client.head_object(s3_bucket, "large").size == len(large)

    sends.clear()
    chunks.clear()
    put(client, s3_bucket, "from-memoryview", memoryview(large)[:300 * 1024],
        content_md5_b64=md5_b64(large[:300 * 1024]), payload_sha256=sha256_hex(large[:300 * 1024]),
        on_chunk=chunks.append)
    assert chunks == [256 * 1024, 44 * 1024]


def test_connection_is_kept_alive(client, s3_bucket):
    for i in range(50):
        client.put_object(s3_bucket, f"k{i}", b"x")
        client.head_object(s3_bucket, f"k{i}")
    assert len(client._all_conns) == 1


def test_cancel_in_on_chunk_propagates_and_leaves_no_object(client, s3_bucket):
    calls = []

    def on_chunk(n):
        calls.append(n)
        if len(calls) == 2:
            raise CancelledError()

    with pytest.raises(CancelledError):
        put(client, s3_bucket, "cancelled", os.urandom(2 * MiB), on_chunk=on_chunk)
    assert client.head_object(s3_bucket, "cancelled") is None
    put(client, s3_bucket, "after", b"fine")  # a fresh connection
    assert client.head_object(s3_bucket, "after").size == 4


def test_threads_use_their_own_connections(client, s3_server, s3_bucket):
    def work(t):
        for i in range(25):
            data = f"{t}-{i}".encode()
            put(client, s3_bucket, f"t{t}/{i}", data)
        return t

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(work, range(4))) == [0, 1, 2, 3]
        assert 2 <= len(client._all_conns) <= 4  # one per pool thread
    assert len(list(client.list_objects(s3_bucket))) == 100
    assert boto3_body(s3_server, s3_bucket, "t3/24") == b"3-24"


def test_credentials_callable_is_called_per_request(s3_server, s3_bucket):
    calls = []

    def creds():
        calls.append(1)
        # the first call hands out a wrong secret, later ones the right one ("refreshed")
        secret = "stale" if len(calls) == 1 else s3_server.secret_key
        return Credentials(s3_server.access_key, secret)

    c = S3Client(s3_server.endpoint_url, credentials=creds)
    with pytest.raises(AuthError):
        c.put_object(s3_bucket, "refresh", b"1")
    c.put_object(s3_bucket, "refresh", b"1")
    assert len(calls) == 2
    c.close()


def test_server_restart_is_transparent_and_stop_is_unreachable(own_server):
    c = S3Client(own_server.endpoint_url,
                 credentials=Credentials(own_server.access_key, own_server.secret_key))
    bucket = own_server.bucket
    c.put_object(bucket, "before", b"1")
    own_server.restart()  # the kept-alive connection dies with the old process
    c.put_object(bucket, "after-restart", b"2")  # reconnects by itself
    assert c.head_object(bucket, "after-restart").size == 1

    own_server.stop()
    with pytest.raises(UnreachableError) as ei:
        c.put_object(bucket, "while-down", b"3")
    assert ei.value.message == (
        f"Cannot reach the S3 server at {own_server.endpoint_url}: connection refused. "
        "Check the address and the network; the job can be resumed.")
    assert classify(ei.value) == "retry"

    own_server.start()
    c.put_object(bucket, "after-start", b"4")
    assert {o.key for o in c.list_objects(bucket)} == {"before", "after-restart", "after-start"}
    c.close()


def test_server_killed_mid_upload(own_server):
    c = S3Client(own_server.endpoint_url,
                 credentials=Credentials(own_server.access_key, own_server.secret_key))
    bucket = own_server.bucket
    c.head_bucket(bucket)

    def on_chunk(n):
        if own_server.running:
            own_server.kill()

    with pytest.raises(UnreachableError) as ei:
        put(c, bucket, "interrupted", os.urandom(8 * MiB), on_chunk=on_chunk)
    assert isinstance(ei.value, TransientError)
    own_server.start()
    assert c.head_object(bucket, "interrupted") is None  # nothing half-written is visible
    put(c, bucket, "interrupted", b"retried")
    assert c.head_object(bucket, "interrupted").size == 7
    c.close()


# ---------------------------------------------------------------------------------------------
# Multipart


def test_multipart_cycle(client, s3_server, s3_bucket):
    key = "multi part/obj #1+.bin"
    p1, p2 = os.urandom(5 * MiB), os.urandom(1000)
    upload_id = client.create_multipart_upload(s3_bucket, key, metadata={"sha256": "cafe"})
    assert upload_id

    e1 = client.upload_part(s3_bucket, key, upload_id, 1, p1, content_md5_b64=md5_b64(p1),
                            payload_sha256=sha256_hex(p1))
    e2 = client.upload_part(s3_bucket, key, upload_id, 2, p2, content_md5_b64=md5_b64(p2))
    assert (e1, e2) == (hashlib.md5(p1).hexdigest(), hashlib.md5(p2).hexdigest())

    parts = client.list_parts(s3_bucket, key, upload_id)
    assert [(p.part_number, p.size, p.etag) for p in parts] == [(1, len(p1), e1), (2, len(p2), e2)]

    uploads = client.list_multipart_uploads(s3_bucket)
    assert (key, upload_id) in [(u.key, u.upload_id) for u in uploads]
    assert all(u.initiated for u in uploads)
    assert [u.key for u in client.list_multipart_uploads(s3_bucket, "multi part/")] == [key]
    assert client.list_multipart_uploads(s3_bucket, "other/") == []
    assert client.head_object(s3_bucket, key) is None  # not visible before completion

    etag = client.complete_multipart_upload(s3_bucket, key, upload_id, [(1, e1), (2, e2)])
    # rclone answers with the AWS form: md5 of the concatenated part md5s, "-" part count...
    aws_form = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + "-2"
    assert etag == aws_form
    # ...but HEAD and listings report the plain MD5 of the whole object.
    info = client.head_object(s3_bucket, key)
    assert (info.size, info.etag) == (len(p1) + len(p2), hashlib.md5(p1 + p2).hexdigest())
    assert info.metadata == {"sha256": "cafe"}
    assert boto3_body(s3_server, s3_bucket, key) == p1 + p2
    assert client.list_multipart_uploads(s3_bucket) == []
    with pytest.raises(NoSuchUpload):
        client.list_parts(s3_bucket, key, upload_id)


def test_multipart_abort(client, s3_bucket):
    key = "aborted/obj"
    upload_id = client.create_multipart_upload(s3_bucket, key)
    client.upload_part(s3_bucket, key, upload_id, 1, b"x" * 1000)
    client.abort_multipart_upload(s3_bucket, key, upload_id)
    assert client.list_multipart_uploads(s3_bucket) == []
    assert client.head_object(s3_bucket, key) is None
    with pytest.raises(NoSuchUpload):
        client.upload_part(s3_bucket, key, upload_id, 2, b"y")
    with pytest.raises(NoSuchUpload):
        client.complete_multipart_upload(s3_bucket, key, upload_id, [(1, "00")])
    with pytest.raises(NoSuchUpload):
        client.abort_multipart_upload(s3_bucket, key, upload_id)


# ---------------------------------------------------------------------------------------------
# What rclone serve s3 checks (documents the server; see the module docstring)


def test_rclone_ignores_if_none_match_on_put(client, s3_server, s3_bucket):
    put(client, s3_bucket, "exists", b"first")
    put(client, s3_bucket, "exists", b"second", if_none_match=True)  # AWS: 412
    assert boto3_body(s3_server, s3_bucket, "exists") == b"second"


def test_rclone_ignores_if_none_match_on_complete(client, s3_server, s3_bucket):
    put(client, s3_bucket, "exists-mp", b"first")
    upload_id = client.create_multipart_upload(s3_bucket, "exists-mp")
    e1 = client.upload_part(s3_bucket, "exists-mp", upload_id, 1, b"second")
    client.complete_multipart_upload(s3_bucket, "exists-mp", upload_id, [(1, e1)],
                                     if_none_match=True)  # AWS: 412
    assert boto3_body(s3_server, s3_bucket, "exists-mp") == b"second"


def test_rclone_does_not_verify_payload_sha256(client, s3_server, s3_bucket):
    for key, data in (("small-wrong-sha", b"x" * 4096), ("large-wrong-sha", b"y" * (MiB + 1))):
        client.put_object(s3_bucket, key, data, payload_sha256=sha256_hex(b"not the body"))
        assert boto3_body(s3_server, s3_bucket, key) == data


def test_rclone_verifies_content_md5(client, s3_bucket):
    with pytest.raises(S3ChecksumMismatch) as ei:
        client.put_object(s3_bucket, "wrong-md5", b"x" * 4096, content_md5_b64=md5_b64(b"other"))
    assert (ei.value.status, ei.value.code) == (400, "BadDigest")
    assert isinstance(ei.value, TransientError)
    assert client.head_object(s3_bucket, "wrong-md5") is None
    put(client, s3_bucket, "after-bad-md5", b"ok")  # the connection is still usable


def test_rclone_folds_unicode_normalisation_on_lookup(client, s3_bucket):
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    put(client, s3_bucket, nfc, b"nfc")
    assert client.head_object(s3_bucket, nfc).size == 3
    assert client.head_object(s3_bucket, nfd) is not None  # AWS: None (keys are bytes)


# ---------------------------------------------------------------------------------------------
# Errors from the real server


def test_wrong_secret_is_auth_error(s3_server, s3_bucket):
    c = S3Client(s3_server.endpoint_url, credentials=Credentials(s3_server.access_key, "wrong-secret"))
    with pytest.raises(S3AuthError) as ei:
        c.put_object(s3_bucket, "x", b"1")
    e = ei.value
    assert isinstance(e, AuthError) and classify(e) == "auth"
    assert (e.status, e.code) == (403, "SignatureDoesNotMatch")
    assert s3_server.access_key in e.message and "wrong-secret" not in e.message
    assert e.message.startswith(f"The S3 server at {s3_server.endpoint_url} refused")
    with pytest.raises(AuthError):  # HEAD: no body, no code, still an AuthError
        c.head_bucket(s3_bucket)
    with pytest.raises(AuthError):
        list(c.list_objects(s3_bucket))


def test_wrong_access_key_is_auth_error(s3_server, s3_bucket):
    c = S3Client(s3_server.endpoint_url, credentials=Credentials("NOSUCHKEY", s3_server.secret_key))
    with pytest.raises(AuthError) as ei:
        c.put_object(s3_bucket, "x", b"1")
    assert ei.value.code == "InvalidAccessKeyId"
    assert ei.value.message == (
        f"The S3 server at {s3_server.endpoint_url} refused the access key NOSUCHKEY "
        "(InvalidAccessKeyId). Check the credentials.")
    with pytest.raises(AuthError):  # also for a large body, refused part way
        c.put_object(s3_bucket, "x", os.urandom(4 * MiB))


def test_missing_bucket(client, s3_server):
    for call in (lambda: client.head_bucket("no-such-bucket"),
                 lambda: client.put_object("no-such-bucket", "k", b"1"),
                 lambda: list(client.list_objects("no-such-bucket")),
                 lambda: client.create_multipart_upload("no-such-bucket", "k")):
        with pytest.raises(NoSuchBucket) as ei:
            call()
        assert isinstance(ei.value, UserFacingError)
        assert ei.value.message == (
            f"The bucket 'no-such-bucket' does not exist at {s3_server.endpoint_url}; check the "
            "bucket name in the configuration.")


def test_unreachable_port():
    port = free_port()
    c = S3Client(f"http://127.0.0.1:{port}", credentials=Credentials("AK", "SK"))
    with pytest.raises(UnreachableError) as ei:
        c.head_bucket("b")
    assert "connection refused" in ei.value.message
    assert isinstance(ei.value, TransientError) and isinstance(ei.value, UserFacingError)


# ---------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datauploader test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, tls_files):
    server = RcloneS3Server(tmp_path_factory.mktemp("s3tls") / "root", cert=tls_files[0],
                            key=tls_files[1]).start()
    yield server
    server.stop()


def test_https_with_ca_bundle(tls_server, tls_files):
    creds = Credentials(tls_server.access_key, tls_server.secret_key)
    c = S3Client(tls_server.endpoint_url, credentials=creds, ca_bundle=tls_files[0])
    put(c, tls_server.bucket, "over tls", b"secret data")
    for _ in range(3):
        assert c.head_object(tls_server.bucket, "over tls").size == 11
    assert len(c._all_conns) == 1  # kept alive over TLS too
    assert get_all(c, tls_server.bucket, "over tls")[0] == b"secret data"
    c.close()

    c = S3Client(tls_server.endpoint_url, credentials=creds, verify_tls=False)
    assert c.head_object(tls_server.bucket, "over tls").size == 11
    c.close()


def test_https_unknown_certificate(tls_server):
    c = S3Client(tls_server.endpoint_url,
                 credentials=Credentials(tls_server.access_key, tls_server.secret_key))
    with pytest.raises(TLSCertificateError) as ei:
        c.head_bucket(tls_server.bucket)
    assert isinstance(ei.value, UserFacingError)
    assert "could not be verified" in ei.value.message and "ca_bundle" in ei.value.message


# ---------------------------------------------------------------------------------------------
# Error paths and connection handling against a scripted server


class ScriptedServer(socketserver.ThreadingTCPServer):
    """Answers each request with the next scripted action:
    ("respond", status, headers, body) | ("respond_close", ...) answer, then close the
    connection (without saying so) | ("hangup",) close without answering |
    ("stall",) wait (until the test ends) without answering. Default: 200, no body."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script: list[tuple] = []
        self.requests: list[tuple[str, dict, bytes]] = []
        self.connections = 0
        self.release = threading.Event()
        self.closed = threading.Event()
        self.clients: list[S3Client] = []

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.closed.set()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ScriptedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        srv: ScriptedServer = self.server
        srv.connections += 1
        while True:
            line = self.rfile.readline()
            if not line:
                return
            headers = {}
            while True:
                h = self.rfile.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", 0))
            body = self.rfile.read(n) if n else b""
            srv.requests.append((line.decode("latin-1").strip(), headers, body))
            action = srv.script.pop(0) if srv.script else ("respond", 200, {}, b"")
            if action[0] == "hangup":
                return
            if action[0] == "stall":
                srv.release.wait(30)
                return
            _, status, hdrs, rbody = action
            head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in hdrs.items())
            if not line.startswith(b"HEAD"):
                head += f"Content-Length: {len(rbody)}\r\n"
            self.wfile.write(head.encode() + b"\r\n" + (b"" if line.startswith(b"HEAD") else rbody))
            self.wfile.flush()
            if action[0] == "respond_close":
                return


@pytest.fixture
def scripted():
    srv = ScriptedServer()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    t.start()
    yield srv
    srv.release.set()
    for c in srv.clients:
        c.close()
    srv.shutdown()
    srv.server_close()


def scripted_client(srv, **kw):
    c = S3Client(srv.url, credentials=Credentials("AKID", "SECRET", kw.pop("token", None)), **kw)
    srv.clients.append(c)
    return c


def xml_error(code, message="msg"):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f'<Message>{message}</Message><RequestId>RID123</RequestId></Error>').encode()


def test_request_headers_on_the_wire(scripted):
    c = scripted_client(scripted, token="TOKEN/xyz=")
    scripted.script = [("respond", 200, {"ETag": '"abc"'}, b"")]
    r = c.put_object("bucket", "dir/a b+c", b"data", content_md5_b64="bWQ1", payload_sha256="f" * 64,
                     metadata={"Sha256": "x"})
    assert r.etag == "abc"
    line, h, body = scripted.requests[-1]
    assert line == "PUT /bucket/dir/a%20b%2Bc HTTP/1.1"
    assert body == b"data"
    assert h["host"] == scripted.url[len("http://"):]
    assert h["content-length"] == "4"
    assert h["content-md5"] == "bWQ1"
    assert h["if-none-match"] == "*"
    assert h["x-amz-meta-sha256"] == "x"
    assert h["x-amz-content-sha256"] == "f" * 64
    assert h["x-amz-security-token"] == "TOKEN/xyz="
    assert "x-amz-security-token" in h["authorization"] and "SECRET" not in str(h)
    assert "accept-encoding" not in h

    scripted.script = [("respond", 200, {"ETag": '"abc"'}, b"")]
    c.put_object("bucket", "k", b"", if_none_match=False)
    line, h, body = scripted.requests[-1]
    assert "if-none-match" not in h and h["content-length"] == "0"
    assert h["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"


def test_stale_connection_is_retried_once(scripted):
    c = scripted_client(scripted)
    scripted.script = [("respond", 200, {}, b""), ("hangup",), ("respond", 200, {}, b"")]
    c.head_bucket("b")
    c.head_bucket("b")  # the server drops the reused connection: sent again on a new one
    assert len(scripted.requests) == 3 and scripted.connections == 2


def test_hangup_on_a_fresh_connection_is_not_retried(scripted):
    c = scripted_client(scripted)
    scripted.script = [("hangup",), ("respond", 200, {}, b"")]
    with pytest.raises(UnreachableError) as ei:
        c.head_bucket("b")
    assert "closed the connection" in ei.value.message
    assert len(scripted.requests) == 1


def test_server_closing_an_idle_connection_is_noticed(scripted):
    c = scripted_client(scripted)
    scripted.script = [("respond_close", 200, {}, b"")]
    c.head_bucket("b")
    assert scripted.closed.wait(5)  # the server closed its end of the idle connection
    (conn,) = c._all_conns
    assert peer_closed(conn.sock)
    c.head_bucket("b")  # replaced before sending: nothing is lost, nothing is sent twice
    assert len(scripted.requests) == 2 and scripted.connections == 2


def test_timeout_is_unreachable(scripted):
    c = scripted_client(scripted, read_timeout=0.3)
    scripted.script = [("stall",)]
    with pytest.raises(UnreachableError) as ei:
        c.head_bucket("b")
    assert "no answer within 0.3 seconds" in ei.value.message


@pytest.mark.parametrize("status, headers, body, cls, check", [
    (503, {"Retry-After": "7"}, xml_error("SlowDown", "Reduce your request rate."),
     S3TransientError, lambda e: e.retry_after == 7 and e.code == "SlowDown"),
    (500, {}, b"<html>upstream gone</html>", S3TransientError,
     lambda e: "upstream gone" in e.message and e.code is None),
    (502, {}, b"Bad gateway", S3TransientError, lambda e: "Bad gateway" in e.message),
    (429, {}, b"", S3TransientError, lambda e: e.status == 429),
    (400, {}, xml_error("RequestTimeout"), S3TransientError, lambda e: e.request_id == "RID123"),
    (507, {}, b"", S3StorageFull, lambda e: isinstance(e, StorageFullError)),
    (400, {}, xml_error("EntityTooLarge"), S3StorageFull, lambda e: classify(e) == "file"),
    (412, {}, xml_error("PreconditionFailed"), PreconditionFailed, lambda e: e.status == 412),
    (403, {}, xml_error("ExpiredToken"), S3AuthError, lambda e: "expired" in e.message),
    (403, {}, xml_error("AccessDenied"), S3PermissionDenied,
     lambda e: isinstance(e, PermissionDeniedError) and classify(e) == "auth"),
    (403, {}, xml_error("RequestTimeTooSkewed"), ClockSkewError,
     lambda e: "clock" in e.message and classify(e) == "fatal"),
    (400, {}, xml_error("AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong"),
     WrongRegion, lambda e: isinstance(e, UsageError) and "region" in e.message),
    (409, {}, xml_error("BucketNotEmpty", "The bucket you tried to delete is not empty"),
     S3Error, lambda e: type(e) is S3Error and "BucketNotEmpty" in e.message),
    (400, {}, b"\x00\xffnot xml", S3Error, lambda e: e.status == 400),
])
def test_error_mapping(scripted, status, headers, body, cls, check):
    c = scripted_client(scripted)
    scripted.script = [("respond", status, headers, body)]
    with pytest.raises(cls) as ei:
        c.put_object("bucket", "key", b"x")
    assert check(ei.value), ei.value
    assert "SECRET" not in ei.value.message
    scripted.script = [("respond", 200, {"ETag": '"e"'}, b"")]
    assert c.put_object("bucket", "key", b"x").etag == "e"  # the connection is reused
    assert scripted.connections == 1


def test_complete_multipart_error_in_a_200_answer(scripted):
    c = scripted_client(scripted)
    scripted.script = [("respond", 200, {}, b"\n\n  " + xml_error("InternalError", "retry me"))]
    with pytest.raises(S3TransientError) as ei:
        c.complete_multipart_upload("b", "k", "UPID", [(1, '"e1"'), (2, "e2")])
    assert ei.value.code == "InternalError"
    line, h, body = scripted.requests[-1]
    assert line == "POST /b/k?uploadId=UPID HTTP/1.1"
    assert body == (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag>'
                    b'</Part><Part><PartNumber>2</PartNumber><ETag>"e2"</ETag></Part>'
                    b'</CompleteMultipartUpload>')
    assert h["x-amz-content-sha256"] == sha256_hex(body) and h["if-none-match"] == "*"

    scripted.script = [("respond", 200, {}, b'<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>"abc-2"</ETag></CompleteMultipartUploadResult>')]
    assert c.complete_multipart_upload("b", "k", "UPID", [(1, "e1")], if_none_match=False) == "abc-2"
    assert "if-none-match" not in scripted.requests[-1][1]
