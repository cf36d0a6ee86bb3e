"""builder/incremental.py: which requirement files may build on a previous dependency layer,
the label a layer carries, and what the key covers (the Docker side:
tests/reliability/test_dependency_cache.py)."""

from __future__ import annotations

from podium.builder.incremental import (
    END_MARK,
    DepsRecord,
    Plan,
    dependency_key,
    plain_lines,
    plan,
)
from podium.names import SpaceId


def test_plain_lines_drop_comments_and_refuse_options_urls_and_paths() -> None:
    text = "# top\nnumpy  # inline\n\n pandas>=2 \nscipy; python_version>'3'\n"
    assert plain_lines(text) == ("numpy", "pandas>=2", "scipy; python_version>'3'")
    assert plain_lines("") == ()
    for line in ["--extra-index-url http://x/simple", "-r other.txt", "-e .",
                 "six @ https://example.com/six.whl", "./local-package"]:
        assert plain_lines(f"numpy\n{line}\n") is None, line


def test_the_label_round_trips_and_rejects_other_recipes_and_junk() -> None:
    record = DepsRecord("k" * 64, ("numpy", 'six==1.17.0; os_name == "posix"'), 2,
                        ("numpy-2.whl",), uv=True)
    encoded = record.encode()
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert DepsRecord.decode(encoded) == record
    for junk in [None, "", "not base64!", "eyJ2Ijo5OX0="]:  # the last: {"v":99}
        assert DepsRecord.decode(junk) is None


def test_records_count_increments_and_keep_the_wheels_and_uv_of_the_layer_below() -> None:
    previous = DepsRecord("key", ("numpy",), 1, ("numpy.whl",), uv=True)
    grown = Plan("key", ("numpy", "scipy"), "incremental", "sha256:ab", previous, ("scipy",))
    assert grown.record(("scipy.whl",), uv=False) == DepsRecord(
        "key", ("numpy", "scipy"), 2, ("numpy.whl", "scipy.whl"), uv=True)
    same = Plan("key", ("numpy",), "reuse", "sha256:ab", previous)
    assert same.reuse and same.record((), uv=False) == previous
    full = Plan("key", ("numpy",), "full")
    assert full.record(("numpy.whl",), uv=True) == DepsRecord("key", ("numpy",), 0,
                                                              ("numpy.whl",), uv=True)
    assert Plan("key", None, "full").record((), uv=True) is None


def test_the_key_covers_base_steps_files_and_index_but_not_what_follows_the_layer() -> None:
    steps = f"FROM base\nRUN pip install -r sdk.txt\n{END_MARK}\nLABEL podium.commit=abc\n"
    key = dependency_key("sha256:1", steps, {"sdk.txt": b"gradio==6"}, ("",))
    assert key == dependency_key("sha256:1", steps.replace("abc", "def"),
                                 {"sdk.txt": b"gradio==6"}, ("",))
    for other in [
        dependency_key("sha256:2", steps, {"sdk.txt": b"gradio==6"}, ("",)),
        dependency_key("sha256:1", steps.replace("sdk.txt", "sdk2.txt"),
                       {"sdk.txt": b"gradio==6"}, ("",)),
        dependency_key("sha256:1", steps, {"sdk.txt": b"gradio==5"}, ("",)),
        dependency_key("sha256:1", steps, {"sdk.txt": b"gradio==6", "packages.txt": b""},
                       ("",)),
        dependency_key("sha256:1", steps, {"sdk.txt": b"gradio==6"}, ("http://mirror",)),
    ]:
        assert other != key


def test_a_factory_rebuild_the_setting_at_zero_and_option_lines_take_the_full_path() -> None:
    space = SpaceId("u", "s")
    # Decided before any look at the engine (no client is needed, none is given).
    cases = [("numpy\n", 3, True, "full install (a rebuild without the engine's cache)"),
             ("numpy\n", 0, False, "full install (incremental dependency layers are off)"),
             ("-e .\n", 3, False, "full install (requirements.txt has an option")]
    for text, cap, fresh, note in cases:
        decided = plan(None, space, "gradio", "key", text, cap, fresh=fresh)  # type: ignore[arg-type]
        assert decided.note.startswith(note) and decided.base is None
