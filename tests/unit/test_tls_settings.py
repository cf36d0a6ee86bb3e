"""HTTPS settings: one rule ties TLS to the public scheme (so origins and cookies follow),
the certificate and key are checked before nginx starts, and the nginx config carries the
TLS server and the plain-HTTP redirect only when asked. nginx itself serving it is
tests/integration/test_proxy_tls.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.config import Settings
from podium.errors import SettingsError
from podium.proxy.plane import nginxlua, tls
from podium.proxy.plane.python import PythonPlane
from tests.tls_ca import MadeCa, make_ca
from tests.unit.test_nginx_lua import layout_in

DOMAIN = "spaces.example.org"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> MadeCa:
    return make_ca(tmp_path_factory.mktemp("ca"), DOMAIN)


def test_tls_makes_the_scheme_https_everywhere(ca: MadeCa) -> None:
    plain = Settings(domain=DOMAIN, public_port=443)
    assert plain.scheme == "http" and not plain.tls
    s = Settings(domain=DOMAIN, public_port=443, tls_cert=ca.cert, tls_key=ca.key)
    assert s.tls and s.scheme == "https"
    assert s.public_base_url == f"https://{DOMAIN}"
    assert s.public_origin(f"alice-demo.{DOMAIN}") == f"https://alice-demo.{DOMAIN}"
    # Child processes rebuild the same settings from the environment.
    env = s.to_env()
    assert env["PODIUM_SCHEME"] == "https" and env["PODIUM_TLS_CERT"] == str(ca.cert)
    # Behind a front that terminates TLS the scheme alone says https.
    assert Settings(scheme="https").public_base_url == "https://localhost:8080"


@pytest.mark.parametrize(("kwargs", "setting"), [
    ({"tls_cert": "/c.pem"}, "PODIUM_TLS_KEY"),
    ({"tls_key": "/k.pem"}, "PODIUM_TLS_CERT"),
    ({"tls_cert": "/c.pem", "tls_key": "/k.pem", "scheme": "http"}, "PODIUM_SCHEME"),
    ({"http_port": 80}, "PODIUM_HTTP_PORT"),
    ({"tls_cert": "/c.pem", "tls_key": "/k.pem", "http_port": 8080}, "PODIUM_HTTP_PORT"),
])
def test_inconsistent_tls_settings_name_the_variable(kwargs: dict, setting: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**kwargs)
    assert caught.value.setting == setting
    assert caught.value.message.startswith(f"{setting}: ")


def test_a_good_pair_passes_the_check(ca: MadeCa) -> None:
    s = Settings(domain=DOMAIN, public_port=8443, http_port=8081, hsts_max_age=60,
                 tls_cert=ca.cert, tls_key=ca.key, proxy_host="127.0.0.1")
    checked = tls.check(s)
    assert checked == nginxlua.Tls(cert=ca.cert, key=ca.key, https_port=8443,
                                   http_listen="127.0.0.1:8081", hsts_max_age=60)
    assert tls.check(Settings()) is None


def test_a_key_that_is_not_the_certificates_is_refused(ca: MadeCa) -> None:
    s = Settings(domain=DOMAIN, tls_cert=ca.cert, tls_key=ca.other_key)
    with pytest.raises(SettingsError) as caught:
        tls.check(s)
    assert caught.value.setting == "PODIUM_TLS_KEY"
    assert "is not the key of the certificate" in caught.value.message


def test_a_certificate_without_the_wildcard_is_refused(ca: MadeCa, tmp_path: Path) -> None:
    s = Settings(domain="other.example.org", tls_cert=ca.cert, tls_key=ca.key)
    with pytest.raises(SettingsError) as caught:
        tls.check(s)
    assert caught.value.setting == "PODIUM_TLS_CERT"
    assert "does not name other.example.org and *.other.example.org" in caught.value.message
    assert f"*.{DOMAIN}" in caught.value.message  # what it does name
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    for cert, key, setting in [(garbage, ca.key, "PODIUM_TLS_CERT"),
                               (tmp_path / "missing.pem", ca.key, "PODIUM_TLS_CERT"),
                               (ca.cert, tmp_path / "missing.pem", "PODIUM_TLS_KEY")]:
        with pytest.raises(SettingsError) as caught:
            tls.check(Settings(domain=DOMAIN, tls_cert=cert, tls_key=key))
        assert caught.value.setting == setting


def test_the_python_plane_refuses_tls(ca: MadeCa) -> None:
    s = Settings(domain=DOMAIN, tls_cert=ca.cert, tls_key=ca.key, proxy_data_plane="python")
    with pytest.raises(SettingsError) as caught:
        PythonPlane(s).serve()
    assert "PODIUM_PROXY_DATA_PLANE=nginx-lua" in (caught.value.hint or "")


def test_nginx_config_has_tls_and_the_redirect_only_when_asked(
    ca: MadeCa, tmp_path: Path,
) -> None:
    base = layout_in(tmp_path, tmp_path)
    plain = nginxlua.render(base, domain=DOMAIN, scheme="http")
    assert " ssl" not in plain and "return 308" not in plain
    assert "proxy_set_header X-Forwarded-Proto http;" in plain
    layout = nginxlua.NginxLayout(**{**base.__dict__, "tls": nginxlua.Tls(
        cert=ca.cert, key=ca.key, https_port=8443, http_listen="0.0.0.0:8081",
        hsts_max_age=600)})
    text = nginxlua.render(layout, domain=DOMAIN, scheme="https")
    assert f"listen {base.listen} ssl default_server;" in text
    assert f'ssl_certificate "{ca.cert.resolve()}";' in text
    assert f'ssl_certificate_key "{ca.key.resolve()}";' in text
    assert 'add_header Strict-Transport-Security "max-age=600; includeSubDomains" always;' \
        in text
    assert "proxy_set_header X-Forwarded-Proto https;" in text
    assert "listen 0.0.0.0:8081 default_server;" in text
    assert "return 308 https://$host:8443$request_uri;" in text
    # On 443 the redirect carries no port; without HSTS or a plain port, neither appears.
    bare = nginxlua.NginxLayout(**{**base.__dict__, "tls": nginxlua.Tls(
        cert=ca.cert, key=ca.key, https_port=443)})
    text = nginxlua.render(bare, domain=DOMAIN, scheme="https")
    assert "Strict-Transport-Security" not in text and "return 308" not in text
    odd = nginxlua.NginxLayout(**{**base.__dict__, "tls": nginxlua.Tls(
        cert=tmp_path / 'a"b.pem', key=ca.key, https_port=443)})
    with pytest.raises(ValueError, match="not a path nginx"):
        nginxlua.render(odd, domain=DOMAIN, scheme="https")
    with_redirect = nginxlua.NginxLayout(**{**base.__dict__, "tls": nginxlua.Tls(
        cert=ca.cert, key=ca.key, https_port=443, http_listen="0.0.0.0:80")})
    assert "return 308 https://$host$request_uri;" in nginxlua.render(
        with_redirect, domain=DOMAIN, scheme="https")
