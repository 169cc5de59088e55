"""The web configuration file of Prometheus exporters (exporter-toolkit's ``web.config.file``).

``http.web_config_file`` points at a YAML file in the format node_exporter and the other exporters
read, so a Prometheus set up to scrape them over TLS with basic auth scrapes driftwatch the same way::

    tls_server_config:
      cert_file: server.crt              # paths are relative to the web config file
      key_file: server.key
      client_ca_file: ca.crt             # with client_auth_type RequireAndVerifyClientCert
      client_auth_type: NoClientCert     # | RequireAndVerifyClientCert | VerifyClientCertIfGiven
      min_version: TLS12                 # | TLS13
      max_version: TLS13
    http_server_config:
      headers: {X-Content-Type-Options: nosniff}
    basic_auth_users:
      prometheus: $2y$10$...             # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\\n')

Keys exporter-toolkit knows that Python's ssl module cannot express (inline ``cert``/``key``/
``client_ca``, ``cipher_suites``, ``curve_preferences``, ``client_allowed_sans``, the client auth
types ``RequestClientCert`` and ``RequireAnyClientCert``, ``rate_limit``) are refused with the reason,
and unknown keys are refused like exporter-toolkit's strict YAML parsing does, rather than silently
serving with less protection than the file asks for. Each problem is one line naming the key, the
value and the fix; a password hash is never shown.

`WebAccess` decides per request path whether it is served openly, behind basic auth, or not at all
(404), and `BasicAuth` checks credentials with bcrypt, caching successful checks in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
import yaml

__all__ = [
    "AUTH_REALM",
    "Access",
    "BasicAuth",
    "Rule",
    "TlsServerConfig",
    "WebAccess",
    "WebConfig",
    "WebConfigError",
    "load_web_config",
]

Access = Literal["open", "auth", "off"]  # http.api and http.reports
Rule = Literal["open", "auth", "off"]  # what a request path gets
AUTH_REALM = "driftwatch"

CLIENT_AUTH: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
TLS_OLD_VERSIONS = ("TLS10", "TLS11")
TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
TLS_KEYS = ("cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version")
HTTP_KEYS = ("headers", "http2")
HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
)
UNSUPPORTED = {
    "rate_limit": "rate limiting is not supported by driftwatch; remove it (a reverse proxy can limit rates)",
    "tls_server_config.cert": "inline certificates are not supported; put the PEM in a file and give cert_file",
    "tls_server_config.key": "inline keys are not supported; put the PEM in a file and give key_file",
    "tls_server_config.client_ca": "inline CAs are not supported; put the PEM in a file and give client_ca_file",
    "tls_server_config.cipher_suites": "Python's ssl module uses OpenSSL's cipher names; remove it "
    "(driftwatch uses OpenSSL's defaults, TLS 1.2 and later)",
    "tls_server_config.prefer_server_cipher_suites": "not supported; remove it",
    "tls_server_config.curve_preferences": "not supported; remove it (OpenSSL's defaults are used)",
    "tls_server_config.client_allowed_sans": "not supported; remove it and issue client certificates "
    "from a CA that signs only the allowed clients",
}
BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
CACHE_SIZE = 1024


class WebConfigError(ValueError):
    """The web config file is invalid: ``problems`` holds one line per problem (no secrets)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = "TLS13"

    def context(self) -> ssl.SSLContext:
        """A server-side SSL context; `ssl.SSLError`/`OSError` when a file cannot be loaded."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[self.min_version]
        context.maximum_version = TLS_VERSIONS[self.max_version]
        # an encrypted key fails here rather than prompting for its passphrase on the terminal
        context.load_cert_chain(self.cert_file, self.key_file, password=lambda: b"")
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=self.client_ca_file)
        context.verify_mode = CLIENT_AUTH[self.client_auth_type]
        return context


@dataclass(frozen=True)
class WebConfig:
    path: Path
    tls: TlsServerConfig | None = None
    users: dict[str, bytes] = field(default_factory=dict, repr=False)  # user -> bcrypt hash
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # the hashes are secrets: names only
        return (
            f"WebConfig(path={self.path}, tls={self.tls}, users={sorted(self.users)}, headers={self.headers})"
        )


def load_web_config(path: Path, key: str = "http.web_config_file") -> WebConfig:
    """Read and check a web config file; `WebConfigError` lists every problem, one line each."""
    where = f"{key} {str(path)!r}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WebConfigError(
            [f"{where}: cannot read the file ({exc.strerror}); give a readable file"]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise WebConfigError(
            [f"{where}: not valid YAML{at}; fix the syntax (see exporter-toolkit's format)"]
        ) from None
    if document is None:
        document = {}  # an empty file: plain HTTP without auth, as exporter-toolkit reads it
    if not isinstance(document, dict):
        raise WebConfigError(
            [
                f"{where}: the file holds a {type(document).__name__}, not a mapping; give keys like tls_server_config"
            ]
        )
    problems: list[str] = []
    base = path.parent
    _unknown(document, TOP_KEYS, "", where, problems)
    tls = _tls(document.get("tls_server_config"), base, where, problems)
    headers = _http(document.get("http_server_config"), where, problems)
    users = _users(document.get("basic_auth_users"), where, problems)
    if problems:
        raise WebConfigError(problems)
    return WebConfig(path=path, tls=tls, users=users, headers=headers)


def _unknown(
    section: dict[Any, Any], known: tuple[str, ...], prefix: str, where: str, problems: list[str]
) -> None:
    for name in section:
        dotted = f"{prefix}{name}"
        if dotted in UNSUPPORTED:
            problems.append(f"{where}: {dotted}: {UNSUPPORTED[dotted]}")
        elif name not in known:
            problems.append(
                f"{where}: unknown key {dotted!r}; remove it or fix its name (known: {', '.join(known)})"
            )


def _section(value: object, name: str, where: str, problems: list[str]) -> dict[Any, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{where}: {name} is a {type(value).__name__}, not a mapping; give its keys under it")
        return None
    return value


def _tls(value: object, base: Path, where: str, problems: list[str]) -> TlsServerConfig | None:
    section = _section(value, "tls_server_config", where, problems)
    if not section:
        return None
    before = len(problems)
    _unknown(section, TLS_KEYS, "tls_server_config.", where, problems)
    files: dict[str, Path | None] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        given = section.get(name)
        if given is None or given == "":
            files[name] = None
            continue
        if not isinstance(given, str):
            problems.append(
                f"{where}: tls_server_config.{name} is {given!r}, not a path; give a PEM file's path"
            )
            continue
        absolute = Path(given) if Path(given).is_absolute() else base / given
        if not absolute.is_file():
            problems.append(
                f"{where}: tls_server_config.{name}: file {given!r} not found (looked at {absolute}); "
                "give the path of a PEM file, relative to the web config file"
            )
        files[name] = absolute
    for name in ("cert_file", "key_file"):
        if section.get(name) in (None, ""):
            problems.append(
                f"{where}: tls_server_config.{name} is missing; give the server's PEM "
                f"{'certificate' if name == 'cert_file' else 'private key'} file (or remove tls_server_config)"
            )
    auth = section.get("client_auth_type", "NoClientCert")
    if auth in CLIENT_AUTH_UNSUPPORTED:
        problems.append(
            f"{where}: tls_server_config.client_auth_type {auth!r} cannot be expressed with Python's ssl "
            "module (it accepts a client certificate only after verifying it); use RequireAndVerifyClientCert "
            "or VerifyClientCertIfGiven with client_ca_file"
        )
    elif auth not in CLIENT_AUTH:
        problems.append(
            f"{where}: tls_server_config.client_auth_type {auth!r} is not a client auth type; give one of "
            + ", ".join(CLIENT_AUTH)
        )
    elif auth != "NoClientCert" and not section.get("client_ca_file"):
        problems.append(
            f"{where}: tls_server_config.client_auth_type {auth!r} needs client_ca_file to verify client "
            "certificates with; give the CA's PEM file or set client_auth_type: NoClientCert"
        )
    versions = {}
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        version = section.get(name, default)
        if version in TLS_OLD_VERSIONS:
            problems.append(
                f"{where}: tls_server_config.{name} {version!r} is below TLS 1.2, which driftwatch does not "
                "serve; give TLS12 or TLS13"
            )
        elif version not in TLS_VERSIONS:
            problems.append(
                f"{where}: tls_server_config.{name} {version!r} is not a TLS version; give TLS12 or TLS13"
            )
        versions[name] = str(version)
    if versions.get("min_version") == "TLS13" and versions.get("max_version") == "TLS12":
        problems.append(
            f"{where}: tls_server_config.min_version 'TLS13' is above max_version 'TLS12'; "
            "raise max_version or lower min_version"
        )
    if len(problems) > before:
        return None
    cert, key = files["cert_file"], files["key_file"]
    assert cert is not None and key is not None
    config = TlsServerConfig(
        cert_file=cert,
        key_file=key,
        client_ca_file=files.get("client_ca_file"),
        client_auth_type=str(auth),
        min_version=versions["min_version"],
        max_version=versions["max_version"],
    )
    try:
        config.context()
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        problems.append(
            f"{where}: tls_server_config: cannot load cert_file {str(cert)!r}, key_file {str(key)!r}"
            + (f" or client_ca_file {str(config.client_ca_file)!r}" if config.client_ca_file else "")
            + f" ({reason}); give a PEM certificate and its unencrypted PEM private key"
        )
        return None
    return config


def _http(value: object, where: str, problems: list[str]) -> dict[str, str]:
    section = _section(value, "http_server_config", where, problems)
    if not section:
        return {}
    _unknown(section, HTTP_KEYS, "http_server_config.", where, problems)
    http2 = section.get("http2", True)
    if not isinstance(http2, bool):
        problems.append(f"{where}: http_server_config.http2 is {http2!r}; give true or false")
    # driftwatch speaks HTTP/1.1 only: http2 is accepted and has no effect (Prometheus scrapes HTTP/1.1)
    headers = _section(section.get("headers"), "http_server_config.headers", where, problems) or {}
    checked: dict[str, str] = {}
    for name, header in headers.items():
        if name not in HEADERS:
            problems.append(
                f"{where}: http_server_config.headers: header {name!r} cannot be set; give one of "
                + ", ".join(HEADERS)
            )
        elif not isinstance(header, str) or "\n" in header or "\r" in header:
            problems.append(
                f"{where}: http_server_config.headers.{name} is {header!r}; give a one-line string"
            )
        elif header:
            checked[name] = header
    return checked


def _users(value: object, where: str, problems: list[str]) -> dict[str, bytes]:
    section = _section(value, "basic_auth_users", where, problems)
    if not section:
        return {}
    users: dict[str, bytes] = {}
    for user, hashed in section.items():
        if not isinstance(user, str) or not user or ":" in user:
            problems.append(
                f"{where}: basic_auth_users: user name {user!r} is not usable; give a non-empty name without ':'"
            )
        elif not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed):
            problems.append(
                f"{where}: basic_auth_users.{user}: the value (not shown) is not a bcrypt hash; give the "
                "hash of the password, e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )
        else:
            users[user] = hashed.encode("ascii")
    return users


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is slow on purpose (~70 ms at cost 10), and Prometheus sends the same credentials every
    scrape: a successful check is remembered as a SHA-256 digest of user, password and hash (never the
    password itself) for the process's lifetime, up to `CACHE_SIZE` entries. An unknown user is checked
    against a dummy hash of the same cost, so the answer takes as long as for a known user.
    """

    def __init__(self, users: dict[str, bytes]) -> None:
        self._users = dict(users)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()
        self._dummy: bytes | None = None

    def check(self, authorization: str | None) -> bool:
        credentials = _credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        digest = hashlib.sha256(b"\0".join((user.encode(), password, hashed or b""))).digest()
        with self._lock:
            if hashed is not None and digest in self._verified:
                return True
        try:
            ok = bcrypt.checkpw(password, hashed if hashed is not None else self._dummy_hash())
        except ValueError:  # a password over 72 bytes, which bcrypt refuses
            ok = False
        ok = ok and hashed is not None
        if ok:
            with self._lock:
                if len(self._verified) >= CACHE_SIZE:
                    self._verified.clear()
                self._verified.add(digest)
        return ok

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            costs = [int(hashed.split(b"$")[2]) for hashed in self._users.values()]
            self._dummy = bcrypt.hashpw(b"driftwatch-no-such-user", bcrypt.gensalt(max(costs, default=10)))
        return self._dummy


def _credentials(authorization: str | None) -> tuple[str, bytes] | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class WebAccess:
    """Who may request what: the web config's users and the ``http.api``/``http.reports``/``http.probes``
    settings. Without users everything is open except what is ``off``; with users every path needs
    credentials (as exporter-toolkit does) except /healthz and /readyz while ``probes`` is ``open``."""

    web: WebConfig | None = None
    api: Access = "open"
    reports: Access = "open"
    probes: Literal["open", "auth"] = "open"

    @property
    def users(self) -> dict[str, bytes]:
        return self.web.users if self.web is not None else {}

    def rule(self, path: str) -> Rule:
        """``open``, ``auth`` (basic auth required) or ``off`` (404) for a request path."""
        if path in ("/healthz", "/readyz"):
            setting: str = self.probes
        elif path == "/api" or path.startswith("/api/"):
            setting = self.api
        elif path == "/reports" or path.startswith("/reports/"):
            setting = self.reports
        else:
            setting = "open"
        if setting == "off":
            return "off"
        if self.users and not (path in ("/healthz", "/readyz") and setting == "open"):
            return "auth"
        return "auth" if setting == "auth" else "open"
