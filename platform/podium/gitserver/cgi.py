"""`git http-backend` (a CGI program) behind ASGI, streamed both ways.

The request body is copied into the backend's stdin as it arrives and its stdout to the
response as it is produced, each with backpressure, so a pack is never held in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from podium.errors import PodiumError

from .body import DRAIN_FACTOR, discard_rest
from .pktline import push_rejection

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Bytes of the request kept to refuse an over-limit push: its ref-update commands.
HEAD_KEEP = 64 * 1024


class RequestTooLarge(PodiumError):
    http_status = 413
    code = "too_large"


class BackendFailed(PodiumError):
    http_status = 502
    code = "git_backend_failed"


async def _read_cgi_headers(
    stdout: asyncio.StreamReader,
) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """Status and headers up to the blank line; None when the backend died before it."""
    status = 200
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = await stdout.readline()
        if not line:
            return None
        line = line.rstrip(b"\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"status":
            status = int(value.split()[0])
        else:
            headers.append((name, value))


@dataclass
class _Upload:
    received: int = 0
    head: bytearray = field(default_factory=bytearray)  # the first bytes, for a refusal
    over_limit: asyncio.Event = field(default_factory=asyncio.Event)
    drained: bool = False  # an over-limit body was read to its end (and thrown away)


class GitBackendResponse(Response):
    """Runs ``git http-backend`` with a CGI ``env`` when called as an ASGI response.

    A request body over ``body_limit`` stops the backend. With ``refuse_push`` the rest of
    the upload is read and discarded (up to ``DRAIN_FACTOR`` times the limit) and the push
    refused in receive-pack's own words, so git shows ``limit_error`` as ``remote:`` lines;
    otherwise, or when that is impossible, the answer is a plain 413."""

    def __init__(
        self, env: dict[str, str], body_limit: int, limit_error: RequestTooLarge,
        *, refuse_push: bool = False,
    ) -> None:
        super().__init__(status_code=200)
        self.env = env
        self.body_limit = body_limit
        self.limit_error = limit_error
        self.refuse_push = refuse_push

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proc = await asyncio.create_subprocess_exec(
            "git", "http-backend",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env,
            # Its own process group, so stopping it also stops receive-pack and index-pack,
            # which hold the pipes open on their own.
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        upload = _Upload()
        feeder = asyncio.create_task(self._feed(proc, receive, upload))
        errors = asyncio.create_task(proc.stderr.read())
        try:
            await self._relay(proc, proc.stdout, send, upload, feeder)
        finally:
            feeder.cancel()
            if proc.returncode is None:
                _kill(proc)
                await proc.wait()
            stderr = await errors
            if proc.returncode and not upload.over_limit.is_set():
                log.warning(
                    "git http-backend exited %s: %s", proc.returncode,
                    stderr.decode(errors="replace").strip()[-2000:],
                )

    async def _relay(
        self, proc: asyncio.subprocess.Process, stdout: asyncio.StreamReader, send: Send,
        upload: _Upload, feeder: asyncio.Task[None],
    ) -> None:
        head = await _read_cgi_headers(stdout)
        # Hold the response start until the backend writes body bytes or ends: receive-pack
        # answers only after reading the whole pack, so an over-limit push can still be
        # answered with a refusal instead of a truncated 200.
        chunk = await stdout.read(CHUNK) if head else b""
        if upload.over_limit.is_set():
            await feeder
            await self._refuse(send, upload)
            return
        if head is None:
            await proc.wait()
            await _send_plain(send, BackendFailed("the git backend failed; see the server log"))
            return
        status, headers = head
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            chunk = await stdout.read(CHUNK)
        # The response ends only once the backend (and its hooks) are done.
        await proc.wait()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _refuse(self, send: Send, upload: _Upload) -> None:
        error = self.limit_error
        body = None
        if self.refuse_push and upload.drained:
            text = error.message + (f"\n{error.hint}" if error.hint else "") + "\n"
            body = push_rejection(bytes(upload.head), text, "push too large")
        if body is None:
            await _send_plain(send, error)
            return
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [
                (b"content-type", b"application/x-git-receive-pack-result"),
                (b"cache-control", b"no-cache"),
                (b"content-length", str(len(body)).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _feed(
        self, proc: asyncio.subprocess.Process, receive: Receive, upload: _Upload,
    ) -> None:
        stdin = proc.stdin
        assert stdin is not None
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                upload.received += len(chunk)
                if len(upload.head) < HEAD_KEEP:
                    upload.head += chunk[: HEAD_KEEP - len(upload.head)]
                if upload.received > self.body_limit:
                    upload.over_limit.set()
                    _kill(proc)
                    if self.refuse_push:
                        upload.drained = await discard_rest(
                            receive, message, upload.received,
                            self.body_limit * DRAIN_FACTOR)
                    break
                if chunk:
                    stdin.write(chunk)
                    await stdin.drain()
                if not message.get("more_body", False):
                    stdin.close()
                    # Body done: keep listening so a client that goes away stops the backend.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    break
        except (BrokenPipeError, ConnectionResetError):
            return  # the backend answered early (an error) and stopped reading
        _kill(proc)


async def _send_plain(send: Send, error: PodiumError) -> None:
    text = error.message + (f"\n{error.hint}" if error.hint else "") + "\n"
    body = text.encode()
    await send({
        "type": "http.response.start", "status": error.http_status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
