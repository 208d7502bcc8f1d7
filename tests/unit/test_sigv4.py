"""Our SigV4 signer against botocore's ``S3SigV4Auth``, the reference implementation."""

from __future__ import annotations

import datetime
import hashlib
import re
from types import SimpleNamespace
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.utils import percent_encode

from datauploader.storage.s3 import sigv4
from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import Credentials
from datauploader.storage.s3.sigv4 import (EMPTY_SHA256, UNSIGNED_PAYLOAD, SigV4Signer, encode_path,
                                           encode_query)

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLE//////////wEaDOm+token=="
DATE = "20240229T235959Z"
DATE_DT = datetime.datetime(2024, 2, 29, 23, 59, 59)

TRICKY_KEYS = [
    "plain.txt",
    "dir/sub dir/file with spaces.dat",
    "unicodé/日本語/ñ.txt",
    "hash#fragment",
    "percent%20not-a-space%",
    "question?mark=1&and=2",
    "plus+sign",
    "amp&eq=",
    "~tilde_under-dash.dot",
    "a//double/./dot/../segments",
    "star*quote'paren()!comma,semicolon;colon:at@dollar$",
    "brackets[]{}<>|\\^`\"",
    "tab\tand\nnewline",
]

QUERIES = [
    None,
    {"uploads": ""},
    {"list-type": "2", "encoding-type": "url", "prefix": "dir/sub dir/ü+&=#?"},
    {"partNumber": "10", "uploadId": "2~abc_DEF-ghi.jkl/mno+pqr=="},
    {"continuation-token": "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", "list-type": "2"},
    {"uploadId": "x", "part-number-marker": "3"},
    {"b": "2", "a": "1", "A": "0", "a-b": "", "a_b": "~"},
]


def botocore_authorization(method, url, headers, body=b"", params=None, token=None,
                           region="us-east-1", unsigned=False):
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body,
                         params=params or {})
    if unsigned:
        request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    signer = S3SigV4Auth(BotoCredentials(AK, SK, token), "s3", region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=DATE_DT):
        signer.add_auth(request)
    return request.headers


def ours(method, host, path, params, headers, payload_hash, token=None, region="us-east-1"):
    h = {"host": host}
    h.update({k.lower(): v for k, v in headers.items()})
    SigV4Signer(region).sign(method, path, encode_query(params), h, payload_hash, AK, SK,
                             token, date=DATE)
    return h


def signature(auth: str) -> str:
    return re.search(r"Signature=([0-9a-f]{64})$", auth).group(1)


# ---- encoding


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_path_encoding_matches_botocore_serializer(key):
    # botocore's REST serializer encodes {Key+} with percent_encode(safe='/~').
    assert encode_path("/bucket/" + key) == "/bucket/" + percent_encode(key, safe="/~")


def test_path_encoding_is_single_and_unnormalised():
    assert encode_path("/b/a b%20c") == "/b/a%20b%2520c"  # '%' itself encoded: no double meaning
    assert encode_path("/b/./x/../y//z") == "/b/./x/../y//z"  # S3 does not normalise
    assert encode_path("/b/é") == "/b/%C3%A9"  # UTF-8
    assert encode_path("/b/a+b=c&d") == "/b/a%2Bb%3Dc%26d"


def test_query_encoding():
    assert encode_query({"uploads": ""}) == "uploads="
    assert encode_query({"prefix": "a b/c", "list-type": "2"}) == "list-type=2&prefix=a%20b%2Fc"
    assert encode_query(None) == ""
    # sorted by encoded name: upper case before lower case, '-' before '_'
    assert encode_query({"b": "1", "a": "2", "A": "3", "a_b": "4", "a-b": "5"}) == \
        "A=3&a=2&a-b=5&a_b=4&b=1"


# ---- signatures against botocore


@pytest.mark.parametrize("key", TRICKY_KEYS)
@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE"])
def test_signature_matches_botocore_for_tricky_keys(method, key):
    path = encode_path("/my-bucket/" + key)
    body = b"hello world" if method == "PUT" else b""
    payload = hashlib.sha256(body).hexdigest()
    headers = {"Content-Type": "application/octet-stream"} if method == "PUT" else {}
    ref = botocore_authorization(method, "http://127.0.0.1:9000" + path, headers, body)
    mine = ours(method, "127.0.0.1:9000", path, None, headers, payload)
    assert mine["authorization"] == ref["Authorization"]
    assert mine["x-amz-content-sha256"] == ref["X-Amz-Content-SHA256"] == payload
    assert mine["x-amz-date"] == DATE


@pytest.mark.parametrize("params", QUERIES)
def test_signature_matches_botocore_for_query_strings(params):
    path = encode_path("/bucket/dir/obj ü.bin")
    ref = botocore_authorization("POST", "https://s3.example.org" + path, {}, b"", params=params)
    mine = ours("POST", "s3.example.org", path, params, {}, EMPTY_SHA256)
    assert mine["authorization"] == ref["Authorization"]


