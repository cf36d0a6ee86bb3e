"""HTTPS for the nginx-lua data plane: the certificate and key checked before nginx starts,
so a wrong pair stops ``podium proxy`` with a SettingsError naming the variable, instead of
an nginx log line in a supervisor's restart loop.

The checks: both files readable PEM, the key is the certificate's (OpenSSL's own check, as
nginx will do it), and the certificate names the domain and ``*.{domain}`` (every Space is
served at ``{owner}-{name}.{domain}``, one label under it: a certificate without the
wildcard would fail in every visitor's browser on every Space).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from podium.config import Settings, env_name
from podium.errors import SettingsError
from podium.proxy.plane.nginxlua import Tls


def _pem(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}", setting=env_name(setting),
                            hint="a PEM file readable by the proxy") from None


def _names(cert_pem: bytes, path: Path) -> set[str]:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise SettingsError(f"{path} is not a PEM certificate", setting=env_name("tls_cert"),
                            hint="the certificate first, then its intermediates") from None
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return set()
    return {name.lower() for name in san.value.get_values_for_type(x509.DNSName)}


def check(settings: Settings) -> Tls | None:
    """The TLS settings as nginx needs them, checked; None when TLS is off."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    cert, key = settings.tls_cert, settings.tls_key
    names = _names(_pem(cert, "tls_cert"), cert)
    _pem(key, "tls_key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise SettingsError(
            f"{key} is not the key of the certificate {cert} ({exc.reason or exc})",
            setting=env_name("tls_key"),
            hint="the unencrypted PEM private key the certificate was issued for") from None
    domain = settings.domain.lower().rstrip(".")
    missing = [n for n in (domain, f"*.{domain}") if n not in names]
    if missing:
        raise SettingsError(
            f"{cert} does not name {' and '.join(missing)} (it names: "
            f"{', '.join(sorted(names)) or 'nothing'})", setting=env_name("tls_cert"),
            hint=f"a certificate for {domain} and *.{domain}, or set PODIUM_DOMAIN to the "
                 "domain it was issued for")
    http_listen = f"{settings.proxy_host}:{settings.http_port}" if settings.http_port else None
    return Tls(cert=cert, key=key, https_port=settings.public_port, http_listen=http_listen,
               hsts_max_age=settings.hsts_max_age)
