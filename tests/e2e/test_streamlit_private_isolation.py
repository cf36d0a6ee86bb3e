"""Issue 5 end to end: Streamlit through the proxy in a real browser (websocket both ways),
private Spaces with share links, and a Space's container walled off from the platform. And
issue 14: a code-only Streamlit push served by the warm standby."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import httpx

from podium.names import SpaceId
from podium.scheduler.warm import PATH_NEW, PATH_STANDBY
from podium.spaces.stage import Stage
from tests.e2e.browser import chromium, streamlit_hello_reacts, streamlit_shows
from tests.e2e.conftest import Podium
from tests.e2e.test_dev_mode import build_log, one_container, waiting_standby

STREAMLIT = SpaceId("admin", "st-hello")
DEMO = SpaceId("admin", "hello")  # deployed by start_platform, as `podium up` does


def test_streamlit_template_renders_and_reacts_through_the_proxy(podium_up: Podium) -> None:
    with podium_up.client() as api:
        created = api.post("/api/spaces", json={
            "name": STREAMLIT.name, "sdk": "streamlit", "template": "streamlit-hello",
        })
        assert created.status_code == 201, created.text
    podium_up.wait_stage(STREAMLIT, {Stage.RUNNING})

    with chromium() as browser:
        host = podium_up.space_host_url(STREAMLIT)
        for url in (host, podium_up.space_path_url(STREAMLIT)):
            streamlit_hello_reacts(browser, url, host)


def test_a_code_only_streamlit_push_runs_in_the_warm_standby(
    podium_up: Podium, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    # The template Space above deployed once; a second deploy soon after gets it a standby
    # (scheduler/warm.py), and the third, code only, runs in it: `streamlit run` in the
    # interpreter that imported Streamlit while frozen (runners/base/standby.py).
    podium_up.wait_stage(STREAMLIT, {Stage.RUNNING})
    repo = tmp_path / "repo"
    url = (f"http://{podium_up.admin_user}:{podium_up.api_token}@127.0.0.1:"
           f"{podium_up.settings.public_port}/spaces/{STREAMLIT}.git")
    subprocess.run(["git", "clone", "-q", url, str(repo)], check=True)
    app = repo / "app.py"
    app.write_text(app.read_text().replace("Hello Streamlit", "Second Streamlit"))
    podium_up.push(STREAMLIT, repo, "second version")
    assert PATH_NEW in build_log(podium_up, STREAMLIT)
    standby = waiting_standby(docker_client, podium_up, STREAMLIT)

    app.write_text(app.read_text().replace("Second Streamlit", "Warm Streamlit"))
    podium_up.push(STREAMLIT, repo, "code only")
    log = build_log(podium_up, STREAMLIT)
    assert PATH_STANDBY in log, log
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert podium_up.wait_stage(STREAMLIT, {Stage.RUNNING})["sha"] == commit
    assert one_container(docker_client, podium_up, STREAMLIT).id == standby.id
    with chromium() as browser:  # drawn by the new code, over the websocket, on its host
        streamlit_shows(browser, podium_up.space_host_url(STREAMLIT), "Warm Streamlit")


def test_private_space_admits_share_links_until_revoked_or_expired(podium_up: Podium) -> None:
    podium_up.wait_stage(DEMO, {Stage.RUNNING})
    url = podium_up.space_host_url(DEMO)
    with podium_up.client() as api:
        r = api.post(f"/api/spaces/{DEMO}/settings", json={"private": True})
        assert r.status_code == 200, r.text
        try:
            # Strangers get a 404, as on Spaces: a private Space's existence does not leak.
            anonymous = httpx.get(url + "config", timeout=30)
            assert anonymous.status_code == 404, anonymous.status_code
            assert httpx.get(f"{podium_up.base_url}/api/spaces/{DEMO}").status_code == 404

            link = api.post(f"/api/spaces/{DEMO}/share-links", json={"expires_in_s": 3600})
            assert link.status_code in (200, 201), link.text
            share = link.json()
            visitor = httpx.Client(follow_redirects=True, timeout=30)
            page = visitor.get(share["url"])
            assert page.status_code == 200
            assert visitor.get(url + "config").status_code == 200
            links = api.get(f"/api/spaces/{DEMO}/share-links").json()
            assert [x["views"] for x in links if x["id"] == share["id"]] == [1]

            assert api.delete(f"/api/spaces/{DEMO}/share-links/{share['id']}").status_code in (
                200, 204)
            # Revoking shuts out the visitor already let in, not only new visits.
            assert visitor.get(url + "config").status_code == 404
            visitor.close()
            with httpx.Client(follow_redirects=True, timeout=30) as late:
                refused = late.get(share["url"])
                assert refused.status_code == 403
                assert late.get(url + "config").status_code == 404

            short = api.post(f"/api/spaces/{DEMO}/share-links", json={"expires_in_s": 5})
            assert short.status_code == 201, short.text
            time.sleep(6)
            with httpx.Client(follow_redirects=True, timeout=30) as slow:
                assert slow.get(short.json()["url"]).status_code == 403
        finally:
            api.post(f"/api/spaces/{DEMO}/settings", json={"private": False})


def test_a_space_container_cannot_reach_the_platform(podium_up: Podium, docker_client) -> None:  # type: ignore[no-untyped-def]
    podium_up.wait_stage(DEMO, {Stage.RUNNING})
    containers = docker_client.containers.list(
        filters={"label": ["podium.role=space", f"podium.space_key={DEMO.key}"]}
    )
    assert containers, "the demo Space has no running container"
    container = containers[0]
    network = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))
    gateway = network["Gateway"]
    redis_port = int(podium_up.settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    probe = (
        "import socket,sys\n"
        "host,port=sys.argv[1],int(sys.argv[2])\n"
        "try:\n socket.create_connection((host,port),timeout=3); print('OPEN')\n"
        "except OSError as e: print('BLOCKED', e)\n"
    )
    def reach(host: str, port: int) -> str:
        code, out = container.exec_run(["python3", "-c", probe, host, str(port)])
        return out.decode()

    # Control: the probe itself works (the app's own port, inside the container).
    assert reach("127.0.0.1", 7860).startswith("OPEN")
    # The proxy listens on all interfaces, so only the firewall stands between a Space and
    # the API behind it; Redis and the API listen on loopback.
    for port in (podium_up.settings.public_port, podium_up.settings.api_port, redis_port):
        assert reach(gateway, port).startswith("BLOCKED"), port
