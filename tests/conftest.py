"""Shared test set-up: an isolated zoo/HF cache for the whole session, helpers
to build throwaway plugin distributions, and the path to the shared data."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# One cache for the session, never the user's: set before anything reads it.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="zoo-tests-"))
os.environ.setdefault("ZOO_HOME", str(_SESSION_HOME / "zoo"))
os.environ.setdefault("HF_HOME", str(_SESSION_HOME / "hf"))
os.environ.pop("ZOO_LOAD_PLUGINS", None)
os.environ.pop("ZOO_STRICT_PLUGINS", None)


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is missing: the shared real data sets are not beside this checkout")
    return path


def write_distribution(site: Path, dist: str, modules: dict[str, str],
                       entry_points: dict[str, str], version: str = "0.1") -> None:
    """A real installed distribution (dist-info + modules) in ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "[zoo]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(eps)


@pytest.fixture
def fresh_plugins():
    """Rediscover plugins before and after the test (its sys.path or env may differ)."""
    from zoo_core import plugins

    plugins.reset()
    yield plugins
    plugins.reset()
