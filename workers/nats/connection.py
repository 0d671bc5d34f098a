"""Connecting to NATS: a certificate refused at start-up stops the process with one line.

nats-py hands every connection error to its error callback and tries again (for ever with
`max_reconnect_attempts=-1`, as a worker runs), so a certificate that fails verification would
leave a worker retrying in silence, and a command retrying for minutes: the server's, refused
by this client (an unknown CA, not issued for the host, rejected by Python 3.13's strict
verification), or this client's, refused by a server that requires one (none set, or one its CA
did not sign). The callbacks here raise `NatsCertificateRefused` out of the first `connect()`
instead (nats-py re-raises what its error callback raises; FastStream does the same for a wrong
password). It is a `ConfigError`: the command line prints it as one line and exits 2. Once a
connection has been up, a refused certificate is logged and retried like any outage.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlparse

from nats.aio.client import ErrorCallback

from workers.config import Config, ConfigError

log = logging.getLogger(__name__)
_nats_log = logging.getLogger("nats.aio.client")

# OpenSSL's X509_V_ERR_* codes for "the issuer is not among the trusted CAs" and "the
# certificate is not for this host"
_UNKNOWN_ISSUER = frozenset({2, 18, 19, 20})
_WRONG_HOST = frozenset({62, 64})
# the TLS alerts a server sends about the client's certificate (OpenSSL's reason names)
_CLIENT_CERTIFICATE_ALERTS = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
)


_CUT_OFF = (BrokenPipeError, ConnectionResetError)
PROBE_TIMEOUT_S = 2.0


class NatsCertificateRefused(ConfigError):
    """A certificate failed verification on the way to NATS: what failed, and what to change."""


def server_certificate_refused(
    settings: Config, error: ssl.SSLCertVerificationError
) -> NatsCertificateRefused:
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
    code = getattr(error, "verify_code", None)
    ca = settings.nats_tls_ca
    if code in _WRONG_HOST:
        advice = "connect by a host name or address its subjectAltName lists"
    elif code in _UNKNOWN_ISSUER:
        advice = "set NATS_TLS_CA to the CA that signed it" + (
            f" (NATS_TLS_CA={str(ca)!r} did not)" if ca else ""
        )
    else:
        advice = (
            "reissue the server's certificate chain so that it passes strict X.509 "
            "verification (VERIFY_X509_STRICT, on by default from Python 3.13)"
        )
    return NatsCertificateRefused(
        f"NATS at {settings.nats_url} refused: its certificate failed verification "
        f"({reason}): {advice}"
    )


def client_certificate_refused(settings: Config, error: ssl.SSLError) -> NatsCertificateRefused:
    cert = settings.nats_tls_cert
    given = f"NATS_TLS_CERT={str(cert)!r} is not" if cert else "none is set"
    alert = str(error.reason).lower().replace("_", " ")
    return NatsCertificateRefused(
        f"NATS at {settings.nats_url} refused this client's certificate ({alert}): set "
        f"NATS_TLS_CERT and NATS_TLS_KEY to a certificate and key signed by a CA the server "
        f"trusts ({given})"
    )


def certificate_failure(settings: Config, error: BaseException) -> NatsCertificateRefused | None:
    """What `error` (or what caused it: aiohttp wraps a wss:// one) says about a refused
    certificate, or None for any other error."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        wrapped = getattr(cause, "certificate_error", None)  # aiohttp's ClientConnector…Error
        if isinstance(wrapped, ssl.SSLCertVerificationError):
            return server_certificate_refused(settings, wrapped)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return server_certificate_refused(settings, cause)
        if isinstance(cause, ssl.SSLError) and cause.reason in _CLIENT_CERTIFICATE_ALERTS:
            return client_certificate_refused(settings, cause)
        cause = cause.__cause__ or cause.__context__
    return None


async def log_nats_error(error: Exception) -> None:
    """What nats-py does with an error when it is given no callback."""
    _nats_log.error("nats: encountered error", exc_info=error)


def credentials_refused(url: str, error: BaseException) -> ConfigError | None:
    """The server's refusal of the user, password, token or credentials file: a setting to
    fix, which retrying never cures (None for any other error)."""
    if "authorization violation" not in str(error).lower():
        return None
    return ConfigError(
        f"NATS at {url} refused the credentials: check NATS_USER, NATS_PASSWORD, NATS_TOKEN "
        "or NATS_CREDS_FILE (multi-tenant mode: the workers' are in DATA_DIR/tenancy)"
    )


class CertificateRefusal:
    """The `error_cb` and `disconnected_cb` of one connection (nats-py's or FastStream's).

    nats-py calls `disconnected_cb` only when a connection that was up is lost, never while the
    first one is being made: until then a refused certificate is fatal, afterwards it is logged.
    Other errors go to `others` (FastStream logs them itself: None there).
    """

    def __init__(self, settings: Config, others: ErrorCallback | None = None) -> None:
        self.settings, self.others = settings, others
        self.starting = True

    async def on_error(self, error: Exception) -> None:
        refused = certificate_failure(self.settings, error)
        if refused is None and self.starting and isinstance(error, _CUT_OFF):
            refused = await self._ask_the_server()
        if refused is None:
            if self.others is not None:
                await self.others(error)
            return
        if self.starting:
            raise refused
        log.error("%s; retrying", refused)

    async def _ask_the_server(self) -> NatsCertificateRefused | None:
        """Under TLS 1.3 a server refuses the client's certificate after the handshake, with an
        alert the client sees only if it reads before it writes: nats-py writes CONNECT first
        and may meet the closed socket (a broken pipe) instead. One connection that reads first
        tells which it was."""
        from workers.nats.broker import nats_tls  # broker builds on this module

        url = urlparse(self.settings.nats_url)
        context = nats_tls(self.settings)
        if context is None or url.hostname is None or url.scheme not in ("nats", "tls"):
            return None
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(url.hostname, url.port or 4222)
                try:
                    await reader.readline()  # the server's INFO, before TLS
                    await writer.start_tls(context, server_hostname=url.hostname)
                    await reader.read(1)  # nothing comes from a server that accepted us
                finally:
                    writer.close()
        except (OSError, TimeoutError) as e:
            return certificate_failure(self.settings, e)
        return None

    async def on_disconnected(self) -> None:
        self.starting = False

    def callbacks(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect` or `NatsBroker`."""
        return {"error_cb": self.on_error, "disconnected_cb": self.on_disconnected}
