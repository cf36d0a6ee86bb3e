"""The egress guard's address rules (podium.netguard), on literal addresses (no DNS)."""

from __future__ import annotations

import pytest

from podium.errors import BadRequest
from podium.netguard import AllowList, EgressRefused, check_url

REFUSED = ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::1]",
           "[::ffff:127.0.0.1]", "0.0.0.0", "10.0.0.1", "172.16.0.1", "192.168.1.1",
           "169.254.169.254", "[fe80::1]", "[fc00::1]", "224.0.0.1", "100.64.0.1",
           "192.0.2.1", "localhost"]


@pytest.mark.parametrize("host", REFUSED)
def test_non_public_addresses_are_refused_with_one_message(host: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        check_url(f"http://{host}:8000/x.git")
    assert caught.value.message == "cannot fetch from this URL"


def test_a_public_address_is_pinned() -> None:
    target = check_url("https://1.1.1.1/x.git")
    assert (target.host, target.port, target.address) == ("1.1.1.1", 443, "1.1.1.1")


def test_the_allow_list_opens_networks_and_names() -> None:
    allow = AllowList.parse("10.1.2.0/24, localhost")
    assert check_url("http://10.1.2.3/x.git", allow).address == "10.1.2.3"
    assert check_url("http://localhost/x.git", allow).address in {"127.0.0.1", "::1"}
    with pytest.raises(EgressRefused):
        check_url("http://10.1.3.1/x.git", allow)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ext::sh -c id", "http://", "ftp://h/x"])
def test_other_schemes_are_a_clear_error(url: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_url(url)
    assert not isinstance(caught.value, EgressRefused)
