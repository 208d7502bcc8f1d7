"""The fault-injecting proxy itself (tests/servers/fault_proxy.py), against real servers: a
small recording HTTP server on loopback, ``rclone serve s3`` with boto3, ``rclone serve sftp``
with paramiko. Each fault does what it says and nothing else: requests on one kept-alive
connection are taken one by one, bytes pass unchanged unless a fault changes them, and every
wait is bounded."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import paramiko
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import Credentials
from tests.servers.fault_proxy import Fault, FaultProxy
from tests.servers.loopback import free_port, wait_until
from tests.servers.rclone_sftp import rclone_sftp_server  # noqa: F401
from tests.servers.rclone_webdav import webdav_server  # noqa: F401

pytestmark = pytest.mark.integration


# -- a small HTTP server that records exactly what reached it ------------------------------
def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


class Recorder(BaseHTTPRequestHandler):
    """GET /bytes/N: N pattern bytes (Content-Length); GET /chunked/N: the same, chunked.
    PUT/POST: the body is recorded as it arrived on the wire (chunked framing included) and
    its size answered."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        kind, n = self.path.strip("/").split("/")
        body = pattern(int(n))
        self.send_response(200)
        if kind == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_PUT(self):
        raw, complete = bytearray(), False
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    line = self.rfile.readline()
                    raw += line
                    if not line.endswith(b"\r\n"):
                        break
                    size = int(line.split(b";")[0], 16)
                    if size == 0:
                        while (line := self.rfile.readline()) not in (b"\r\n", b""):
                            raw += line
                        raw += line
                        complete = line == b"\r\n"
                        break
                    raw += self.rfile.read(size + 2)
            else:
                n = int(self.headers.get("Content-Length", 0))
                while len(raw) < n and (piece := self.rfile.read1(n - len(raw))):
                    raw += piece
                complete = len(raw) == n
        except OSError:
            pass
        self.server.received.append((self.command, self.path, dict(self.headers), bytes(raw),
                                     complete))
        if complete:
            answer = str(len(raw)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        else:
            self.close_connection = True

    do_POST = do_PUT


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a connection the proxy broke on purpose: the record says what arrived


@pytest.fixture
def recorder():
    server = RecordingServer(("127.0.0.1", 0), Recorder)
    server.received = []
    server.host, server.port = server.server_address
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def raw_exchange(proxy, data: bytes, *, until: bytes = b"", timeout: float = 5) -> bytes:
    """Send raw bytes to the proxy; read its answer until ``until`` was seen or it closed."""
    with socket.create_connection(proxy.address, timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while not (until and until in got):
            piece = s.recv(65536)
            if not piece:
                break
            got += piece
        return got


# -- HTTP mode, against the recording server -------------------------------------------------
def test_kept_alive_requests_are_taken_one_by_one(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    fault = proxy.inject(Fault.answer(500, "injected", request=3))
    with requests.Session() as s:
        answers = [s.put(f"{proxy.url}/put/{i}", data=pattern(100 + i)) for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 500, 200, 200]
    assert answers[2].text == "injected"
    assert proxy.connections == 1 and proxy.requests == 5 and fault.fired == 1
    assert [p for _, p, *_ in recorder.received] == ["/put/0", "/put/1", "/put/3", "/put/4"]
    assert all(body == pattern(len(body)) for *_, body, _ in recorder.received)
    assert [s.outcome for s in proxy.seen()] == ["forwarded"] * 2 + ["answered"] + ["forwarded"] * 2
    assert proxy.seen()[2].request_bytes == 102  # its body was read, so the connection went on


def test_targets_method_path_skip_and_times(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.answer(503, retry_after=2, method="PUT", path=r"^/b/", skip=1, times=2))
    with requests.Session() as s:
        codes = [s.put(f"{proxy.url}{p}", data=b"x").status_code
                 for p in ["/a/1", "/b/1", "/b/2", "/b/3", "/b/4"]]
        assert s.get(f"{proxy.url}/bytes/10").status_code == 200
        always = proxy.inject(Fault.answer(404, path="/never-there", times=None))
        assert [s.get(f"{proxy.url}/never-there").status_code for _ in range(3)] == [404] * 3
    assert codes == [200, 200, 503, 503, 200]
    assert proxy.seen(path="/b/2")[0].status == 503 and always.fired == 3
    proxy.clear()
    assert requests.get(f"{proxy.url}/bytes/5", timeout=5).content == pattern(5)


def test_s3_error_answer_with_retry_after(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.s3_error(503, "SlowDown", "Please reduce your request rate.",
                                retry_after=1, keep_alive=False))
    r = requests.put(f"{proxy.url}/k", data=b"abc", timeout=5)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.headers["Content-Type"] == "application/xml"
    assert "<Code>SlowDown</Code>" in r.text and r.headers["Connection"] == "close"
    assert recorder.received == []


def test_reset_before_forwarding_reaches_nothing(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.reset(method="PUT", times=2))
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/k", data=pattern(10), timeout=5)
    # a real RST (urllib3 may report it as a close: it ignores a failed send of the body)
    with socket.create_connection(proxy.address, timeout=5) as s:
        s.sendall(b"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        with pytest.raises(ConnectionResetError):
            s.recv(100)
    assert recorder.received == [] and [s.outcome for s in proxy.seen()] == ["reset"] * 2


def test_reset_mid_request_body_leaves_the_server_a_short_body(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.reset(at=30000))
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/k", data=pattern(1 << 20), timeout=5)
    wait_until(lambda: recorder.received, 5, "the server to give up on the body")
    (_, _, _, body, complete), = recorder.received
    assert not complete and body == pattern(len(body)) and len(body) <= 30000
    assert proxy.seen()[0].request_bytes == 30000 and proxy.seen()[0].outcome == "reset"


def test_reset_and_close_mid_response(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.reset(phase="response", at=5000),
                 Fault.close(phase="response", at=2500, path="chunked"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as err:
        requests.get(f"{proxy.url}/bytes/100000", timeout=5)
    assert "reset" in str(err.value).lower()
    with socket.create_connection(proxy.address, timeout=5) as s:  # what the client got
        s.sendall(b"GET /chunked/9000 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while piece := s.recv(65536):
            got += piece
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    # two chunks of 1000 and half of the third: 2,500 body bytes, then a clean close
    assert body.replace(b"3e8\r\n", b"").replace(b"\r\n", b"") == pattern(2500)
    assert [s.outcome for s in proxy.seen()] == ["reset", "closed"]


def test_flipped_bit_in_request_and_response_bodies(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.flip(at=70000, bit=7, method="PUT"),
                 Fault.flip(at=3, phase="response", method="GET"))
    data = pattern(100000)
    assert requests.put(f"{proxy.url}/k", data=data, timeout=5).text == "100000"
    (_, _, _, stored, complete), = recorder.received
    assert complete and len(stored) == len(data)
    assert [i for i in range(len(data)) if stored[i] != data[i]] == [70000]
    assert stored[70000] == data[70000] ^ 0x80
    got = requests.get(f"{proxy.url}/bytes/10", timeout=5).content
    assert got == bytes([0, 1, 2, 3 ^ 1, 4, 5, 6, 7, 8, 9])


def test_strip_headers_and_flip_without_content_md5(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.flip(at=0, strip=("Content-MD5",)),
                 Fault.strip_headers("server", phase="response"))
    md5 = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    with requests.Session() as s:
        s.put(f"{proxy.url}/k", data=b"abc", headers={"Content-MD5": md5, "X-Other": "1"})
        r = s.get(f"{proxy.url}/bytes/3")
    (_, _, headers, body, _), = recorder.received
    assert body == b"`bc" and "Content-MD5" not in headers and headers["X-Other"] == "1"
    assert "Server" not in r.headers and "Date" in r.headers and r.content == pattern(3)


def test_chunked_and_aws_chunked_bodies_pass_unchanged(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    # HTTP chunked framing with an extension and a trailer, byte for byte
    chunked = (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n")
    head = b"PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_exchange(proxy, head + chunked, until=b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    # an aws-chunked body (SigV4 streaming) is body to HTTP: through unchanged
    aws = (b"400;chunk-signature=" + b"0" * 64 + b"\r\n" + pattern(1024) + b"\r\n"
           b"0;chunk-signature=" + b"1" * 64 + b"\r\n\r\n")
    head = (b"PUT /aws HTTP/1.1\r\nHost: x\r\nContent-Encoding: aws-chunked\r\n"
            b"x-amz-decoded-content-length: 1024\r\n"
            b"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n"
            b"Content-Length: %d\r\n\r\n" % len(aws))
    assert raw_exchange(proxy, head + aws, until=b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    # a flip in a chunked body counts body bytes, not framing
    proxy.inject(Fault.flip(at=7, bit=5))
    raw_exchange(proxy, b"PUT /flip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + chunked, until=b"\r\n\r\n")
    bodies = {path: body for _, path, _, body, _ in recorder.received}
    assert bodies["/chunked"] == chunked and bodies["/aws"] == aws
    assert bodies["/flip"] == chunked.replace(b" world", b" wOrld")
    assert proxy.seen(path="/aws")[0].request_bytes == len(aws)


def test_stall_trips_the_client_timeout_and_the_proxy_lets_go(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.stall(method="PUT"))
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.put(f"{proxy.url}/k", data=pattern(5000), timeout=(2, 0.4))
    assert time.monotonic() - start < 2
    assert recorder.received == []  # read from the client, never forwarded
    wait_until(lambda: proxy.open_connections == 0, 5, "the stalled connection to end")
    assert proxy.seen()[0].outcome == "stalled" and proxy.seen()[0].status is None


def test_stall_after_n_bytes_and_timed_stall(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.stall(phase="response", at=1000, path="/bytes/5000"),
                 Fault.stall(phase="response", seconds=0.3, path="/bytes/20"))
    got = bytearray()
    with pytest.raises(requests.ConnectionError):  # urllib3 wraps the read timeout
        with requests.get(f"{proxy.url}/bytes/5000", timeout=(2, 0.4), stream=True) as r:
            for piece in r.iter_content(100):
                got += piece
    assert bytes(got) == pattern(1000)
    start = time.monotonic()
    assert requests.get(f"{proxy.url}/bytes/20", timeout=5).content == pattern(20)
    assert 0.3 <= time.monotonic() - start < 2


def test_drip_feeds_the_response(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.drip(every=0.01, at=950))
    start = time.monotonic()
    assert requests.get(f"{proxy.url}/bytes/1000", timeout=5).content == pattern(1000)
    assert time.monotonic() - start >= 50 * 0.01
    # from the first byte of the head on (at=None): 16 bytes at a time
    proxy.inject(Fault.drip(every=0.02, chunk=16))
    start = time.monotonic()
    with socket.create_connection(proxy.address, timeout=5) as s:
        s.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        pieces = []
        while piece := s.recv(65536):
            pieces.append(piece)
    answer = b"".join(pieces)
    assert answer.endswith(b"\r\n\r\n" + pattern(10))
    # 16 bytes per 0.02 s (a busy reader may get two drips in one recv, never all at once)
    assert len(pieces) > 1 and time.monotonic() - start >= (len(answer) // 16 - 1) * 0.02


def test_lose_answer_lets_the_server_finish(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.lose_answer(method="POST"), Fault.lose_answer(rst=True, method="PUT"))
    with pytest.raises(requests.ConnectionError) as err:
        requests.post(f"{proxy.url}/complete", data=b"<done/>", timeout=5)
    assert "without response" in str(err.value)
    with pytest.raises(requests.ConnectionError) as err:
        requests.put(f"{proxy.url}/k", data=b"abc", timeout=5)
    assert "reset" in str(err.value).lower()
    assert [(m, c) for m, _, _, _, c in recorder.received] == [("POST", True), ("PUT", True)]
    assert [(s.status, s.outcome) for s in proxy.seen()] == [(200, "answer lost")] * 2


def test_connect_phase_faults(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.reset(phase="connect", connection=2))
    assert requests.get(f"{proxy.url}/bytes/3", timeout=5).content == pattern(3)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proxy.url}/bytes/3", timeout=5)
    assert requests.get(f"{proxy.url}/bytes/3", timeout=5).content == pattern(3)
    assert proxy.connections == 3 and proxy.requests == 2


def test_a_server_closing_an_idle_connection_closes_the_clients(fault_proxy):
    class Impatient(Recorder):
        timeout = 0.2  # http.server closes a connection idle for that long

    server = RecordingServer(("127.0.0.1", 0), Impatient)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        proxy = fault_proxy(server.server_address)
        with socket.create_connection(proxy.address, timeout=5) as s:
            s.sendall(b"GET /bytes/4 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(pattern(4)):
                got += s.recv(1000)
            start = time.monotonic()
            assert s.recv(1000) == b""  # closed, as the server closed its side
            assert 0.1 < time.monotonic() - start < 3
        assert any("closed the kept-alive connection" in line for line in proxy.log)
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_server_is_a_reset_and_stop_ends_stalls(fault_proxy, recorder):
    proxy = fault_proxy(recorder)
    proxy.inject(Fault.stall(times=None))
    clients = [socket.create_connection(proxy.address, timeout=5) for _ in range(3)]
    for c in clients:
        c.sendall(b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: proxy.requests == 3, 5, "three stalled requests")
    start = time.monotonic()
    proxy.stop()
    assert time.monotonic() - start < 2 and proxy.open_connections == 0
    for c in clients:
        assert c.recv(10) == b""
        c.close()
    gone = FaultProxy(free_port()).start()  # nothing listens there
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{gone.url}/bytes/1", timeout=5)
        assert any("cannot be reached" in line for line in gone.log)
    finally:
        gone.stop()


# -- HTTP mode, against rclone serve s3 with boto3 --------------------------------------------
def s3_client(proxy, server, **config):
    return boto3.client(
        "s3", endpoint_url=proxy.url, region_name="us-east-1",
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required", **config))


def test_s3_flipped_bit_is_stored_without_content_md5(fault_proxy, s3_server, s3_bucket):
    proxy = fault_proxy(s3_server)
    s3 = s3_client(proxy, s3_server)
    data = os.urandom(5000)
    proxy.inject(Fault.flip(at=1234, bit=3, method="PUT", times=2))
    # a signed sha256 of the body does not save it: this server does not check it
    s3.put_object(Bucket=s3_bucket, Key="flipped", Body=data)
    stored = s3_server.path_of(s3_bucket, "flipped").read_bytes()
    assert stored != data and stored[1234] == data[1234] ^ 8
    assert stored[:1234] + stored[1235:] == data[:1234] + data[1235:]
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    with pytest.raises(ClientError) as err:  # with Content-MD5, the server refuses it
        s3.put_object(Bucket=s3_bucket, Key="checked", Body=data, ContentMD5=md5)
    assert err.value.response["Error"]["Code"] == "BadDigest"
    assert not s3_server.path_of(s3_bucket, "checked").exists()
    # the 100-continue hand-shake went through the proxy both times
    assert all(s.headers.get("expect") == "100-continue" for s in proxy.seen(method="PUT"))


def test_s3_lost_complete_multipart_answer_completes_on_the_server(fault_proxy, s3_server,
                                                                  s3_bucket):
    proxy = fault_proxy(s3_server)
    s3 = s3_client(proxy, s3_server)
    parts = [os.urandom(5 << 20), os.urandom(1000)]
    upload = s3.create_multipart_upload(Bucket=s3_bucket, Key="big")["UploadId"]
    etags = [s3.upload_part(Bucket=s3_bucket, Key="big", UploadId=upload, PartNumber=i + 1,
                            Body=p)["ETag"] for i, p in enumerate(parts)]
    lost = proxy.inject(Fault.lose_answer(method="POST", path=r"uploadId="))
    with pytest.raises(ConnectionClosedError):
        s3.complete_multipart_upload(
            Bucket=s3_bucket, Key="big", UploadId=upload,
            MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1}
                                       for i, e in enumerate(etags)]})
    assert lost.fired == 1 and proxy.seen(method="POST")[-1].status == 200
    direct = s3_server.boto3_client()
    assert direct.head_object(Bucket=s3_bucket, Key="big")["ContentLength"] == sum(map(len, parts))
    assert s3_server.path_of(s3_bucket, "big").read_bytes() == b"".join(parts)


def test_s3_errors_stall_and_keep_alive_with_boto3(fault_proxy, s3_server, s3_bucket):
    proxy = fault_proxy(s3_server)
    s3 = s3_client(proxy, s3_server, read_timeout=0.5, connect_timeout=2)
    proxy.inject(Fault.s3_error(503, "SlowDown", retry_after=1, method="PUT", path="/one"),
                 Fault.s3_error(400, "InvalidDigest", "The Content-MD5 you specified was "
                                "invalid.", method="PUT", path="/two"))
    for key, code in [("one", "SlowDown"), ("two", "InvalidDigest")]:
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket=s3_bucket, Key=key, Body=b"abc")
        assert err.value.response["Error"]["Code"] == code
    for key in ("one", "two", "three"):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    assert proxy.connections == 1 and proxy.requests == 5  # one kept-alive connection
    proxy.inject(Fault.stall(method="GET"))
    start = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        s3.get_object(Bucket=s3_bucket, Key="one")
    assert time.monotonic() - start < 3
    assert s3.get_object(Bucket=s3_bucket, Key="one")["Body"].read() == b"one"
    assert s3_server.path_of(s3_bucket, "two").read_bytes() == b"two"


def test_our_s3_client_passes_through_and_sees_the_stored_corruption(fault_proxy, s3_server,
                                                                     s3_bucket):
    proxy = fault_proxy(s3_server)
    client = S3Client(proxy.url, credentials=Credentials(s3_server.access_key,
                                                         s3_server.secret_key))
    try:
        bodies = {f"k{i}": os.urandom(1000 * i) for i in range(1, 6)}
        for key, body in bodies.items():
            client.put_object(s3_bucket, key, body)
        upload = client.create_multipart_upload(s3_bucket, "mp")
        parts = [os.urandom(5 << 20), os.urandom(777)]
        etags = [client.upload_part(s3_bucket, "mp", upload, i + 1, p)
                 for i, p in enumerate(parts)]
        client.complete_multipart_upload(s3_bucket, "mp", upload, [(1, etags[0]), (2, etags[1])])
        assert {o.key: o.size for o in client.list_objects(s3_bucket)} == {
            **{k: len(b) for k, b in bodies.items()}, "mp": sum(map(len, parts))}
        assert proxy.connections == 1  # one kept-alive connection, request after request
        # a flipped bit without Content-MD5: the server stores it and states its MD5 as ETag
        proxy.inject(Fault.flip(at=10, method="PUT"))
        data = os.urandom(3000)
        etag = client.put_object(s3_bucket, "flipped", data).etag
        stored = s3_server.path_of(s3_bucket, "flipped").read_bytes()
        assert stored != data and etag == hashlib.md5(stored).hexdigest()
    finally:
        client.close()
    for key, body in bodies.items():
        assert s3_server.path_of(s3_bucket, key).read_bytes() == body
    assert s3_server.path_of(s3_bucket, "mp").read_bytes() == b"".join(parts)


def test_webdav_move_through_the_proxy(fault_proxy, webdav_server):  # noqa: F811
    proxy = fault_proxy(webdav_server)
    auth = (webdav_server.user, webdav_server.password)
    with requests.Session() as s:
        s.auth = auth
        folder = f"proxy-{os.getpid()}-{time.monotonic_ns()}"
        assert s.request("MKCOL", f"{proxy.url}/{folder}/").status_code == 201
        assert s.put(f"{proxy.url}/{folder}/a.tmp", data=b"dav").status_code in (201, 204)
        moved = s.request("MOVE", f"{proxy.url}/{folder}/a.tmp",
                          headers={"Destination": f"{proxy.url}/{folder}/a", "Overwrite": "F"})
        assert moved.status_code in (201, 204)
    assert webdav_server.path_of(f"{folder}/a").read_bytes() == b"dav"
    assert proxy.connections == 1 and proxy.requests == 3


# -- TCP mode, against rclone serve sftp with paramiko ----------------------------------------
def sftp_session(proxy, server, timeout: float = 5) -> paramiko.Transport:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    t = paramiko.Transport(sock)
    t.banner_timeout = t.handshake_timeout = t.auth_timeout = timeout
    t.connect(username=server.user, password=server.password)
    return t


def test_tcp_mode_passes_ssh_and_breaks_it(fault_proxy, rclone_sftp_server):  # noqa: F811
    server = rclone_sftp_server
    proxy = fault_proxy(server, mode="tcp")
    data = os.urandom(200000)
    with sftp_session(proxy, server) as t:
        sftp = paramiko.SFTPClient.from_transport(t)
        sftp.putfo(io.BytesIO(data), "through-proxy.bin")
    assert server.path_of("through-proxy.bin").read_bytes() == data
    # a flipped bit mid-upload: the server's MAC check ends the session
    proxy.inject(Fault.flip(at=100000, phase="request"))
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        with sftp_session(proxy, server) as t:
            paramiko.SFTPClient.from_transport(t).putfo(io.BytesIO(data), "flipped.bin")
    # a reset after the server's first 3,000 bytes
    proxy.inject(Fault.reset(phase="response", at=3000))
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        with sftp_session(proxy, server) as t:
            paramiko.SFTPClient.from_transport(t).putfo(io.BytesIO(data), "reset.bin")
    # a stall after the server's banner: the client's hand-shake timeout ends it
    proxy.inject(Fault.stall(phase="response", at=10))
    start = time.monotonic()
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        sftp_session(proxy, server, timeout=0.5).close()
    assert time.monotonic() - start < 3
    assert proxy.connections == 4
    notes = [line.split(": ", 1)[1] for line in proxy.log]
    assert "flipped bit 0 of request byte 100000" in notes
    assert "reset after 3000 response bytes" in notes
    assert "stalled the response stream after 10 response bytes" in notes


def test_tcp_mode_drip_and_timed_stall(fault_proxy, recorder):
    proxy = fault_proxy(recorder, mode="tcp")
    proxy.inject(Fault.drip(every=0.02, chunk=100, phase="response", at=500))
    with socket.create_connection(proxy.address, timeout=5) as s:
        s.sendall(b"GET /bytes/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        start, got = time.monotonic(), b""
        while piece := s.recv(65536):
            got += piece
    assert got.endswith(b"\r\n\r\n" + pattern(1000))
    assert time.monotonic() - start >= (len(got) - 500) // 100 * 0.02
    # a stall of the client's stream for 0.3 s after 5 bytes, then it goes on
    proxy.inject(Fault.stall(phase="request", at=5, seconds=0.3))
    start = time.monotonic()
    assert requests.get(f"{proxy.url}/bytes/7", timeout=5).content == pattern(7)
    assert 0.3 <= time.monotonic() - start < 2
    assert proxy.connections == 2 and proxy.requests == 0  # TCP mode does not read HTTP
