"""The ready-made workflows under ``templates/<name>/``: list them, find their files, load them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from studio.fileio import load
from studio.model import Workflow


def templates_dir() -> Path:
    """The folder holding the templates (inside an installed wheel, or the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the studio's templates folder is missing; reinstall the package")


@dataclass(frozen=True)
class Template:
    name: str
    folder: Path

    @property
    def workflow_path(self) -> Path:
        return self.folder / "workflow.yaml"

    @property
    def sample_path(self) -> Path:
        return self.folder / "sample.csv"

    @property
    def gold_path(self) -> Path:
        return self.folder / "gold.csv"

    def load(self) -> Workflow:
        return load(self.workflow_path)


@cache
def template_names() -> tuple[str, ...]:
    """Names of the available templates, sorted."""
    try:
        root = templates_dir()
    except FileNotFoundError:
        return ()
    return tuple(sorted(p.parent.name for p in root.glob("*/workflow.yaml")))


def get_template(name: str) -> Template:
    """The template called ``name``; the error lists the ones there are."""
    if name not in template_names():
        known = ", ".join(template_names()) or "none installed"
        raise KeyError(f"no template `{name}`; choose one of: {known}")
    return Template(name, templates_dir() / name)


def list_templates() -> list[Template]:
    return [get_template(name) for name in template_names()]


def load_template(name: str) -> Workflow:
    """Load a template's workflow by name, e.g. ``load_template("procurement")``."""
    return get_template(name).load()


def blank_workflow(name: str = "new_workflow") -> Workflow:
    """A minimal valid workflow (no findings): ``start`` -> ``first_step`` (a human pool's task) -> ``end``."""
    return Workflow.model_validate(
        {
            "metadata": {"name": name, "version": "0.1.0", "description": "A new workflow: replace the first step."},
            "actors": [
                {"id": "team", "kind": "human", "name": "The team", "capacity": 3},
                {"id": "team_leads", "kind": "human", "name": "Team leads", "capacity": 2},
            ],
            "nodes": [
                {"id": "start", "kind": "start"},
                {"id": "first_step", "kind": "task", "name": "First step", "actor": "team", "sla": "1d"},
                {"id": "end", "kind": "end", "outcome": "done"},
            ],
            "edges": [{"from": "start", "to": "first_step"}, {"from": "first_step", "to": "end"}],
            "policies": {"escalate_to": "team_leads"},
        }
    )
