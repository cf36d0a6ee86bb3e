"""The smart-HTTP git ASGI app: routes, access checks, and the CGI environment for
``git http-backend``. Mount it (or dispatch to it with ``paths.is_git_path``) in the API process."""

from __future__ import annotations

import io
import os
import secrets
import sys

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from podium.config import Settings
from podium.errors import BadRequest, PodiumError, Unauthorized
from podium.names import SpaceId

from .auth import FailureThrottle, GitAccess, authorize, space_id_of
from .cgi import GitBackendResponse, RequestTooLarge
from .hook import load_push_handler, post_receive
from .lfs import lfs_routes
from .relay import HOOK_PATH, TICKET_VAR, URL_VAR, issue_ticket, ticket_valid
from .repo import PUSHER_VAR, PYTHON_VAR, SPACE_VAR, ensure_repo

UPLOAD_PACK = "git-upload-pack"
RECEIVE_PACK = "git-receive-pack"
# Fetch negotiation requests are small; http-backend itself buffers at most 10 MB of them.
NEGOTIATION_MAX_BYTES = 32 << 20
# Room for the ref-update commands in front of the pack.
PUSH_SLACK_BYTES = 1 << 20

def _space_id(request: Request) -> SpaceId:
    return space_id_of(request.path_params["owner"], request.path_params["name"])


def _extra_python_path() -> str:
    # Hooks run our interpreter afresh; hand them the import path entries that did not come
    # from the installation itself (PYTHONPATH, a test runner's rootdir), so a push_handler
    # importable here is importable there.
    prefixes = (sys.prefix, sys.base_prefix)
    return os.pathsep.join(p for p in sys.path if p and not p.startswith(prefixes))


