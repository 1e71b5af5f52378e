"""Fixtures: the app synthesized once per session for dev and once for prod (see ``synth.py``)."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synthesized, synthesize


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(params=["dev", "prod"])
def synthesized(request: pytest.FixtureRequest) -> Synthesized:
    """Each environment in turn (both are synthesized once per session)."""
    result: Synthesized = request.getfixturevalue(request.param)
    return result
