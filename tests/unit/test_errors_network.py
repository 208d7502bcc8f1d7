"""One wording for servers that cannot be reached, whatever the backend."""

import http.client
import socket

from datauploader.errors import ExitCode, UnreachableError, network_reason, unreachable


def test_reasons_in_plain_words():
    assert network_reason(socket.gaierror(-2, "Name or service not known"), "dav.example") == \
        "the host name dav.example could not be resolved"
    assert network_reason(ConnectionRefusedError(111, "Connection refused")) == \
        "connection refused"
    assert network_reason(TimeoutError()) == "no answer in time"
    assert network_reason(http.client.RemoteDisconnected("x")) == \
        "the server closed the connection"
    assert network_reason(EOFError()) == "the server closed the connection"
    assert network_reason(ConnectionResetError(104, "Connection reset by peer")) == \
        "the connection was reset"
    assert network_reason(OSError(101, "Network is unreachable")) == "network is unreachable"


def test_connecting_or_dropped():
    e = unreachable("the WebDAV server at https://dav.example", ConnectionRefusedError(111, "x"),
                    connecting=True)
    assert isinstance(e, UnreachableError) and e.exit_code == ExitCode.UNREACHABLE
    assert str(e).startswith("Cannot reach the WebDAV server at https://dav.example: "
                             "connection refused. Check the address")
    assert "resumed" in str(e) and e.details.startswith("ConnectionRefusedError")
    e = unreachable("the SFTP server h:22", EOFError(), connecting=False, reason="gone")
    assert str(e).startswith("The connection to the SFTP server h:22 failed: gone. The transfer "
                             "can be retried")
