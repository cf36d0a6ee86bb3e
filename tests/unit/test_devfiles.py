"""Dev mode's engine side, without an engine: what a push's files become before they are
copied into a running container, and the environment that turns each SDK's reloader on."""

from __future__ import annotations

import io
import tarfile

from podium.scheduler.devfiles import as_space_user, reload_env


def _archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, mode, kind in (("pkg", 0o755, tarfile.DIRTYPE), ("pkg/app.py", 0o4755, None),
                                 ("dev", 0o666, tarfile.CHRTYPE), ("hard", 0o644, tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.uname = mode, 0, 0, "root"
            data = None
            if kind is None:
                payload = b"print('hi')\n"
                info.size = len(payload)
                data = io.BytesIO(payload)
            else:
                info.type = kind
                if kind == tarfile.LNKTYPE:
                    info.linkname = "pkg/app.py"
            tar.addfile(info, data)
    return out.getvalue()


def test_files_go_in_as_the_space_user_without_set_id_bits_devices_or_hard_links() -> None:
    with tarfile.open(fileobj=io.BytesIO(as_space_user(_archive()))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["pkg", "pkg/app.py"]
        for member in members.values():
            assert (member.uid, member.gid, member.uname) == (1000, 1000, "user")
            assert member.mode & 0o7000 == 0
        assert members["pkg/app.py"].mode == 0o755
        assert tar.extractfile(members["pkg/app.py"]).read() == b"print('hi')\n"


def test_reload_environment_per_sdk() -> None:
    gradio = reload_env("gradio", "src/app.py")
    assert gradio["GRADIO_WATCH_MODULE_NAME"] == "src.app"
    assert gradio["GRADIO_WATCH_DEMO_PATH"] == "/home/user/app/src/app.py"
    assert gradio["SYSTEM"] == ""  # Gradio's file reloader runs only off Spaces
    assert reload_env("streamlit", "app.py")["STREAMLIT_SERVER_RUN_ON_SAVE"] == "true"
    assert reload_env("docker", "app.py") == {}
