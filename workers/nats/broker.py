"""The connection to NATS: TLS, credentials, and the FastStream broker built from them."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from faststream.message import StreamMessage
from faststream.nats import NatsBroker
from faststream.nats.prometheus.provider import (
    BatchNatsMetricsSettingsProvider,
    NatsMetricsSettingsProvider,
)
from faststream.nats.response import NatsPublishCommand
from faststream.nats.security import (
    NatsCredentials,
    NatsSecurity,
    NatsToken,
    NatsUserPassword,
    parse_security,
)
from faststream.prometheus import ConsumeAttrs, PrometheusMiddleware
from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry

from events.subjects import split_tenant
from workers.config import Config, ConfigError
from workers.nats.connection import CertificateRefusal, log_nats_error
from workers.observability.logs import adopt_faststream_logger


def nats_tls(settings: Config) -> ssl.SSLContext | None:
    """A TLS context when NATS_URL says tls:// or wss:// or a CA / client certificate is set."""
    secure_url = urlparse(settings.nats_url).scheme in ("tls", "wss")
    if not (secure_url or settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    ca = settings.nats_tls_ca
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    except (ssl.SSLError, OSError) as e:
        raise ConfigError(f"NATS_TLS_CA={str(ca)!r}: not a usable CA bundle ({e})") from None
    # Python 3.13's defaults on every version: a certificate accepted on 3.11 is not refused
    # after an upgrade (3.13 requires, e.g., an Authority Key Identifier on the server's)
    context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    if settings.nats_tls_cert and settings.nats_tls_key:
        try:
            context.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(
                f"NATS_TLS_CERT={str(settings.nats_tls_cert)!r}, NATS_TLS_KEY="
                f"{str(settings.nats_tls_key)!r}: not a matching PEM certificate and key ({e})"
            ) from None
    return context


def nats_security(settings: Config) -> NatsSecurity | None:
    """FastStream's security object for the configured credentials and TLS (None: neither)."""
    tls = nats_tls(settings)
    common: dict[str, Any] = {"ssl_context": tls, "use_ssl": tls is not None}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value()
        return NatsUserPassword(settings.nats_user, password, **common)
    if token := settings.nats_token.get_secret_value():
        return NatsToken(token, **common)
    if settings.nats_creds_file is not None:
        return NatsCredentials.from_file(settings.nats_creds_file, **common)
    return NatsSecurity(**common) if tls is not None else None


def nats_connect_options(settings: Config) -> dict[str, Any]:
    """`nats.connect(url, **options)` keyword arguments for the same credentials and TLS; a
    certificate refused either way fails the first connect with `NatsCertificateRefused`."""
    refusal = CertificateRefusal(settings, others=log_nats_error)
    return {**parse_security(nats_security(settings)), **refusal.callbacks()}


class _EventMetrics(NatsMetricsSettingsProvider):
    """FastStream's metrics, labelled by the event's subject without its tenant token: in the
    multi-tenant mode `tenant.<T>.file.changed` would make a time series per tenant."""

    __slots__ = ()

    def get_consume_attrs_from_message(self, msg: StreamMessage[Msg]) -> ConsumeAttrs:
        return _untenanted(super().get_consume_attrs_from_message(msg))


class _BatchEventMetrics(BatchNatsMetricsSettingsProvider):
    __slots__ = ()

    def get_consume_attrs_from_message(self, msg: StreamMessage[list[Msg]]) -> ConsumeAttrs:
        return _untenanted(super().get_consume_attrs_from_message(msg))


def _untenanted(attrs: ConsumeAttrs) -> ConsumeAttrs:
    attrs["destination_name"] = split_tenant(attrs["destination_name"])[1]
    return attrs


def _metrics_provider(
    msg: Msg | Sequence[Msg] | None,
) -> NatsMetricsSettingsProvider | BatchNatsMetricsSettingsProvider | None:
    """faststream.nats.prometheus's factory, with the providers above."""
    if isinstance(msg, Sequence):
        return _BatchEventMetrics()
    if isinstance(msg, Msg) or msg is None:
        return _EventMetrics()
    return None  # key-value and object-store watches: not ours


def make_broker(settings: Config, registry: CollectorRegistry | None = None) -> NatsBroker:
    """The broker; with a registry, FastStream's Prometheus middleware records into it."""
    # Per-message logs at DEBUG: FastStream's INFO line per message halves throughput. Its
    # logger also narrates every task it starts at INFO: quiet unless LOG_LEVEL=DEBUG.
    adopt_faststream_logger(settings.log_level)
    middlewares = (
        [
            PrometheusMiddleware[Msg | Sequence[Msg], NatsPublishCommand](
                settings_provider_factory=_metrics_provider,  # type: ignore[arg-type]
                registry=registry,
                app_name="workers",
            )
        ]
        if registry
        else []
    )
    return NatsBroker(
        settings.nats_url,
        log_level=logging.DEBUG,
        logger=logging.getLogger("faststream"),
        graceful_timeout=settings.shutdown_grace_s,
        security=nats_security(settings),
        max_reconnect_attempts=-1,  # a worker outlives a NATS outage; /readyz reports it
        middlewares=middlewares,
        # but not a certificate refused at start-up: that stops it with one line
        **CertificateRefusal(settings).callbacks(),
    )