class GitServer:
    def __init__(
        self, settings: Settings, access: GitAccess, throttle: FailureThrottle | None = None,
    ) -> None:
        self.settings = settings
        self.access = access
        self.throttle = throttle
        if settings.push_handler:
            load_push_handler(settings.push_handler)  # a typo fails at start, not on push
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PODIUM_"))
        }
        self.base_env = {
            **base,
            **settings.to_env(),
            PYTHON_VAR: sys.executable,
            "PYTHONPATH": _extra_python_path(),
            "GIT_PROJECT_ROOT": str(settings.repos_dir),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        # The hooks of a push hand post-receive back to this process (relay.py), which has
        # the platform imported; the ticket proves a call comes from a push this process let
        # in (the route is reachable through the proxy like any API path).
        self.ticket_key = secrets.token_bytes(32)

    async def info_refs(self, request: Request) -> Response:
        service = request.query_params.get("service", "")
        if service not in (UPLOAD_PACK, RECEIVE_PACK):
            raise BadRequest(
                "Podium serves git over the smart HTTP protocol only.",
                hint="use git 1.6.6 or newer",
            )
        return await self._backend(request, service, "info/refs")

    async def upload_pack(self, request: Request) -> Response:
        return await self._backend(request, UPLOAD_PACK, UPLOAD_PACK)

    async def receive_pack(self, request: Request) -> Response:
        return await self._backend(request, RECEIVE_PACK, RECEIVE_PACK)

    async def _backend(self, request: Request, service: str, tail: str) -> Response:
        space_id = _space_id(request)
        principal = await run_in_threadpool(
            authorize, self.access, space_id,
            write=service == RECEIVE_PACK, authorization=request.headers.get("authorization"),
            throttle=self.throttle, address=request.client.host if request.client else "",
        )
        git_dir = await run_in_threadpool(ensure_repo, self.settings, space_id)
        limit, too_large = self._limit(service, space_id)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise too_large
        env = self._cgi_env(request, git_dir.relative_to(self.settings.repos_dir), tail)
        env[SPACE_VAR] = str(space_id)
        if principal is not None:
            env["REMOTE_USER"] = env[PUSHER_VAR] = principal.username
            if service == RECEIVE_PACK:
                env[URL_VAR] = self._hook_url(request)
                env[TICKET_VAR] = issue_ticket(self.ticket_key, str(space_id),
                                               principal.username)
        return GitBackendResponse(env, limit, too_large, refuse_push=service == RECEIVE_PACK)

    def _hook_url(self, request: Request) -> str:
        """This process, as the hook reaches it: the socket the push came in on (the API's
        port behind the proxy; a test's own port), else the configured API port."""
        host, port = request.scope.get("server") or (self.settings.api_host,
                                                     self.settings.api_port)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}{HOOK_PATH}"

    async def post_receive(self, request: Request) -> Response:
        """Post-receive of a push this server runs, called by its hook process (relay.py);
        answers the lines the pusher sees as ``remote:``."""
        try:
            body = await request.json()
            space, pusher = str(body["space"]), str(body["pusher"])
            ticket, updates = str(body["ticket"]), str(body["updates"])
        except (ValueError, KeyError, TypeError):
            return PlainTextResponse("bad hook request\n", status_code=400)
        if not ticket_valid(self.ticket_key, ticket, space, pusher):
            return PlainTextResponse("invalid hook ticket\n", status_code=403)
        space_id = SpaceId.parse(space)
        git_dir = space_id.repo_path(self.settings.repos_dir)
        out = io.StringIO()
        await run_in_threadpool(post_receive, self.settings, git_dir, io.StringIO(updates),
                                out, space, pusher)
        return PlainTextResponse(out.getvalue())

    def _limit(self, service: str, space_id: SpaceId) -> tuple[int, RequestTooLarge]:
        if service != RECEIVE_PACK:
            return NEGOTIATION_MAX_BYTES, RequestTooLarge("The fetch request is too large.")
        cap = self.settings.repo_max_bytes
        return cap + PUSH_SLACK_BYTES, RequestTooLarge(
            f"Push rejected: it is larger than the {cap / (1 << 20):.1f} MiB a repository "
            f"may hold on this server ({space_id}).",
            hint="remove the large files from your commits and push again",
        )

    def _cgi_env(self, request: Request, repo: os.PathLike[str], tail: str) -> dict[str, str]:
        headers = request.headers
        env = dict(self.base_env)
        env.update({
            "REQUEST_METHOD": request.method,
            "PATH_INFO": f"/{os.fspath(repo)}/{tail}",
            "QUERY_STRING": request.url.query,
            "REMOTE_ADDR": request.client.host if request.client else "",
        })
        optional = {
            "CONTENT_TYPE": headers.get("content-type"),
            "CONTENT_LENGTH": headers.get("content-length"),
            # http-backend inflates gzip bodies itself (git gzips large fetch negotiations).
            "HTTP_CONTENT_ENCODING": headers.get("content-encoding"),
            "HTTP_GIT_PROTOCOL": headers.get("git-protocol"),
        }
        env.update({k: v for k, v in optional.items() if v})
        return env


async def _error_response(request: Request, exc: Exception) -> Response:
    # git shows text/plain bodies of failed info/refs requests as "remote:" lines.
    assert isinstance(exc, PodiumError)
    text = exc.message + (f"\n{exc.hint}" if exc.hint else "") + "\n"
    headers = exc.http_headers()
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="Podium"'

    return PlainTextResponse(text, status_code=exc.http_status, headers=headers)


def create_git_app(
    settings: Settings, access: GitAccess, throttle: FailureThrottle | None = None,
) -> ASGIApp:
    server = GitServer(settings, access, throttle)
    # {name} also matches "demo.git": both URL spellings serve the same repository.
    space = "/spaces/{owner}/{name}"
    routes = [
        Route(f"{space}/info/refs", server.info_refs, methods=["GET"]),
        Route(f"{space}/{UPLOAD_PACK}", server.upload_pack, methods=["POST"]),
        Route(f"{space}/{RECEIVE_PACK}", server.receive_pack, methods=["POST"]),
        Route(HOOK_PATH, server.post_receive, methods=["POST"]),
        *lfs_routes(settings, access, throttle, space),
    ]
    return Starlette(routes=routes, exception_handlers={PodiumError: _error_response})
