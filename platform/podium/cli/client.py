"""Client commands: talk to a running Podium over its HTTP API (never to the store).

Credentials (URL + API token) live in ``$XDG_CONFIG_HOME/podium/credentials.json`` (mode
0600); PODIUM_URL and PODIUM_TOKEN override them, for CI. The HTTP side is apiclient.py.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from podium.errors import (
    BadRequest,
    BuildError,
    PodiumError,
    ServiceUnavailable,
    SpaceRuntimeError,
)
from podium.spaces.stage import BuildPhase, BuildStatus

from .apiclient import DEFAULT_URL, Api, api, error_from, load_credentials, save_credentials
from .base import app, console, fail

PHASES = list(BuildPhase)
out = Console(highlight=False)

secrets_app = typer.Typer(no_args_is_help=True, help="A Space's secrets (write-only).")
variables_app = typer.Typer(no_args_is_help=True, help="A Space's variables.")
token_app = typer.Typer(no_args_is_help=True, help="Your API tokens.")
app.add_typer(secrets_app, name="secrets")
app.add_typer(variables_app, name="variables")
app.add_typer(token_app, name="token")

SpaceArg = Annotated[str, typer.Argument(help="owner/name")]


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except PodiumError as exc:
        raise fail(exc) from exc


def _space_path(space: str) -> str:
    from podium.names import SpaceId

    return f"/api/spaces/{SpaceId.parse(space)}"


# --- account -----------------------------------------------------------------------------


@app.command()
def login(
    url: Annotated[str | None, typer.Option(help="Podium's public URL")] = None,
    token: Annotated[str | None, typer.Option(help="an API token (pod_...)")] = None,
    username: Annotated[str | None, typer.Option("--username", "-u")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p")] = None,
) -> None:
    """Store the URL and a token; with a user name and password, create the token."""
    with handled():
        base = (url or load_credentials().get("url") or DEFAULT_URL).rstrip("/")
        if token is None:
            if not username:
                raise BadRequest("give --token, or --username and --password")
            if password is None:
                password = typer.prompt("password", hide_input=True)
            token = _token_from_password(base, username, password)
        me = Api(base, token).call("GET", "/api/whoami")
        path = save_credentials(base, token)
    console.print(f"logged in to {base} as [bold]{me['username']}[/] (token in {path})")


def _token_from_password(url: str, username: str, password: str) -> str:
    with Api(url).client() as http:  # keeps the session cookie between the two calls
        try:
            response = http.post("/api/login", json={"username": username, "password": password})
            if response.status_code >= 400:
                raise error_from(response)
            name = f"cli-{socket.gethostname()}"[:100]
            response = http.post("/api/tokens", json={"name": name, "scope": "write"})
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach Podium at {url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return str(response.json()["token"])


@app.command()
def whoami() -> None:
    """Who the stored token belongs to."""
    with handled():
        me = api().call("GET", "/api/whoami")
    out.print(me["username"] + (" (admin)" if me["is_admin"] else ""))


@token_app.command("create")
def token_create(
    name: str,
    scope: Annotated[str, typer.Option(help="read or write")] = "write",
) -> None:
    """Create a token; it is printed once, on stdout."""
    with handled():
        made = api().call("POST", "/api/tokens", json={"name": name, "scope": scope})
    console.print(f"token [bold]{made['name']}[/] ({made['scope']}): shown once, keep it")
    out.print(made["token"])


@token_app.command("list")
def token_list() -> None:
    with handled():
        tokens = api().call("GET", "/api/tokens")
    table = Table("id", "name", "prefix", "scope", "created", "last used")
    for t in tokens:
        table.add_row(str(t["id"]), t["name"], t["prefix"] + "…", t["scope"],
                      t["created_at"][:19], (t["last_used_at"] or "never")[:19])
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    with handled():
        api().call("DELETE", f"/api/tokens/{token_id}")
    console.print(f"token {token_id} revoked")


# --- Spaces ------------------------------------------------------------------------------


@app.command()
def create(
    space: SpaceArg,
    sdk: Annotated[str | None, typer.Option(help="gradio, streamlit, docker or static")] = None,
    template: Annotated[str | None, typer.Option(help="start from templates/<name>")] = None,
    from_url: Annotated[str | None, typer.Option(help="import a public git repository")] = None,
    private: Annotated[bool, typer.Option(help="only you (and share links) can open it")
                       ] = False,
) -> None:
    """Create a Space and print how to push to it."""
    from podium.names import SpaceId

    with handled():
        space_id = SpaceId.parse(space)
        created = api().call("POST", "/api/spaces", json={
            "name": space_id.name, "owner": space_id.owner, "sdk": sdk, "template": template,
            "from_url": from_url, "private": private,
        })
    # Without --sdk (and no template or import) the first push's README or files decide.
    shown = created["sdk"] if sdk or template or from_url else "sdk set by the first push"
    out.print(f"created [bold]{created['id']}[/] ({shown}, {created['stage']})")
    out.print(f"  Space:   {created['url']}")
    out.print(f"  git:     {created['git_url']}")
    if from_url and not created["head_commit"]:
        # The clone runs on the server after this reply (it may take minutes).
        out.print(f"  {created['stage_message'] or 'importing'}: its build starts when the "
                  f"clone lands; `podium status {created['id']}` shows how it went")
    elif created["head_commit"]:
        out.print(f"  a build of {created['head_commit'][:12]} is queued: "
                  f"podium logs -f {created['id']}")
        out.print(f"  clone:   git clone {created['git_url']}")
    else:
        out.print("  push your code:")
        out.print(f"    git remote add space {created['git_url']}")
        out.print("    git push space main")
    out.print(f"  (git asks for a user name, {created['owner']}, and a password: an API "
              "token, see `podium token create`)")


@app.command()
def status(
    space: Annotated[str | None, typer.Argument(help="owner/name; all Spaces if omitted")
                     ] = None,
    owner: Annotated[str | None, typer.Option(help="only this owner's Spaces")] = None,
) -> None:
    """A table of Spaces, or one Space's runtime."""
    with handled():
        client = api(require_token=False)
        if space is None:
            listed = client.call("GET", "/api/spaces", params={"limit": 100, "owner": owner}
                                 if owner else {"limit": 100})
        else:
            info = client.call("GET", _space_path(space))
            runtime = client.call("GET", _space_path(space) + "/runtime")
    if space is None:
        table = Table("Space", "sdk", "stage", "private", "url")
        for s in listed:
            table.add_row(s["id"], s["sdk"], s["stage"], "yes" if s["private"] else "",
                          s["url"])
        out.print(table)
        out.print(f"{len(listed)} Spaces" + (" (the first 100)" if len(listed) == 100 else ""))
        return
    build = runtime.get("build") or {}
    rows = [
        ("Space", info["id"]), ("stage", runtime["stage"]), ("url", info["url"]),
        ("host", info["host"]), ("git", info["git_url"]),
        ("head", (info["head_commit"] or "-")[:12]), ("running", (runtime["sha"] or "-")[:12]),
        ("build", f"{build['id'][:12]} {build['status']} at {build['commit'][:12]}"
         if build else "-"),
        ("sleeps after", f"{runtime['gcTimeout']} s idle" if runtime["gcTimeout"] else "never"),
    ]
    if runtime.get("errorMessage"):
        rows.append(("error", runtime["errorMessage"]))
    for key, value in rows:
        out.print(f"[bold]{key:>12}[/]  {value}")


