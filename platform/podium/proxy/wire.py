"""HTTP/1.1 bytes for the fast path (podium.proxy.fastpath): reading a request head and
writing response heads and chunks. Pure functions, no I/O.

The request reader is deliberately narrow. It accepts only a plain HTTP/1.1 head that
every parser reads the same way (origin-form target, token header names, no body, no
upgrade, no obs-fold) and answers HANDOVER for anything else, which then goes to uvicorn's
strict parser and the ASGI pipeline. So it never has to judge an ambiguous request.
"""

from __future__ import annotations

import http
import re
from dataclasses import dataclass
from typing import Final, Literal

RawHeaders = list[tuple[bytes, bytes]]

HANDOVER: Final = "handover"
Handover = Literal["handover"]

# A head this long without its end is not one the fast path wants to hold.
MAX_HEAD = 32 * 1024
# Methods whose request the fast path forwards itself: safe ones, since a request whose
# upstream dropped it unanswered is handed to the ASGI path and may be sent again. HEAD is
# left out: the response parser cannot be told that a HEAD answer has no body.
FAST_METHODS = frozenset({b"GET", b"OPTIONS"})
# Headers that mean a body, a protocol switch, or an interim answer: the ASGI path's job.
_SLOW_HEADERS = frozenset({b"transfer-encoding", b"upgrade", b"expect"})
# Header lines of a head the fast path takes: token name, colon, visible text or tabs.
_HEADER_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_TARGET = re.compile(rb"/[\x21-\x7e]*")


@dataclass(slots=True)
class RequestHead:
    method: bytes
    target: bytes  # origin-form, as sent (percent-encoding kept)
    headers: RawHeaders  # names lower-cased, values stripped
    host: bytes
    size: int  # bytes of the head, blank line included
    keep_alive: bool


def read_request_head(buf: bytes | bytearray) -> RequestHead | Handover | None:
    """The bodiless request at the start of ``buf``; None while its head is incomplete;
    HANDOVER when the request is not one the fast path serves."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return HANDOVER if len(buf) > MAX_HEAD or b"\n\n" in buf else None
    first = buf.find(b"\r\n")
    method, sp, rest = bytes(buf[:first]).partition(b" ")
    target, sp2, version = rest.partition(b" ")
    if (method not in FAST_METHODS or not sp2 or version != b"HTTP/1.1"
            or _TARGET.fullmatch(target) is None):
        return HANDOVER
    block = bytes(buf[first + 2:end + 2])
    if _HEADER_LINES.fullmatch(block) is None:
        return HANDOVER
    headers: RawHeaders = []
    host: bytes | None = None
    keep_alive = True
    for line in block.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"host":
            if host is not None:
                return HANDOVER
            host = value
        elif name == b"content-length":
            if value != b"0":
                return HANDOVER
        elif name in _SLOW_HEADERS:
            return HANDOVER
        elif name == b"connection" and b"close" in value.lower():
            keep_alive = False
        headers.append((name, value))
    if host is None:
        return HANDOVER
    return RequestHead(method, target, headers, host, end + 4, keep_alive)


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase)


# Same status lines as uvicorn writes on the ASGI path.
_STATUS_LINES = {code: _status_line(code) for code in range(100, 600)}


def response_head(status: int, headers: RawHeaders) -> bytes:
    line = _STATUS_LINES.get(status) or _status_line(status)
    return b"".join([line, *[b"%s: %s\r\n" % h for h in headers], b"\r\n"])


def request_bytes(method: bytes, target: bytes, headers: RawHeaders) -> bytes:
    return b"".join([b"%s %s HTTP/1.1\r\n" % (method, target),
                     *[b"%s: %s\r\n" % h for h in headers], b"\r\n"])


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
