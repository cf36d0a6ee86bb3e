"""The docker build pack's check of what a Space's Dockerfile makes the daemon fetch
(podium.builder.packs.dockerfile): every spelling of a remote ADD and of a registry on a
non-public address is refused; ordinary Dockerfiles pass."""

from __future__ import annotations

import pytest

from podium.builder.packs.dockerfile import check_fetches, instructions
from podium.errors import BuildError
from podium.netguard import AllowList

REFUSED = [
    "FROM x\nADD http://127.0.0.1:9000/x /x\n",
    "FROM x\nadd \\\n  --chown=1 \\\n# a comment inside\n  https://example.com/x /x\n",
    '# escape=`\nFROM x\nADD `\n ["http://1.2.3.4/a", "/a"]\n',
    "ARG U=http://127.0.0.1/x\nFROM x\nADD $U /x\n",
    "FROM x\nENV U=http://127.0.0.1/x\nADD ${U} /x\n",
    "FROM x\nENV U http://127.0.0.1/x\nADD $U /x\n",
    "FROM x\nONBUILD ADD http://h/x /x\n",
    "FROM x\nADD git@github.com:a/b.git /x\n",
    "FROM 127.0.0.1:9000/evil\n",
    "ARG R=localhost:5000\nFROM ${R}/evil\n",
    "FROM x\nCOPY --from=10.0.0.1/img /a /b\n",
    "FROM [::1]:5000/x\n",
    "FROM 2130706433:80/x\n",
    "FROM --platform=linux/amd64 169.254.169.254/x AS a\n",
]
ALLOWED = [
    "FROM podium/base:bookworm\nCOPY . /app\nADD a.tar.gz /x\nRUN curl -o /x http://e/x\n",
    "FROM python:3.11 AS b\nFROM b\nCOPY --from=b /a /b\nCOPY --from=0 /a /b\n",
    "FROM scratch\nADD --chown=1000 local/dir /dir\n",
]


@pytest.mark.parametrize("text", REFUSED)
def test_remote_add_and_private_registries_are_refused(text: str) -> None:
    with pytest.raises(BuildError):
        check_fetches(text)


@pytest.mark.parametrize("text", ALLOWED)
def test_ordinary_dockerfiles_pass(text: str) -> None:
    check_fetches(text)


def test_an_admin_opened_registry_passes() -> None:
    check_fetches("FROM 10.1.2.3:5000/x\n", AllowList.parse("10.1.2.0/24"))


def test_continuations_follow_the_escape_directive() -> None:
    assert list(instructions("# escape=`\nFROM x\nRUN a `\n  b\n")) == [
        ("FROM", "x"), ("RUN", "a  b")]
