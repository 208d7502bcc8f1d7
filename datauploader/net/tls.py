"""TLS for every client that talks to a facility's servers: one way to build the context from
``ca_bundle`` / ``verify_tls``, and one set of sentences for the ways a handshake fails.

The sentences say what the operator can do about it: a certificate for another host name
(fix the address), an expired one (the clock, or the server's administrators), one signed by
an authority this computer does not trust (``ca_bundle``), an https:// address of a server
that speaks plain http (write http://), anything else (check the address).
"""

from __future__ import annotations

import ssl

from datauploader.errors import UserFacingError

# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code)
_WRONG_HOST = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_EXPIRED = frozenset({9, 10})  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
# what OpenSSL says when the other side answered a ClientHello with plain text
_PLAIN_HTTP = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                         "UNKNOWN_PROTOCOL"})
#: where the settings live, when the caller does not say which section
CONFIGURATION = "the storage configuration"


class TLSError(UserFacingError):
    """The TLS handshake failed for a reason other than the certificate."""


class TLSCertificateError(TLSError):
    """The server's certificate could not be verified."""


#: where tools look for a CA bundle when none is configured (AWS_CA_BUNDLE: the AWS CLI's)
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def bundle_from_env(env, configured: str = "", aws: bool = False) -> str:
    """The CA bundle to use: the configured one, else the one the environment names (as the
    operator's other tools would use it: the AWS CLI's AWS_CA_BUNDLE for S3, then requests'
    and curl's variables and OpenSSL's SSL_CERT_FILE), else "" (the system's)."""
    if configured:
        return configured
    names = (("AWS_CA_BUNDLE",) if aws else ()) + CA_BUNDLE_VARIABLES
    return next((env[n] for n in names if env.get(n)), "")


def context(ca_bundle: str | None, verify_tls: bool = True,
            where: str = CONFIGURATION) -> ssl.SSLContext:
    """A client context: the system's authorities, or those in the PEM file ``ca_bundle``;
    no checks at all only with ``verify_tls=False`` (an explicit setting). ``where`` names
    the settings in the sentence for an unreadable bundle."""
    if not verify_tls:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        return c
    try:
        return ssl.create_default_context(cafile=ca_bundle or None)
    except (OSError, ssl.SSLError) as e:
        raise TLSError(f"The CA bundle {ca_bundle} could not be read ({e}); fix 'ca_bundle' "
                       f"in {where}.") from e


def failure(e: ssl.SSLError, server: str, where: str = CONFIGURATION) -> TLSError:
    """The error for a failed handshake with ``server`` ("the S3 server at https://…");
    ``where`` names the settings the operator may have to change."""
    if isinstance(e, ssl.SSLCertVerificationError):
        said = e.verify_message or e.reason or str(e)
        code = e.verify_code
        if code in _WRONG_HOST:
            text = (f"The certificate of {server} could not be verified: it was issued for "
                    f"another host name ({said}). In {where}, write the address with a host "
                    "name the certificate names.")
        elif code in _EXPIRED:
            text = (f"The certificate of {server} could not be verified: it has expired or is "
                    f"not valid yet ({said}). Check this computer's date and time; if they are "
                    "right, the server's administrators must renew the certificate.")
        else:
            text = (f"The certificate of {server} could not be verified ({said}). If the "
                    "server uses a certificate from your facility's own authority, set "
                    f"ca_bundle to that authority's PEM file in {where}.")
        return TLSCertificateError(text, details=str(e))
    if e.reason in _PLAIN_HTTP:
        return TLSError(f"{server[:1].upper()}{server[1:]} does not speak TLS (it answers like "
                        f"a plain-http server); write the address with http:// in {where}, or "
                        "use the server's https port.", details=str(e))
    return TLSError(f"The TLS handshake with {server} failed ({e.reason or e}); check that the "
                    "address is right (https:// or http://).", details=str(e))


def ssl_error_in(e: BaseException | None) -> ssl.SSLError | None:
    """The ssl.SSLError behind ``e`` (requests and urllib3 wrap it a few levels deep)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLError):
            return e
        reason = getattr(e, "reason", None)
        nested = next((a for a in getattr(e, "args", ()) if isinstance(a, BaseException)), None)
        e = (reason if isinstance(reason, BaseException) else None) or nested or \
            e.__cause__ or e.__context__
    return None
