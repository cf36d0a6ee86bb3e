"""The settings behind the disk quotas and the CPU weight, parsed and converted."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.errors import ConfigError, SettingsError
from podium.scheduler import cpu
from podium.scheduler.storage import parse_size


@pytest.mark.parametrize(("text", "size"), [
    ("5g", 5 << 30), ("1G", 1 << 30), ("64m", 64 << 20), ("512MiB", 512 << 20),
    ("1.5g", 3 << 29), ("0", 0), ("16777216", 16 << 20),
])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "space_data_quota") == size


@pytest.mark.parametrize("text", ["", "5x", "-1g", "g", "1m"])  # 1m: below the minimum
def test_bad_sizes_are_settings_errors_naming_the_setting(text: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_size(text, "space_data_quota")
    # An operator's typo, not a README error of some Space.
    assert not isinstance(info.value, ConfigError)
    assert info.value.message.startswith("PODIUM_SPACE_DATA_QUOTA: ")
    assert "README" not in info.value.message


def test_weights_keep_the_ratio_to_the_default() -> None:
    assert cpu.shares_to_weight(1024) == 100
    assert cpu.shares_to_weight(128) == 12
    assert cpu.shares_to_weight(2) == 1 and cpu.shares_to_weight(1 << 20) == 10000


def test_parent_names_per_driver() -> None:
    assert cpu.docker_parent("/podium-spaces", "cgroupfs") == "/podium-spaces"
    assert cpu.docker_parent("/podium-spaces", "systemd") == "podium-spaces.slice"
    assert cpu.docker_parent("podium.slice", "systemd") == "podium.slice"


def test_v1_and_v2_parents_get_their_weight(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    assert cpu.ensure_parent("/podium-spaces", 128, "cgroupfs", root=v1) == "/podium-spaces"
    assert (v1 / "cpu" / "podium-spaces" / "cpu.shares").read_text() == "128"
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory")
    (v2 / "cgroup.subtree_control").write_text("memory")
    cpu.ensure_parent("/podium-spaces", 128, "cgroupfs", root=v2)
    assert (v2 / "podium-spaces" / "cpu.weight").read_text() == "12"
    assert (v2 / "cgroup.subtree_control").read_text() == "+cpu"
    assert cpu.current_weight("/podium-spaces", "cgroupfs", root=v2) == 12
