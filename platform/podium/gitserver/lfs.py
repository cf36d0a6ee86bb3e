"""The Git LFS API of a Space repository: the batch endpoint with the basic transfer
adapter (``{repo}.git/info/lfs/objects/batch``) and the object uploads and downloads its
actions point to, behind the same token checks as git itself (``auth.authorize``): a
stranger gets the same 401/404 for a private Space as for a missing one."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from podium.config import Settings
from podium.errors import BadRequest, NotFound, PodiumError, Unauthorized
from podium.names import SpaceId

from .auth import FailureThrottle, GitAccess, authorize, space_id_of
from .body import RequestBody
from .lfsstore import LfsStore, ObjectTooLarge, check_oid, too_large_message
from .repo import ensure_repo

LFS_JSON = "application/vnd.git-lfs+json"
# A batch names at most this many objects (git-lfs sends 100 at a time).
BATCH_MAX_OBJECTS = 1000
BATCH_MAX_BYTES = 1 << 20
# How long the hrefs of a batch answer are good for, as told to the client (they carry the
# client's own credentials, so nothing actually expires).
ACTION_EXPIRES_S = 3600


def lfs_error(exc: PodiumError) -> Response:
    """An error in the LFS API's shape: git-lfs prints ``message``, and asks for
    credentials on a 401 with a Basic challenge."""
    headers = exc.http_headers()
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="Podium"'
    message = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return JSONResponse({"message": message}, status_code=exc.http_status,
                        headers=headers, media_type=LFS_JSON)


class LfsServer:
    def __init__(
        self, settings: Settings, access: GitAccess, throttle: FailureThrottle | None,
    ) -> None:
        self.settings = settings
        self.access = access
        self.throttle = throttle

    async def _authorized(self, request: Request, space_id: SpaceId, *, write: bool) -> LfsStore:
        await run_in_threadpool(
            authorize, self.access, space_id, write=write,
            authorization=_as_basic(request.headers.get("authorization")), throttle=self.throttle,
            address=request.client.host if request.client else "",
        )
        git_dir = await run_in_threadpool(ensure_repo, self.settings, space_id)
        return LfsStore(git_dir)

    async def batch(self, request: Request, space_id: SpaceId) -> Response:
        body = await _json_body(request)
        operation = body.get("operation")
        if operation not in ("upload", "download"):
            raise BadRequest("operation must be 'upload' or 'download'")
        transfers = body.get("transfers") or ["basic"]
        if "basic" not in transfers:
            raise BadRequest("Podium offers the 'basic' LFS transfer adapter only")
        objects = body.get("objects")
        if not isinstance(objects, list) or len(objects) > BATCH_MAX_OBJECTS:
            raise BadRequest(f"objects must be a list of at most {BATCH_MAX_OBJECTS}")
        store = await self._authorized(request, space_id, write=operation == "upload")
        href = str(request.url.replace(query="")).rsplit("/batch", 1)[0]
        header = {"Authorization": a} if (a := request.headers.get("authorization")) else {}
        answers = [self._answer(store, operation, o, href, header) for o in objects]
        return JSONResponse({"transfer": "basic", "objects": answers, "hash_algo": "sha256"},
                            media_type=LFS_JSON)

    def _answer(
        self, store: LfsStore, operation: str, obj: Any, href: str, header: dict[str, str],
    ) -> dict[str, Any]:
        oid = obj.get("oid") if isinstance(obj, dict) else None
        size = obj.get("size") if isinstance(obj, dict) else None
        if not isinstance(oid, str) or not isinstance(size, int) or size < 0:
            return {"oid": str(oid), "size": size, "error": {
                "code": 422, "message": "each object needs an oid and a size"}}
        answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        try:
            check_oid(oid)
        except BadRequest as exc:
            return {**answer, "error": {"code": 422, "message": exc.message}}
        limit = self.settings.lfs_object_max_bytes
        action = {"href": f"{href}/{oid}", "header": header, "expires_in": ACTION_EXPIRES_S}
        if operation == "download":
            if not store.has(oid, size):
                return {**answer, "error": {"code": 404, "message": f"no LFS object {oid}"}}
            return {**answer, "actions": {"download": action}}
        if size > limit:
            return {**answer, "error": {"code": 422, "message": too_large_message(size, limit)}}
        if store.has(oid, size):
            return answer  # no actions: the server has it already
        return {**answer, "actions": {"upload": action}}

    async def upload(self, request: Request, space_id: SpaceId, oid: str) -> Response:
        store = await self._authorized(request, space_id, write=True)
        length = request.headers.get("content-length", "")
        expected = int(length) if length.isdigit() else None
        limit = self.settings.lfs_object_max_bytes
        body = RequestBody(request.receive)
        try:
            if expected is not None and expected > limit:
                raise ObjectTooLarge(too_large_message(expected, limit))
            await store.put(check_oid(oid), body.chunks(), limit=limit, expected=expected)
        except PodiumError:  # refused after the writer was let in: a clean answer on a
            await body.discard(limit)  # connection the client reuses (podium.gitserver.body)
            raise
        return Response(status_code=200)

    async def download(self, request: Request, space_id: SpaceId, oid: str) -> Response:
        store = await self._authorized(request, space_id, write=False)
        if not store.has(check_oid(oid)):
            raise NotFound(f"no LFS object {oid} in {space_id}")
        return FileResponse(store.path(oid), media_type="application/octet-stream")


def _as_basic(authorization: str | None) -> str | None:
    """huggingface_hub calls the batch API with ``Bearer <token>``; git-lfs with Basic.
    A bearer token is the password of a user left unnamed (the token names its user)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return authorization
    return "Basic " + base64.b64encode(f":{token.strip()}".encode()).decode()


async def _json_body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > BATCH_MAX_BYTES:
            raise BadRequest("the LFS batch request is too large")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("the LFS batch request is not JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("the LFS batch request must be a JSON object")
    return body


def lfs_routes(
    settings: Settings, access: GitAccess, throttle: FailureThrottle | None, space: str,
) -> list[Route]:
    """The routes below ``space`` (the repository URL pattern), errors in LFS's JSON."""
    server = LfsServer(settings, access, throttle)

    def endpoint(method: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            params = dict(request.path_params)
            try:
                space_id = space_id_of(params.pop("owner"), params.pop("name"))
                return await method(request, space_id, **params)
            except PodiumError as exc:
                return lfs_error(exc)
        return handle

    objects = f"{space}/info/lfs/objects"
    return [
        Route(f"{objects}/batch", endpoint(server.batch), methods=["POST"]),
        Route(f"{objects}/{{oid}}", endpoint(server.upload), methods=["PUT"]),
        Route(f"{objects}/{{oid}}", endpoint(server.download), methods=["GET"]),
    ]
