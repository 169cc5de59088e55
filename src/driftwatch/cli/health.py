"""``driftwatch health``: ask a running daemon's ``/healthz``, as the image's Docker ``HEALTHCHECK`` does.

The config's ``http`` section says where and how the daemon listens: its port, its address (a wildcard
address such as 0.0.0.0 is probed on the loopback address), and with ``http.web_config_file`` whether it
speaks TLS and whether the probes need basic auth (``http.probes: auth``). Only that section is read, so
the probe neither needs the secrets nor the references the rest of the file names.

Over TLS the certificate is verified against the server certificate the web config names (its
``cert_file``: the file the daemon serves): the daemon must present that certificate, or one issued by a
certificate in that file. The host name is not checked against it, since the probe connects to a
loopback address that a certificate rarely names; the certificate itself is the check. ``--cafile``
verifies against a CA instead, with the host name of ``--url``. A client certificate (``--cert``,
``--key``) is presented when given: with ``client_auth_type: RequireAndVerifyClientCert`` the daemon
answers nothing without one.

Exit status: 0 when /healthz answers 200, 1 otherwise, including a config that cannot be read (Docker's
HEALTHCHECK takes 1 as unhealthy and reserves 2).
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from driftwatch.config import ConfigError, HttpSettings, load_http_settings
from driftwatch.webconfig import TlsServerConfig, WebConfig, WebConfigError, load_web_config

__all__ = ["PASSWORD_ENV", "HealthProbe", "HealthProbeError", "probe_health", "read_probe"]

PASSWORD_ENV = "DRIFTWATCH_HEALTH_PASSWORD"  # the basic auth password, when no --password-file is given
HEALTH_PATH = "/healthz"
HEALTHY, UNHEALTHY = 0, 1


class HealthProbeError(Exception):
    """The probe cannot be made as asked; its message says why and what to give."""


@dataclass(frozen=True)
class HealthProbe:
    url: str
    context: ssl.SSLContext | None = None  # for https
    authorization: str | None = None  # an Authorization header
    verified_by: str = ""  # what the server's certificate is checked against, for the output


def read_probe(
    config: str | None,
    url: str | None,
    *,
    cafile: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    user: str | None = None,
    password_file: str | None = None,
    environ: Mapping[str, str],
) -> HealthProbe:
    """What to ask and how, from the config's ``http`` section and the options; `HealthProbeError`."""
    if key is not None and cert is None:
        raise HealthProbeError("--key needs --cert: give the client certificate it belongs to")
    http = HttpSettings()
    web: WebConfig | None = None
    if config is not None:
        try:
            http = load_http_settings(config, environ)
            if http.web_config_file is not None:
                web = load_web_config(http.web_config_file)
        except (ConfigError, WebConfigError) as exc:
            raise HealthProbeError(str(exc)) from None
    tls = web.tls if web is not None else None
    if url is None:
        url = f"{'https' if tls is not None else 'http'}://{_probe_host(http.host)}:{http.port}{HEALTH_PATH}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HealthProbeError(f"--url {url!r} is not an http:// or https:// URL")
    context: ssl.SSLContext | None = None
    verified_by = ""
    if parts.scheme == "https":
        context, verified_by = _tls_context(tls, cafile, cert, key)
        if cert is None and tls is not None and tls.client_auth_type == "RequireAndVerifyClientCert":
            raise HealthProbeError(
                f"the daemon requires a client certificate (tls_server_config.client_auth_type "
                f"RequireAndVerifyClientCert in {http.web_config_file}): give --cert and --key"
            )
    authorization = None
    if user is not None:
        authorization = _basic(user, _password(password_file, environ))
    elif web is not None and web.users and http.probes == "auth":
        raise HealthProbeError(
            "the probes need basic auth (http.probes: auth): give --user, and --password-file or "
            f"{PASSWORD_ENV}"
        )
    return HealthProbe(url, context, authorization, verified_by)


def probe_health(probe: HealthProbe, timeout: float) -> tuple[int, str]:
    """(exit status, one line saying what was found)."""
    request = urllib.request.Request(probe.url, method="GET")
    if probe.authorization is not None:
        request.add_header("Authorization", probe.authorization)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=probe.context) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return UNHEALTHY, f"unhealthy: {probe.url} answered {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return UNHEALTHY, (
                f"unhealthy: {probe.url}: the server's certificate does not verify against "
                f"{probe.verified_by} ({reason.verify_message})"
            )
        return UNHEALTHY, f"unhealthy: {probe.url}: {reason}"
    except (OSError, ValueError) as exc:  # a reset connection, a timeout while reading, a TLS alert
        return UNHEALTHY, f"unhealthy: {probe.url}: {exc}"
    if status != 200:
        return UNHEALTHY, f"unhealthy: {probe.url} answered {status}"
    return HEALTHY, f"healthy: {probe.url} answered 200"


def _tls_context(
    tls: TlsServerConfig | None, cafile: str | None, cert: str | None, key: str | None
) -> tuple[ssl.SSLContext, str]:
    """A client context verifying the daemon's certificate, and what it verifies it against."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        _load(lambda path: context.load_verify_locations(cafile=path), "--cafile", cafile)
        verified_by = f"the CA in {cafile}"
    elif tls is not None:
        # the configured certificate as the trust anchor: the daemon must present it (or one issued by a
        # certificate in the file); the loopback address it is reached on is not a name it has to carry
        cert_file = str(tls.cert_file)
        _load(
            lambda path: context.load_verify_locations(cafile=path), "tls_server_config.cert_file", cert_file
        )
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.check_hostname = False
        verified_by = f"the configured certificate {cert_file}"
    else:
        context.load_default_certs()
        verified_by = "the system's CAs"
    if cert is not None:
        _load(lambda path: context.load_cert_chain(path, key, password=lambda: b""), "--cert", cert)
    return context, verified_by


def _probe_host(host: str) -> str:
    """Where to reach a daemon listening on ``host``: the loopback address for a wildcard one."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a host name
    return f"[{address}]" if address.version == 6 else str(address)


def _load(load: Callable[[str], object], what: str, path: str) -> None:
    try:
        load(path)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise HealthProbeError(f"{what} {path!r}: cannot be loaded ({reason}); give a PEM file") from None


def _password(path: str | None, environ: Mapping[str, str]) -> str:
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise HealthProbeError(f"--password-file {path!r}: cannot be read ({exc.strerror})") from None
    password = environ.get(PASSWORD_ENV)
    if not password:
        raise HealthProbeError(f"--user needs a password: give --password-file or set {PASSWORD_ENV}")
    return password


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