def test_signature_with_all_signed_headers_token_and_region():
    path = encode_path("/bucket/k")
    body = b"x" * 100
    headers = {
        "Content-MD5": "ZajifYh5KDgxtmS9i38K1A==",
        "Content-Type": "application/octet-stream",
        "If-None-Match": "*",
        "x-amz-meta-sha256": "abc",
        "x-amz-meta-note": "  several   spaces  inside  ",
    }
    ref = botocore_authorization("PUT", "https://s3.eu-west-3.example.org:8443" + path,
                                 headers, body, token=TOKEN, region="eu-west-3")
    mine = ours("PUT", "s3.eu-west-3.example.org:8443", path, None, headers,
                hashlib.sha256(body).hexdigest(), token=TOKEN, region="eu-west-3")
    assert mine["x-amz-security-token"] == TOKEN
    assert mine["authorization"] == ref["Authorization"]
    assert "SignedHeaders=content-md5;content-type;host;if-none-match;x-amz-content-sha256;" \
           "x-amz-date;x-amz-meta-note;x-amz-meta-sha256;x-amz-security-token," \
           in mine["authorization"]
    assert "/20240229/eu-west-3/s3/aws4_request," in mine["authorization"]


def test_unsigned_payload_matches_botocore():
    path = encode_path("/bucket/big file")
    headers = {"Content-Type": "application/octet-stream"}
    ref = botocore_authorization("PUT", "https://s3.example.org" + path, headers, b"data",
                                 unsigned=True)
    assert ref["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    mine = ours("PUT", "s3.example.org", path, None, headers, UNSIGNED_PAYLOAD)
    assert mine["authorization"] == ref["Authorization"]


def test_unsigned_headers_are_left_out():
    h = {"host": "h", "content-length": "5", "user-agent": "x", "range": "bytes=0-1",
         "x-amz-meta-a": "b"}
    SigV4Signer().sign("GET", "/b/k", "", h, EMPTY_SHA256, AK, SK, date=DATE)
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a," in h["authorization"]
    assert "x-amz-security-token" not in h  # no token, no header


def test_default_date_is_now():
    h = {"host": "h"}
    SigV4Signer().sign("GET", "/", "", h, EMPTY_SHA256, AK, SK)
    now = datetime.datetime.now(datetime.timezone.utc)
    signed = datetime.datetime.strptime(h["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((now - signed).total_seconds()) < 5


# ---- signing key


def test_signing_key_matches_aws_documented_example():
    # "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference)
    signer = SigV4Signer("us-east-1", "iam")
    key = signer.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_is_cached_per_secret_and_date():
    signer = SigV4Signer("us-east-1")
    calls = []
    real = sigv4.hmac.digest

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    with mock.patch.object(sigv4.hmac, "digest", counting):
        k1 = signer.signing_key(SK, "20240101")
        assert len(calls) == 4  # kDate, kRegion, kService, kSigning
        assert signer.signing_key(SK, "20240101") is k1
        for _ in range(10):
            h = {"host": "h"}
            signer.sign("GET", "/", "", h, EMPTY_SHA256, AK, SK, date="20240101T120000Z")
        assert len(calls) == 4  # no new derivation
        k2 = signer.signing_key(SK, "20240102")  # another day
        k3 = signer.signing_key(SK + "x", "20240101")  # rotated secret
        assert len(calls) == 12
        assert len({k1, k2, k3}) == 3
    # the region is part of the key (one signer per region)
    assert SigV4Signer("eu-west-1").signing_key(SK, "20240101") != k1


def test_signing_key_cache_is_bounded():
    signer = SigV4Signer()
    for day in range(1, 29):
        signer.signing_key(SK, f"202402{day:02d}")
    assert len(signer._keys) <= SigV4Signer._MAX_CACHED_KEYS


# ---- what the client puts on the wire: Host header and path (part of the signature)


@pytest.mark.parametrize("endpoint, bucket, style, host, hosthdr, prefix", [
    ("http://127.0.0.1:9000", "my-bucket", "auto", "127.0.0.1", "127.0.0.1:9000", "/my-bucket"),
    ("http://localhost:9000/", "my-bucket", "auto", "localhost", "localhost:9000", "/my-bucket"),
    ("http://[::1]:9000", "my-bucket", "auto", "::1", "[::1]:9000", "/my-bucket"),
    ("https://s3.example.org", "my-bucket", "auto", "my-bucket.s3.example.org",
     "my-bucket.s3.example.org", ""),
    ("https://s3.example.org:443", "my.dotted.bucket", "auto", "s3.example.org",
     "s3.example.org", "/my.dotted.bucket"),
    ("https://s3.example.org:8443", "my-bucket", "path", "s3.example.org",
     "s3.example.org:8443", "/my-bucket"),
    ("http://s3.example.org:80/base/", "my-bucket", "path", "s3.example.org",
     "s3.example.org", "/base/my-bucket"),
    ("http://s3.example.org", "Upper_Case", "auto", "s3.example.org", "s3.example.org",
     "/Upper_Case"),
])
def test_client_targets(endpoint, bucket, style, host, hosthdr, prefix):
    client = S3Client(endpoint, credentials=Credentials(AK, SK), addressing_style=style)
    assert client._target(bucket) == (host, hosthdr, prefix)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "https://s3.example.org",
                                      "https://s3.example.org:443", "http://[::1]:9000"])
def test_client_host_header_matches_botocore(endpoint):
    client = S3Client(endpoint, credentials=Credentials(AK, SK), addressing_style="path")
    _, hosthdr, prefix = client._target("bucket")
    path = encode_path(prefix + "/key")
    ref = botocore_authorization("GET", client.endpoint_url + path, {})
    mine = ours("GET", hosthdr, path, None, {}, EMPTY_SHA256)
    assert mine["authorization"] == ref["Authorization"]


def test_credentials_repr_hides_the_secret():
    c = Credentials(AK, SK, TOKEN)
    assert SK not in repr(c) and TOKEN not in repr(c) and AK in repr(c)
