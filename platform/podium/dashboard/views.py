"""What the dashboard's templates are given: plain view objects built from store records and
settings. Pure functions (no I/O except reading templates/ from disk), so every rule here is
unit-tested without a server."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from podium.config import Settings
from podium.controller.templates import Template, list_templates
from podium.controller.urls import SpaceUrls
from podium.names import SpaceId
from podium.spaces.stage import Sdk, Stage
from podium.store.models import Space

PAGE_SIZE = 24

# Spaces' named card colours; only these reach the page (as CSS class names), so a README
# cannot inject CSS through colorFrom/colorTo.
CARD_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
DEFAULT_EMOJI = "🚀"

STAGE_LABELS: dict[Stage, str] = {
    Stage.NO_APP_FILE: "No app file",
    Stage.CONFIG_ERROR: "Config error",
    Stage.BUILDING: "Building",
    Stage.BUILD_ERROR: "Build error",
    Stage.APP_STARTING: "Starting",
    Stage.RUNNING: "Running",
    Stage.RUNNING_BUILDING: "Running · rebuilding",
    Stage.RUNNING_APP_STARTING: "Running · restarting",
    Stage.RUNTIME_ERROR: "Runtime error",
    Stage.SLEEPING: "Sleeping",
    Stage.PAUSED: "Paused",
    Stage.STOPPED: "Stopped",
    Stage.DELETING: "Deleting",
}

SDK_LABELS: dict[Sdk, str] = {
    Sdk.GRADIO: "Gradio", Sdk.STREAMLIT: "Streamlit", Sdk.DOCKER: "Docker",
    Sdk.STATIC: "Static",
}


def stage_tone(stage: Stage | str) -> str:
    """The badge colour family: the same words the JavaScript uses for live updates."""
    stage = Stage(stage)
    if stage.is_serving:
        return "ok"
    if stage.is_error:
        return "error"
    if stage in (Stage.BUILDING, Stage.APP_STARTING, Stage.DELETING):
        return "busy"
    return "idle"


def card_color(name: str | None, fallback: str) -> str:
    return name if name in CARD_COLORS else fallback


@dataclass(frozen=True, slots=True)
class Card:
    """One gallery card. Everything a template shows of a Space, already defaulted."""

    id: str
    owner: str
    name: str
    title: str
    emoji: str
    color_from: str
    color_to: str
    description: str
    sdk: str
    sdk_label: str
    stage: str
    stage_label: str
    tone: str
    likes: int
    pinned: bool
    private: bool
    urls: SpaceUrls

    @classmethod
    def of(cls, settings: Settings, space: Space) -> Card:
        space_id = SpaceId(space.owner, space.name)
        stage = Stage(space.stage)
        sdk = Sdk(space.sdk)
        return cls(
            id=str(space_id), owner=space.owner, name=space.name,
            title=space.title or space.name, emoji=space.emoji or DEFAULT_EMOJI,
            color_from=card_color(space.color_from, "indigo"),
            color_to=card_color(space.color_to, "purple"),
            description=space.short_description or "", sdk=sdk.value,
            sdk_label=SDK_LABELS.get(sdk, sdk.value), stage=stage.value,
            stage_label=STAGE_LABELS[stage], tone=stage_tone(stage), likes=space.likes or 0,
            pinned=bool(space.pinned), private=bool(space.private),
            urls=SpaceUrls.of(settings, space_id),
        )


@dataclass(frozen=True, slots=True)
class Pager:
    page: int  # 1-based
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @staticmethod
    def clamp(page: int) -> int:
        return max(1, page)

    def window(self, width: int = 2) -> list[int | None]:
        """Page numbers to link, with None for a gap: [1, None, 7, 8, 9, None, 42]."""
        keep = {1, self.pages} | set(range(self.page - width, self.page + width + 1))
        out: list[int | None] = []
        for n in sorted(p for p in keep if 1 <= p <= self.pages):
            if out and out[-1] is not None and n - out[-1] > 1:  # type: ignore[operator]
                out.append(None)
            out.append(n)
        return out


def query_string(params: dict[str, str | int | None], **change: str | int | None) -> str:
    """``params`` with ``change`` applied, empty values dropped: for filter and page links."""
    merged = {**params, **change}
    clean = {
        k: v for k, v in merged.items() if v not in (None, "") and not (k == "page" and v == 1)
    }
    return "?" + urlencode(clean) if clean else ""


@dataclass(frozen=True, slots=True)
class TemplateCard:
    """A starter Space on /new, described by its own README front matter."""

    name: str
    title: str
    emoji: str
    sdk: str
    description: str
    color_from: str
    color_to: str

    @classmethod
    def of(cls, template: Template) -> TemplateCard:
        config = template.config
        return cls(
            name=template.name, title=config.title or template.name,
            emoji=config.emoji or DEFAULT_EMOJI, sdk=config.sdk.value,
            description=config.short_description or "",
            color_from=card_color(config.color_from, "indigo"),
            color_to=card_color(config.color_to, "purple"),
        )


def template_cards(settings: Settings) -> list[TemplateCard]:
    """The templates controller.templates offers (the API's list and `create --template`
    take theirs from there too), as cards."""
    return [TemplateCard.of(t) for t in list_templates(settings)]


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


SLEEP_CHOICES: list[tuple[int, str]] = [
    (0, "Never"), (300, "5 minutes"), (900, "15 minutes"), (3600, "1 hour"),
    (6 * 3600, "6 hours"), (24 * 3600, "24 hours"), (48 * 3600, "48 hours"),
    (7 * 24 * 3600, "1 week"),
]

SHARE_EXPIRY_CHOICES: list[tuple[int, str]] = [
    (3600, "1 hour"), (24 * 3600, "1 day"), (7 * 24 * 3600, "7 days"),
    (30 * 24 * 3600, "30 days"), (0, "Never"),
]


# The <gradio-app> web component's entry, served by the Space's own Gradio server (the
# Gradio runner's image puts it there): the embedding page then loads the front end of the
# Space's own Gradio version from the Space's host, never from a CDN.
GRADIO_JS_PATH = "assets/gradio.js"


def embed_snippets(urls: SpaceUrls, sdk: str) -> dict[str, str]:
    """HTML to paste elsewhere, as plain text (the page escapes it when showing it)."""
    snippets = {
        "iframe": f'<iframe\n\tsrc="{urls.host}"\n\tframeborder="0"\n\twidth="850"\n'
                  f'\theight="450"\n></iframe>',
    }
    if sdk == Sdk.GRADIO:
        script = urls.host.rstrip("/") + "/" + GRADIO_JS_PATH
        snippets["gradio"] = (
            f'<script\n\ttype="module"\n\tsrc="{script}"\n></script>\n\n'
            f'<gradio-app src="{urls.host}"></gradio-app>'
        )
    return snippets
