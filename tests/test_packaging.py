"""The project's own files: dependencies in step, public surface sorted, README and CI agree."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import ROOT

import studio

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

CONDA_TO_PYPI = {"python-graphviz": "graphviz", "jq.py": "jq"}
NOT_PYTHON = {"python", "pip", "graphviz"}  # the conda-only entries: the interpreter, pip and the dot binary


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for items in project["optional-dependencies"].values():
        reqs += [r for r in items if not r.startswith("workflow-design-studio")]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_requirements() -> dict[str, str]:
    deps: dict[str, str] = {}
    seen_conda_graphviz = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)([<>=!~][^#\s]*)?", line)
        if not match or line.strip().startswith("- conda-forge"):
            continue
        name = match.group(1).lower().replace("_", "-")
        if name == "graphviz" and not seen_conda_graphviz:
            seen_conda_graphviz = True  # the binary
            continue
        if name in NOT_PYTHON:
            continue
        name = CONDA_TO_PYPI.get(name, name)
        deps[name] = name + (match.group(2) or "")
    return deps


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    pyproject = _pyproject_requirements()
    environment = _environment_requirements()
    assert sorted(environment) == sorted(pyproject)
    for name, requirement in pyproject.items():
        bound = requirement[len(name) :] if requirement.lower().startswith(name) else requirement
        assert ">=" in requirement, f"{name} needs a lower bound in pyproject.toml"
        assert environment[name].endswith(bound.split("[")[-1].split("]")[-1]), (name, requirement, environment[name])


def test_every_dependency_has_a_lower_bound() -> None:
    for requirement in _pyproject_requirements().values():
        assert ">=" in requirement, requirement


def test_all_is_sorted_and_complete() -> None:
    assert studio.__all__ == sorted(studio.__all__)
    for name in studio.__all__:
        assert hasattr(studio, name), name
    public = {n for n in vars(studio) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(studio, n)).__name__ == "module"}
    assert public - modules == set(studio.__all__)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(bash scripts/run\.sh \w+)$", readme, flags=re.M)
    assert "bash scripts/run.sh demo" in commands and "bash scripts/run.sh test" in commands
    assert "bash scripts/run.sh test" in ci.splitlines()
