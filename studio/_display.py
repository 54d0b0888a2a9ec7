"""How a workflow shows itself in a notebook, without the model importing the renderer.

The model sits below the renderer (see the layer order in README.md), so
``Workflow._repr_mimebundle_`` asks this module for its rich display. The package root registers
the hook, a function that loads :mod:`studio.render` on first use; the model never names the
renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hook = Callable[[Any], dict[str, Any]]

_hook: Hook | None = None


def register(hook: Hook) -> None:
    """Make ``hook(workflow)`` the function that draws a workflow for a notebook."""
    global _hook  # noqa: PLW0603 - one process-wide hook, set once by the package root
    _hook = hook


def mimebundle(obj: Any) -> dict[str, Any]:
    """The notebook display of ``obj`` through the registered hook (plain text when none is)."""
    if _hook is None:
        return {"text/plain": repr(obj)}
    return _hook(obj)
