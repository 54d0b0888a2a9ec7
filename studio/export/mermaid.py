"""Mermaid text of a workflow: the studio's one Mermaid writer, :func:`studio.render.to_mermaid`.

Export does not keep a second Mermaid implementation; it calls the renderer's, so the text in a
pull request and the diagram in the notebook always agree.
"""

from __future__ import annotations

from studio.model import Workflow

__all__ = ["to_mermaid"]


def to_mermaid(workflow: Workflow) -> str:
    """A Mermaid ``flowchart`` of the workflow (lanes per actor), as :mod:`studio.render` draws it."""
    from studio import render  # noqa: PLC0415 - render pulls in graphviz; load it only when asked

    return render.to_mermaid(workflow)
