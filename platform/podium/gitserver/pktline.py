"""Just enough of git's pkt-line protocol to refuse a push ourselves, the way receive-pack
refuses one: messages on side-band 2 (shown as ``remote:`` lines) and an ``ng`` report per
ref (shown as ``! [remote rejected]``). Used when the ASGI layer stops an over-large
upload before receive-pack could say anything."""

from __future__ import annotations

FLUSH = b"0000"
# side-band allows 1000-byte packets, side-band-64k 65520: stay under both.
_BAND_PAYLOAD = 995


def pkt(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def parse_push_commands(data: bytes) -> tuple[list[str], set[str]] | None:
    """Refs and capabilities from the start of a receive-pack request body; None when the
    command list is incomplete or not the plain v0/v1 form (e.g. a signed push)."""
    refs: list[str] = []
    caps: set[str] = set()
    pos = 0
    while True:
        try:
            size = int(data[pos:pos + 4], 16)
        except ValueError:
            return None
        if size == 0:
            return (refs, caps) if refs else None
        if size < 4 or len(data) < pos + size:
            return None
        line, _, cap_text = data[pos + 4:pos + size].rstrip(b"\n").partition(b"\0")
        pos += size
        if not refs:
            caps = set(cap_text.decode(errors="replace").split())
        parts = line.decode(errors="replace").split()
        if len(parts) != 3:
            return None
        refs.append(parts[2])


def push_rejection(request_head: bytes, message: str, reason: str) -> bytes | None:
    """A receive-pack result refusing every ref of the push; None when the client did not
    ask for a status report (it would then believe the push worked)."""
    parsed = parse_push_commands(request_head)
    if parsed is None:
        return None
    refs, caps = parsed
    if not caps & {"report-status", "report-status-v2"}:
        return None
    report = pkt(b"unpack ok\n") + b"".join(pkt(f"ng {ref} {reason}\n".encode()) for ref in refs)
    report += FLUSH
    if not caps & {"side-band", "side-band-64k"}:
        return report
    text = message.encode()
    out = [pkt(b"\2" + text[i:i + _BAND_PAYLOAD]) for i in range(0, len(text), _BAND_PAYLOAD)]
    out += [pkt(b"\1" + report[i:i + _BAND_PAYLOAD]) for i in range(0, len(report), _BAND_PAYLOAD)]
    return b"".join(out) + FLUSH
