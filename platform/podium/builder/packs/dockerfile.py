"""What a Space's own Dockerfile may make the Docker daemon fetch.

The daemon, not a build container, runs ``ADD <url>`` and pulls missing ``FROM`` /
``COPY --from`` images, from the host's own network namespace: the bridge firewall that
confines RUN steps does not apply, so ``ADD http://127.0.0.1:9000/...`` would read this
host's loopback (the API, Redis, the proxy) and ``FROM 127.0.0.1:6379/x`` would send the
registry protocol there. ``check_fetches`` refuses remote ``ADD`` sources outright (a RUN
step with curl fetches through the firewall instead) and image references whose registry
is not a public address (podium.netguard).

The parse follows the classic builder: the ``escape`` directive, continuation lines,
comment lines inside continuations, case-insensitive keywords, JSON or shell form,
``ONBUILD`` triggers, and ``$VAR`` / ``${VAR}`` from ``ARG`` defaults (a Space cannot pass
build arguments, so the defaults are what the daemon would use).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from podium.errors import BuildError
from podium.netguard import AllowList, EgressRefused, check_host

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(.+?)\s*$")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^git@")
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")
_ADD_HINT = ("download it in a RUN step instead (RUN curl -fsSLo /dest URL): RUN steps "
             "reach the internet through the build network's firewall; use COPY for files "
             "in the repository")


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined."""
    escape = "\\"
    lines = text.splitlines()
    for line in lines:  # parser directives come first; the first other line ends them
        match = _DIRECTIVE_RE.match(line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            escape = match.group(2)[:1] or "\\"
    buffer: list[str] = []
    for raw in lines:  # directives are comments from here on
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue  # comments, also between continuation lines; blank lines
        if stripped.endswith(escape):
            buffer.append(stripped[: -len(escape)])
            continue
        buffer.append(stripped)
        yield _split(" ".join(buffer))
        buffer = []
    if buffer:
        yield _split(" ".join(buffer))


def _split(line: str) -> tuple[str, str]:
    keyword, _, rest = line.strip().partition(" ")
    return keyword.upper(), rest.strip()


def _words(args: str) -> list[str]:
    """The arguments of a JSON-form or shell-form instruction."""
    if args.startswith("["):
        try:
            parsed = json.loads(args)
            if isinstance(parsed, list):
                return [str(word) for word in parsed]
        except ValueError:
            pass
    return args.split()


def _expand(word: str, args: dict[str, str]) -> str:
    return _VAR_RE.sub(lambda m: args.get(m.group(1) or m.group(2), ""), word)


def _check_add(words: list[str], args: dict[str, str]) -> None:
    sources = [w for w in words if not w.startswith("--")][:-1]
    for source in sources:
        if _SCHEME_RE.match(source) or _SCHEME_RE.match(_expand(source, args)):
            raise BuildError(
                f"ADD {source}: the Dockerfile may not ADD from a URL (the Docker daemon "
                "would fetch it from this server's own network)", hint=_ADD_HINT)


def _registry(ref: str) -> str | None:
    """The registry host[:port] of an image reference, None for Docker Hub."""
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _check_image(ref: str, allow: AllowList, stages: set[str]) -> None:
    if ref.lower() in stages or ref.isdigit() or ref.lower() == "scratch":
        return
    registry = _registry(ref)
    if registry is None:
        return
    if registry.startswith("["):  # [v6]:port
        host = registry[1:].partition("]")[0]
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    try:
        check_host(host, allow)
    except EgressRefused:
        raise BuildError(
            f"the image {ref} names a registry this server does not fetch from",
            hint="use an image from a public registry") from None


def _define(keyword: str, words: list[str], args: dict[str, str]) -> None:
    if keyword == "ENV" and words and "=" not in words[0]:  # legacy "ENV NAME value ..."
        args[words[0]] = _expand(" ".join(words[1:]), args)
        return
    for word in words:
        name, _, value = word.partition("=")
        args[name] = _expand(value.strip("\"'"), args)


def check_fetches(text: str, allow: AllowList | None = None) -> None:
    """Raise BuildError when the Dockerfile would make the daemon fetch from a URL or
    from a registry that is not on the internet."""
    allow = allow or AllowList()
    args: dict[str, str] = {}
    stages: set[str] = set()
    for keyword, rest in instructions(text):
        if keyword == "ONBUILD":  # a trigger runs in another build: same rules
            keyword, rest = _split(rest)
        words = _words(rest)
        if keyword in ("ARG", "ENV"):  # both are substituted into ADD and FROM
            _define(keyword, words, args)
        elif keyword == "ADD":
            _check_add(words, args)
        elif keyword == "FROM" and words:
            image = [w for w in words if not w.startswith("--")]
            if image:
                _check_image(_expand(image[0], args), allow, stages)
            if len(image) >= 3 and image[1].lower() == "as":
                stages.add(image[2].lower())
        elif keyword == "COPY":
            for word in words:
                if word.startswith("--from="):
                    _check_image(_expand(word.split("=", 1)[1], args), allow, stages)
