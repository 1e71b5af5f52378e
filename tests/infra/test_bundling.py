"""The Lambda bundle: which requirements, how pip is asked, what happens offline. pip never runs here:
a fake runner records the commands."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra.bundling import (
    LAMBDA_PLATFORMS,
    BundlingError,
    PipLocalBundling,
    asset_hash,
    locked_versions,
    runtime_requirements,
)
from infra.config import PROJECT_ROOT


class FakePip:
    """Answers pip commands: ``offline`` says whether installing from the cache works."""

    def __init__(self, *, offline: list[bool], download_ok: bool = True) -> None:
        self.offline = offline
        self.download_ok = download_ok
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        verb = command[3]
        ok = self.offline.pop(0) if verb == "install" else self.download_ok
        return subprocess.CompletedProcess(command, 0 if ok else 1, "", "" if ok else "no route to PyPI")


def test_runtime_requirements_are_the_lock_pins_without_layer_runtime_or_cli() -> None:
    requirements = runtime_requirements()
    names = {r.split("==")[0].split("[")[0] for r in requirements}
    assert names == {
        "pydantic",
        "pydantic-settings",
        "jinja2",
        "nh3",
        "pyyaml",
        "regex",
        "pyjwt",
        "python-multipart",
    }
    locked = locked_versions(PROJECT_ROOT / "requirements.lock")
    for requirement in requirements:
        name, version = requirement.split("==")
        assert locked[name.split("[")[0]] == version
    assert "pyjwt[crypto]==" + locked["pyjwt"] in requirements


def test_pip_targets_lambda_and_uses_the_cache_first(tmp_path: Path) -> None:
    cache = tmp_path / "wheels"
    cache.mkdir()
    pip = FakePip(offline=[True])
    out = tmp_path / "out"
    out.mkdir()
    assert PipLocalBundling(wheel_cache=cache, runner=pip).try_bundle(str(out)) is True
    (install,) = pip.commands
    assert install[3] == "install"
    assert "--no-index" in install
    assert f"--find-links={cache}" in install
    assert "--only-binary=:all:" in install
    assert "--implementation=cp" in install
    assert "--python-version=3.12" in install
    assert [a for a in install if a.startswith("--platform=")] == [
        f"--platform={p}" for p in LAMBDA_PLATFORMS
    ]
    assert install[install.index("-c") + 1] == str(PROJECT_ROOT / "requirements.lock")
    assert (out / "functions" / "route" / "handler.py").is_file()
    assert (out / "mailroom" / "table" / "schema.py").is_file()
    assert (out / "mailroom" / "api" / "static" / "htmx.min.js").is_file()
    assert not list(out.rglob("__pycache__"))


def test_a_cold_cache_is_filled_from_the_index_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pip = FakePip(offline=[True])
    PipLocalBundling(wheel_cache=tmp_path / "wheels", runner=pip).try_bundle(str(out))
    assert [c[3] for c in pip.commands] == ["download", "install"]  # no cache yet: fill it first
    assert f"--dest={tmp_path / 'wheels'}" in pip.commands[0]
    pip = FakePip(offline=[False, True])  # a cache that lacks a wheel (a pin changed)
    PipLocalBundling(wheel_cache=tmp_path / "wheels", runner=pip).try_bundle(str(out))
    assert [c[3] for c in pip.commands] == ["install", "download", "install"]


def test_no_index_gives_a_clear_message(tmp_path: Path) -> None:
    pip = FakePip(offline=[], download_ok=False)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BundlingError) as raised:
        PipLocalBundling(wheel_cache=tmp_path / "wheels", runner=pip).try_bundle(str(out))
    message = str(raised.value)
    assert "no route to PyPI" in message
    assert "aws:cdk:bundling-stacks=[]" in message
    assert "make synth" in message


def test_asset_hash_is_stable_and_follows_the_code(tmp_path: Path) -> None:
    assert asset_hash() == asset_hash()
    for package in ("mailroom", "functions"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    before = asset_hash(tmp_path)
    (tmp_path / "functions" / "__init__.py").write_text("# changed\n")
    assert asset_hash(tmp_path) != before
