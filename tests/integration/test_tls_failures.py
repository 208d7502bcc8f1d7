"""One wording of TLS failures (datauploader.net.tls) for the S3 and WebDAV clients and the
catalogues' web client, against a real TLS server on loopback: a certificate from an unknown
authority, one for another host name, an expired one, and an https:// address of a server
that speaks plain http."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socketserver
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from datauploader.errors import UserFacingError
from datauploader.net.tls import TLSCertificateError, TLSError
from datauploader.net.webclient import WebClient
from datauploader.storage.s3.client import S3Client
from datauploader.storage.s3.credentials import Credentials
from datauploader.storage.webdav.backend import WebDAVStorage

pytestmark = pytest.mark.integration


def make_cert(tmp_path, name: str, *, names: list, days: tuple = (-1, 1)):
    """A self-signed CA certificate valid for ``names``, from now+days[0] to now+days[1]."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - (never reached: every handshake here fails)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cert_key=None):
        super().__init__(("127.0.0.1", 0), _Quiet)
        self.context = None
        if cert_key:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*cert_key)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def get_request(self):
        sock, addr = super().get_request()
        if self.context is not None:
            sock.settimeout(5)
            try:
                sock = self.context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                pass  # the client refused the handshake, as it should
        return sock, addr

    def handle_error(self, request, client_address):
        pass

    @property
    def port(self):
        return self.server_address[1]


@pytest.fixture
def serve():
    servers = []

    def start(cert_key=None) -> Server:
        servers.append(Server(cert_key))
        return servers[-1]

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def failures(url: str, ca_bundle: str | None) -> list[UserFacingError]:
    """The error each client raises for ``url``."""
    out = []
    calls = (
        lambda: S3Client(url, credentials=Credentials("AK", "SK"),
                         ca_bundle=ca_bundle).head_bucket("bucket"),
        lambda: WebDAVStorage(url + "/dav", auth="none", ca_bundle=ca_bundle or "",
                              storage_name="dav").check(),
        lambda: WebClient(url, verify=ca_bundle or True, what="ICAT").request("GET", "/"),
    )
    for call in calls:
        with pytest.raises(UserFacingError) as ei:
            call()
        out.append(ei.value)
    return out


def test_unknown_authority(serve, tmp_path):
    srv = serve(make_cert(tmp_path, "own-ca", names=[x509.IPAddress(
        ipaddress.ip_address("127.0.0.1"))]))
    s3, dav, web = failures(f"https://127.0.0.1:{srv.port}", None)
    for e in (s3, dav, web):
        assert "could not be verified" in e.message and "ca_bundle" in e.message, e.message
    assert isinstance(s3, TLSCertificateError) and isinstance(dav, TLSCertificateError)
    assert "[storage:dav]" in dav.message
    assert s3.message.startswith(f"The certificate of the S3 server at https://127.0.0.1:{srv.port}")


def test_certificate_for_another_host_name(serve, tmp_path):
    cert_key = make_cert(tmp_path, "other", names=[x509.DNSName("other.example")])
    srv = serve(cert_key)
    for e in failures(f"https://127.0.0.1:{srv.port}", cert_key[0]):
        assert isinstance(e, TLSCertificateError)
        assert "issued for another host name" in e.message, e.message


def test_expired_certificate(serve, tmp_path):
    cert_key = make_cert(tmp_path, "old", names=[x509.IPAddress(
        ipaddress.ip_address("127.0.0.1"))], days=(-30, -1))
    srv = serve(cert_key)
    for e in failures(f"https://127.0.0.1:{srv.port}", cert_key[0]):
        assert isinstance(e, TLSCertificateError)
        assert "has expired or is not valid yet" in e.message, e.message


def test_https_to_a_plain_http_server(serve):
    srv = serve()
    s3, dav, web = failures(f"https://127.0.0.1:{srv.port}", None)
    for e in (s3, dav, web):
        assert isinstance(e, TLSError) and not isinstance(e, TLSCertificateError)
        assert "does not speak TLS" in e.message and "http://" in e.message, e.message


def test_unreadable_ca_bundle(tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(TLSError) as ei:
        S3Client("https://127.0.0.1:1", credentials=Credentials("AK", "SK"), ca_bundle=missing)
    assert ei.value.message.startswith(f"The CA bundle {missing} could not be read")


@pytest.mark.parametrize("variable,kind", [
    ("AWS_CA_BUNDLE", "s3"), ("REQUESTS_CA_BUNDLE", "s3"), ("REQUESTS_CA_BUNDLE", "webdav"),
    ("SSL_CERT_FILE", "webdav"),
])
def test_the_ca_bundle_the_environment_names_is_used(serve, tmp_path, variable, kind):
    """No ca_bundle configured: the one the operator's other tools use (AWS_CA_BUNDLE for S3,
    REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE) is trusted, as they would."""
    from datauploader.app.paths import resolve
    from datauploader.app.service import Service

    cert_key = make_cert(tmp_path, "own-ca", names=[x509.IPAddress(
        ipaddress.ip_address("127.0.0.1"))])
    srv = serve(cert_key)
    url = f"https://127.0.0.1:{srv.port}"
    section = (f"type = s3\nendpoint_url = {url}\nbucket = b\n" if kind == "s3" else
               f"type = webdav\nurl = {url}/dav\nauth = none\n")
    cfg = tmp_path / "site.ini"
    cfg.write_text(f"[settings]\ndefault_profile = p\nretries = 1\n[profile:p]\ncatalogue = "
                   f"local\nstorage = st\n[storage:st]\n{section}")
    base = {"DATAUPLOADER_HOME": str(tmp_path / "home"),
            "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"),
            "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
    for env, verified in (({}, False), ({variable: cert_key[0]}, True)):
        service = Service.open(resolve({**base, **env}), [str(cfg)], {**base, **env})
        try:
            with pytest.raises(Exception) as ei:  # noqa: B017 - any answer but TLS's
                service.storage("p").check()
        finally:
            service.close()
        # trusted: the handshake passes and the (non-S3, non-WebDAV) server's answer fails
        assert isinstance(ei.value, TLSCertificateError) is not verified, ei.value
