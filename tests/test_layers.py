"""One-way layers: every import between studio modules points down (or sideways), and none form a cycle.

Layers, lowest first (README.md, "Layout")::

    errors -> model -> fileio/expr (+ small helpers) -> graph -> validate/analysis
           -> render/simulate/export -> widgets/cli/demo (and the package root, which re-exports)

Every ``import`` and ``from ... import`` is read with ``ast``: at module level, inside functions and
under ``if TYPE_CHECKING``. ``from studio.x import y`` counts as an import of ``studio.x.y`` when that
is a module, else of ``studio.x``. Running a parent package's ``__init__`` on the way to a submodule
is not counted (a package may import its own submodules).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import studio

ROOT = Path(studio.__file__).resolve().parent

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("errors", ("studio.errors", "studio._version", "studio._display", "studio._names")),
    ("model", ("studio.model",)),
    ("fileio/expr", ("studio.fileio", "studio.expr", "studio.limits", "studio.templates", "studio._yamlread",
                 "studio._secrets", "studio._backup", "studio._gcpause")),
    ("graph", ("studio.graph", "studio.graph_analysis")),
    ("validate/analysis", ("studio.validate", "studio.analysis", "studio.expand")),
    ("render/simulate/export", ("studio.render", "studio.simulate", "studio.export", "studio.calibrate",
                                "studio.minutes")),
    ("widgets/cli/demo", ("studio.widgets", "studio.cli", "studio.demo", "studio")),
]
"""Each entry names modules or packages (a package covers everything under it)."""

HEAVY = ("graphviz", "networkx", "ruamel", "langgraph", "pandas", "matplotlib")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific entry covering ``module``."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            covers = module == name or (module.startswith(name + ".") and name != "studio")
            if covers and (best is None or len(name) > best[1]):
                best = (index, len(name))
    if best is None:
        raise KeyError(module)
    return best[0]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int

    @property
    def place(self) -> str:
        return f"{MODULES[self.source].relative_to(ROOT.parent)}:{self.line}"


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(base: str, names: list[str]) -> Iterator[str]:
    """The studio modules ``from base import names`` loads: submodules by name, else ``base`` itself."""
    plain = False
    for name in names:
        if f"{base}.{name}" in MODULES:
            yield f"{base}.{name}"
        else:
            plain = True
    if plain and base in MODULES:
        yield base


def imports_of(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in MODULES:
                    name = name.rpartition(".")[0]
                if name:
                    targets.append(name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module).split(".")
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            if base == "studio" or base.startswith("studio."):
                targets.extend(_resolve(base, [alias.name for alias in node.names]))
        for target in targets:
            if target != module:
                yield Import(module, target, node.lineno)


def all_imports() -> list[Import]:
    return [imp for module in MODULES for imp in imports_of(module)]


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle path per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_cycle_path(component, edges) for component in components]


def _cycle_path(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest way round from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges.get(node, set()) & members):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no way round {component}")


# --------------------------------------------------------------------------- the checker itself


def test_the_walk_sees_imports_inside_functions() -> None:
    found = {(imp.source, imp.target) for imp in all_imports()}
    # cli.py loads the validator only inside the commands that need it
    assert ("studio.cli", "studio.validate") in found
    # `from studio import graph as g` is an import of studio.graph, not of the package root
    assert ("studio.render", "studio.graph") in found
    assert ("studio.render", "studio") not in found


def test_cycle_finder_reports_the_path() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def _placed() -> set[str]:
    placed = set()
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError:
            continue
        placed.add(module)
    return placed


PLACED = _placed()


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(set(MODULES) - PLACED)
    assert not unplaced, f"add these modules to LAYERS in tests/test_layers.py: {unplaced}"


# --------------------------------------------------------------------------- the rules


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{imp.place}: {imp.source} ({LAYERS[layer_of(imp.source)][0]}) imports {imp.target} "
        f"({LAYERS[layer_of(imp.target)][0]})"
        for imp in all_imports()
        if imp.source in PLACED and imp.target in PLACED and layer_of(imp.target) > layer_of(imp.source)
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    where: dict[tuple[str, str], str] = {}
    for imp in all_imports():
        edges[imp.source].add(imp.target)
        where.setdefault((imp.source, imp.target), imp.place)
    cycles = find_cycles(edges)
    report = [
        " -> ".join(cycle) + "  (" + ", ".join(where[step] for step in itertools.pairwise(cycle)) + ")"
        for cycle in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(report)


# --------------------------------------------------------------------------- what an import loads


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in HEAVY)


def test_import_model_loads_only_the_data_model() -> None:
    loaded = _loaded_after("import studio.model")
    assert _heavy(loaded) == []
    studio_modules = {m for m in loaded if m == "studio" or m.startswith("studio.")}
    assert studio_modules == {"studio", "studio._display", "studio._version", "studio.model"}


def test_import_studio_is_lazy() -> None:
    loaded = _loaded_after("import studio")
    assert {m for m in loaded if m.startswith("studio")} == {"studio", "studio._display", "studio._version"}
    assert "pydantic" not in loaded
    assert _heavy(loaded) == []


@pytest.mark.parametrize(
    ("argv", "without_model"),
    [(["--help"], True), (["templates"], True), (["simulate", "--help"], True), (["new", "--help"], False)],
)
def test_cli_start_up_does_not_load_the_heavy_libraries(argv: list[str], without_model: bool) -> None:
    code = (
        "import contextlib, io\nfrom studio.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
    )
    loaded = _loaded_after(code)
    assert [m for m in _heavy(loaded) if not m.startswith("ruamel")] == []
    if without_model:
        assert "pydantic" not in loaded
        assert "studio.model" not in loaded


def test_the_quick_template_listing_matches_the_templates() -> None:
    from studio import templates
    from studio.cli import template_descriptions

    full = [(t.name, t.load().metadata.description or "") for t in templates.list_templates()]
    assert template_descriptions() == full
    assert len(full) >= 5


def test_every_public_name_resolves() -> None:
    code = (
        "import studio\n"
        "missing = [n for n in studio.__all__ if getattr(studio, n, None) is None]\n"
        "assert not missing, missing\n"
        "import studio.validate\n"
        "assert callable(studio.validate), 'studio.validate must stay the function'\n"
        "from studio import validate\n"
        "assert callable(validate)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert set(studio.__all__) <= set(dir(studio))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        studio.nope  # type: ignore[attr-defined]  # noqa: B018


# --------------------------------------------------------------------------- the README says the same


def test_the_readme_layout_matches_the_tree_and_the_layers() -> None:
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    order = " -> ".join(name for name, _ in LAYERS)
    assert f"\n{order}\n" in section, f"the README's layer line should read: {order}"
    named = set(re.findall(r"\bstudio/[\w/]*[\w.]+/?", section))
    assert all((ROOT.parent / name).exists() for name in named), sorted(named)
    public = {f"studio/{p.name}" for p in ROOT.glob("*.py") if not p.name.startswith("_")}
    packages = {f"studio/{p.name}/" for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert sorted((public | packages) - named) == [], "describe these in the README's Layout section"
    helpers = {p.name for p in ROOT.glob("_*.py") if p.name != "__init__.py"}
    assert sorted(h for h in helpers if h not in section) == []
