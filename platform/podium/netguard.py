"""The egress-address guard: where the platform itself may fetch from on a user's behalf.

A user-given URL (a Space imported from a git URL) is fetched by the platform's own
processes, from the host's network: without a guard it reaches the API, Redis and the
proxy on loopback, the private network around the host and cloud metadata (an SSRF).
``check_url`` resolves the host and refuses when ANY address it resolves to is loopback,
private, link-local, multicast, reserved, unspecified or one of this host's own interface
addresses (unless an admin opened it with ``PODIUM_EGRESS_ALLOW``). The caller then
connects to the checked address only (``Target.address``), so a DNS answer that changes
between the check and the connect (rebinding) cannot move the fetch.

Every refusal and every failure to connect raises the same ``EgressRefused`` text: an
error that differed by address or port would make the import a port scanner.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from podium.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FETCH_SCHEMES = {"http": 80, "https": 443}
# The one message for every refused or unreachable URL (see the module docstring).
GENERIC_MESSAGE = "cannot fetch from this URL"
GENERIC_HINT = ("give the http(s) URL of a public repository on the internet; addresses "
                "of this server and of private networks are not fetched")


class EgressRefused(BadRequest):
    code = "egress_refused"

    def __init__(self) -> None:
        super().__init__(GENERIC_MESSAGE, hint=GENERIC_HINT)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: connect to ``address`` (never re-resolve ``host``)."""

    scheme: str
    host: str  # as written in the URL, brackets stripped
    port: int
    address: str  # the checked IP literal the fetch must use


@dataclass(frozen=True, slots=True)
class AllowList:
    """Networks and host names an admin opened (PODIUM_EGRESS_ALLOW)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def opens(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address in net for net in self.networks if net.version == address.version
        )


def host_addresses() -> frozenset[IPAddress]:
    """Every address on this host's interfaces (its public one included): a URL naming
    the host by its public address reaches the same services as loopback."""
    import psutil  # read each time: Docker adds bridges, DHCP moves the public address

    found: set[IPAddress] = set()
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(addr.address.split("%", 1)[0]))
                except ValueError:
                    continue
    return frozenset(found)


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast and not this host."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)  # ::ffff:127.0.0.1 is loopback
    blocked = (address.is_loopback or address.is_private or address.is_link_local
               or address.is_multicast or address.is_reserved or address.is_unspecified
               or not address.is_global)
    return not blocked and address not in host_addresses()


def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses ``host`` names, as the C library reads it: decimal (2130706433),
    hex (0x7f.1) and short (127.1) IPv4 forms become the addresses they mean."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise EgressRefused() from None
    out: list[IPAddress] = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            raise EgressRefused() from None
    if not out:
        raise EgressRefused()
    return out


def parse_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL; a clear error when it is not one (syntax
    only, so this says nothing about any address)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequest(f"{url!r} is not a valid URL",
                         hint="give an http:// or https:// git URL") from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        # curl connects to the IDNA form: the pinned name (Target.host) must be that one,
        # or curl would resolve the name itself, unpinned.
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        host = ""
    if scheme not in FETCH_SCHEMES or not host:
        raise BadRequest(f"cannot import from {url!r}", hint="give an http:// or https:// git URL")
    return scheme, host, port or FETCH_SCHEMES[scheme]


def check_host(host: str, allow: AllowList | None = None, port: int = 0) -> IPAddress:
    """Resolve ``host`` and return the address to connect to, or raise EgressRefused when
    any address it resolves to is not public (and not opened by ``allow``)."""
    allow = allow or AllowList()
    addresses = resolve(host, port)
    # ANY bad address refuses: a name with one public and one loopback answer would let
    # the fetcher's own resolver pick the loopback one.
    if not all(is_public(a) or allow.opens(host, a) for a in addresses):
        raise EgressRefused()
    return addresses[0]


def check_url(url: str, allow: AllowList | None = None) -> Target:
    """``check_host`` for ``url``'s host: the Target to fetch it from."""
    scheme, host, port = parse_url(url)
    address = check_host(host, allow, port)
    return Target(scheme=scheme, host=host, port=port, address=str(address))


def probe(target: Target, timeout: float) -> None:
    """Open (and close) a TCP connection to the checked address within ``timeout``: the
    connect phase bounded, and a closed port failing like a refused address."""
    try:
        with socket.create_connection((target.address, target.port), timeout=timeout):
            pass
    except OSError:
        raise EgressRefused() from None