@app.command()
def logs(
    space: SpaceArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep streaming")] = False,
    run: Annotated[bool, typer.Option("--run", help="the container's log, not the build's")
                   ] = False,
) -> None:
    """The latest push's log with its phases, from the clone until the app answers (or,
    with --run, the running app's)."""
    with handled():
        client = api(require_token=False)
        path = _space_path(space)
        if run:
            for _, data in client.events(path + "/logs/run", follow=follow,
                                         params={"follow": str(follow).lower()}):
                out.print(data.get("data", "") if isinstance(data, dict) else data,
                          markup=False)
            return
        end = _show_build_log(client, path, follow)
    if end is not None and end[0] != "ready":
        built = end[1] == BuildStatus.SUCCEEDED
        raise typer.Exit(SpaceRuntimeError.exit_code if built else BuildError.exit_code)


def _show_build_log(client: Api, path: str, follow: bool) -> tuple[str, BuildStatus] | None:
    """Stream the push's log under a phase progress bar; returns the terminal event (ready
    or failed) and the build's status, or None when not following and it has not ended."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total} phases"), console=out,
                        transient=True)
    task = progress.add_task("waiting for a worker", total=len(PHASES))
    final: tuple[str, str, str] | None = None
    with progress:
        for event, data in client.events(path + "/logs/build", follow=follow):
            if event in ("ready", "failed"):
                info = data if isinstance(data, dict) else {}
                final = (event, str(info.get("status", "")), str(info.get("reason", "")))
                break
            if not isinstance(data, dict):
                continue
            phase = data.get("phase")
            if phase in PHASES:
                progress.update(task, description=phase, completed=PHASES.index(phase))
            progress.console.print(data.get("data", ""), markup=False, highlight=False)
    if final is None:
        build = client.call("GET", path + "/runtime").get("build") or {}
        out.print(f"build {build.get('id', '?')[:12]} is {build.get('status', 'unknown')} "
                  "(use -f to follow it)")
        return None
    event, status, reason = final
    known = BuildStatus(status) if status in BuildStatus.__members__ else BuildStatus.FAILED
    if event == "ready":
        out.print("[bold green]ready[/]: the app answers")
    elif known is BuildStatus.SUCCEEDED:  # built, but the app did not start
        out.print("[bold red]start failed[/]" + (f": {reason}" if reason else ""))
    else:
        out.print(f"[bold red]build {status}[/]" + (f": {reason}" if reason else ""))
    return event, known


def _runtime_action(space: str, action: str, **params: Any) -> None:
    with handled():
        runtime = api().call("POST", f"{_space_path(space)}/{action}", params=params)
    build = runtime.get("build") or {}
    note = f" (build {build['id'][:12]} {build['status']})" if build else ""
    out.print(f"{space}: {runtime['stage']}{note}")


@app.command()
def restart(
    space: SpaceArg,
    factory: Annotated[bool, typer.Option(help="rebuild from scratch, without cache")] = False,
) -> None:
    """Restart with current secrets and variables (or rebuild with --factory)."""
    _runtime_action(space, "restart", **({"factory": "true"} if factory else {}))


@app.command()
def pause(space: SpaceArg) -> None:
    """Stop the Space until resumed; visitors do not wake it."""
    _runtime_action(space, "pause")


@app.command()
def resume(space: SpaceArg) -> None:
    _runtime_action(space, "resume")


# --- secrets and variables ---------------------------------------------------------------


def _value(value: str | None) -> str:
    if value is None or value == "-":
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return value


ValueArg = Annotated[str | None, typer.Argument(help="the value; '-' or nothing: stdin")]


@secrets_app.command("set")
def secrets_set(space: SpaceArg, key: str, value: ValueArg = None) -> None:
    """Set a secret (restarts the Space if it runs). Prefer '-' so the value stays out of
    your shell history."""
    with handled():
        api().call("POST", f"{_space_path(space)}/secrets",
                   json={"key": key, "value": _value(value)})
    console.print(f"secret {key} set on {space}")


@secrets_app.command("list")
def secrets_list(space: SpaceArg) -> None:
    with handled():
        found = api().call("GET", f"{_space_path(space)}/secrets")
    for item in found:
        out.print(f"{item['key']}  (updated {item['updatedAt'][:19]})")


@secrets_app.command("delete")
def secrets_delete(space: SpaceArg, key: str) -> None:
    with handled():
        api().call("DELETE", f"{_space_path(space)}/secrets", json={"key": key})
    console.print(f"secret {key} deleted from {space}")


@variables_app.command("set")
def variables_set(
    space: SpaceArg, key: str, value: ValueArg = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Set a variable (restarts the Space if it runs)."""
    with handled():
        api().call("POST", f"{_space_path(space)}/variables",
                   json={"key": key, "value": _value(value), "description": description})
    console.print(f"variable {key} set on {space}")


@variables_app.command("list")
def variables_list(space: SpaceArg) -> None:
    with handled():
        found = api(require_token=False).call("GET", f"{_space_path(space)}/variables")
    for key, item in found.items():
        out.print(f"{key}={item['value']}", markup=False)


@variables_app.command("delete")
def variables_delete(space: SpaceArg, key: str) -> None:
    with handled():
        api().call("DELETE", f"{_space_path(space)}/variables", json={"key": key})
    console.print(f"variable {key} deleted from {space}")
