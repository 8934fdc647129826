"""The conda and pip routes install the same packages, and the lock pins all of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.split(r"[<>=!~\[ ;]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {_norm(d) for d in deps}


def conda_packages() -> set[str]:
    """Packages environment.yml installs: from conda-forge, or from PyPI in its pip section."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            names.add(_norm(dep))
        elif isinstance(dep, dict) and "pip" in dep:
            names.update(_norm(d) for d in dep["pip"] if not d.startswith("-"))
    return names - {"python", "pip"}


def locked_packages() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        pins[_norm(name)] = version
    return pins


def test_environment_yml_and_pyproject_list_the_same_packages():
    pip_side, conda_side = pyproject_packages(), conda_packages()
    assert pip_side - conda_side == set(), "in pyproject.toml but not environment.yml"
    assert conda_side - pip_side == set(), "in environment.yml but not pyproject.toml"


def test_environment_yml_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_entries = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_entries and "-e ." in pip_entries[0]["pip"]


def test_lock_pins_every_declared_package_exactly():
    pins = locked_packages()
    missing = sorted(pyproject_packages() - set(pins))
    assert missing == [], f"not pinned in requirements.lock: {missing}; run `make lock`"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())


def test_drift_is_detected(tmp_path, monkeypatch):
    """The comparison above really fails when a package is only on one side."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    env["dependencies"] = [d for d in env["dependencies"] if d != "lifelines"]
    (tmp_path / "environment.yml").write_text(yaml.safe_dump(env))
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert "lifelines" in pyproject_packages() - conda_packages()
