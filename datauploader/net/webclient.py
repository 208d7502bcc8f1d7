"""One ``requests`` session per catalogue object: TLS verification on by default (or a CA
bundle), timeouts on every call, and network failures turned into our error classes.

Secrets never reach a message, a log line or the journal: ``redact`` removes them from URLs
and server messages before anything is raised (ICAT puts its session id in query strings and
echoes it in error messages, so this matters).
"""

from __future__ import annotations

import errno
import re
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from datauploader.errors import TransientError, UnreachableError, UserFacingError
from datauploader.net import tls
from datauploader.options import Option

#: (connect, read) seconds; a read timeout this long still lets a slow server answer a big batch
DEFAULT_TIMEOUT = (10.0, 120.0)

#: configuration keys every catalogue that speaks HTTP takes
HTTP_OPTIONS = (
    Option("ca_bundle", "PEM file of the certificate authorities to trust (default: the "
           "system's)", default=""),
    Option("verify_tls", "verify the server's TLS certificate", default=True, type=bool),
    Option("timeout", "seconds to wait for an answer", default=120.0, type=float),
)


def tls_verify(verify_tls: bool, ca_bundle: str) -> bool | str:
    """The ``verify`` argument for requests: a CA bundle path, True, or False (opt-in only)."""
    if not verify_tls:
        return False
    return ca_bundle or True


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (and any sessionId=/access_token= value) replaced by '…'."""
    for s in secrets:
        if s:
            text = text.replace(s, "…")
    return re.sub(r"(?i)((?:sessionId|access_token|token)=)[^&\s]+", r"\1…", text)


def where(url: str) -> str:
    """scheme://host[:port] of a URL: enough to say which server, never a query string."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class WebClient:
    """A requests.Session shared by the threads of one catalogue (urllib3's pool is
    thread-safe); ``request`` maps connection problems to UnreachableError/TransientError."""

    def __init__(self, base_url: str, *, verify: bool | str = True,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, pool_size: int = 16,
                 what: str = "the server"):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.what = what
        self.session = requests.Session()
        self.session.verify = verify
        self.session.trust_env = True  # proxies from the environment, as users expect
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path_or_url: str, *, secrets: tuple = (),
                **kw) -> requests.Response:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        kw.setdefault("timeout", self.timeout)
        # per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's
        # verify, which would drop a configured ca_bundle
        kw.setdefault("verify", self.session.verify)
        with network_errors(self.what, url, secrets):
            return self.session.request(method, url, **kw)

    def close(self) -> None:
        self.session.close()


@contextmanager
def network_errors(what: str, url: str, secrets: tuple = ()):
    """Connection problems of a requests call to ``url`` as our errors (shared with clients
    that drive their own requests session, such as the OAuth client of ``net.oidc``)."""
    try:
        yield
    except requests.exceptions.SSLError as e:
        found = tls.ssl_error_in(e)
        if found is not None:  # worded as for the storage backends
            err = tls.failure(found, f"{what} at {where(url)}", "the configuration")
            err.details = redact(str(e), *secrets)
            raise err from None
        raise UserFacingError(
            f"The TLS certificate of {where(url)} could not be verified. If the facility uses "
            "its own certificate authority, set 'ca_bundle' to its PEM file.",
            details=redact(str(e), *secrets)) from None
    except requests.exceptions.ConnectionError as e:
        if _refused(e):
            raise UnreachableError(
                f"{what} at {where(url)} refused the connection; check the address and "
                "that the service is running.", details=redact(str(e), *secrets)) from None
        raise TransientError(f"The connection to {what} at {where(url)} failed; it will "
                             "be retried.", details=redact(str(e), *secrets)) from None
    except requests.exceptions.Timeout as e:
        raise TransientError(f"{what} at {where(url)} did not answer in time; it will be "
                             "retried.", details=redact(str(e), *secrets)) from None


def _refused(e: BaseException) -> bool:
    """Connection refused or no such host: nothing listens there (retrying will not help soon)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ECONNREFUSED,):
            return True
        text = str(e)
        if "Connection refused" in text or "Name or service not known" in text or \
                "nodename nor servname" in text or "getaddrinfo failed" in text:
            return True
        e = e.__cause__ or e.__context__ or \
            (e.args[0] if e.args and isinstance(e.args[0], BaseException) else None)
    return False


def json_or_none(resp: requests.Response):
    try:
        return resp.json()
    except ValueError:
        return None
