"""The few pages the proxy answers itself (unknown Space, starting, waking, paused,
crashed, access denied): HTML for browsers, JSON in the ``podium.errors`` shape for API
clients. Small and dependency-free on purpose: they must render when nothing else works."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse, JSONResponse, Response

from podium.errors import PodiumError

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{title}</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;color:#1f2937;background:#f9fafb;margin:0;
display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{max-width:36rem;padding:2rem;background:#fff;border:1px solid #e5e7eb;border-radius:12px}}
h1{{font-size:1.25rem;margin:0 0 .5rem}} p{{margin:.5rem 0}} .hint{{color:#6b7280}}
</style></head>
<body><main><h1>{title}</h1><p>{message}</p>{hint}{link}</main>{script}</body></html>
"""

# Polls the proxy's status endpoint and reloads as soon as the Space serves, so a visitor
# does not wait out the whole meta-refresh interval: every 200 ms for the first 5 s (a
# frozen Space thaws in tens of ms, a Gradio app starts in ~3 s), then every second.
_POLL = """<script>
(function poll(n){{fetch({url},{{cache:"no-store"}}).then(function(r){{return r.json()}})
.then(function(s){{if(s.ready){{location.reload()}}else{{setTimeout(poll,n<25?200:1000,n+1)}}}})
.catch(function(){{setTimeout(poll,2000,n+1)}})}})(0);
</script>"""


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    title: str
    message: str
    hint: str | None = None
    code: str = "unavailable"
    # Seconds after which a browser reloads on its own, and the status URL it polls.
    refresh: int | None = None
    status_url: str | None = None
    link: tuple[str, str] | None = None  # (href, text), e.g. the Space's logs

    def html(self) -> HTMLResponse:
        refresh = f'<meta http-equiv="refresh" content="{self.refresh}">\n' if self.refresh else ""
        script = _POLL.format(url=json.dumps(self.status_url)) if self.status_url else ""
        hint = f'<p class="hint">{escape(self.hint)}</p>' if self.hint else ""
        link = (f'<p><a href="{escape(self.link[0])}">{escape(self.link[1])}</a></p>'
                if self.link else "")
        body = _PAGE.format(
            title=escape(self.title), message=escape(self.message), hint=hint, link=link,
            refresh=refresh, script=script,
        )
        return HTMLResponse(body, status_code=self.status, headers=self._headers())

    def json(self) -> JSONResponse:
        data = {"error": self.code, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.link:
            data["logs"] = self.link[0]
        return JSONResponse(data, status_code=self.status, headers=self._headers())

    def response(self, html: bool) -> Response:
        return self.html() if html else self.json()

    def _headers(self) -> dict[str, str]:
        headers = {"cache-control": "no-store"}
        if self.refresh:
            headers["retry-after"] = str(self.refresh)
        return headers

    @classmethod
    def from_error(cls, exc: PodiumError, title: str) -> Page:
        return cls(exc.http_status, title, exc.message, exc.hint, exc.code)


def not_found(space: str) -> Page:
    return Page(
        404, "Space not found", f"There is no Space named {space} here.",
        "Check the spelling of the address, or the Space may have been deleted.",
        code="not_found",
    )


def git_on_space_host(subdomain: str, base_url: str) -> Page:
    return Page(
        404, "Not found", f"Git is not served on the Space host of {subdomain}.",
        f"Clone from {base_url}/spaces/OWNER/NAME instead.", code="not_found",
    )


def waking(space: str, status_url: str) -> Page:
    return Page(
        503, "Waking up", f"The Space {space} was asleep and is starting again.",
        "This page reloads by itself when the app is ready.", code="sleeping",
        refresh=5, status_url=status_url,
    )


def starting(space: str, stage: str, status_url: str, logs_url: str) -> Page:
    if stage == "BUILDING":  # a first build (or one with nothing serving): say so
        return Page(
            503, "Building", f"The Space {space} is being built; it starts when the build "
            "succeeds.", "This page reloads by itself when the app is ready.",
            code="building", refresh=5, status_url=status_url,
            link=(logs_url, "Follow the build logs"),
        )
    return Page(
        503, "Starting", f"The Space {space} is not serving yet ({stage}).",
        "This page reloads by itself when the app is ready.", code="starting",
        refresh=5, status_url=status_url, link=(logs_url, "See the logs"),
    )


def paused(space: str, settings_url: str) -> Page:
    return Page(
        503, "Paused", f"The Space {space} has been paused by its owner.",
        f"Its owner resumes it with `podium resume {space}` or the Resume button on the "
        "Space's settings page.", code="paused",
        link=(settings_url, "Space settings"),
    )


_FAILED_TITLES = {"BUILD_ERROR": "Build failed", "CONFIG_ERROR": "Configuration error",
                  "NO_APP_FILE": "No app yet"}


def failed(space: str, stage: str, logs_url: str) -> Page:
    return Page(
        503, _FAILED_TITLES.get(stage, "Space error"),
        f"The Space {space} is not running ({stage}).",
        "Its owner can see the build and container logs on the Space's page.",
        code=stage.lower(), link=(logs_url, "See the logs"),
    )


def upstream_down(space: str) -> Page:
    return Page(
        502, "Space unreachable",
        f"The app of the Space {space} did not answer: it may be restarting or it crashed.",
        "Try again in a few seconds; if this persists, its owner can check the logs.",
        code="bad_gateway", refresh=10,
    )


def api_down() -> Page:
    return Page(
        502, "Podium is starting", "The Podium API did not answer.",
        "Try again in a few seconds.", code="bad_gateway", refresh=5,
    )


def wait_timeout(space: str) -> Page:
    return Page(
        503, "Still starting", f"The Space {space} did not become ready in time.",
        "Retry the request; it is probably still starting.", code="starting", refresh=5,
    )
