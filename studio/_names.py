"""Ids made from names: one slug rule and one way to keep ids unique (``base``, ``base_2``, ...)."""

from __future__ import annotations

import re

__all__ = ["slug", "unique"]


def slug(text: str) -> str:
    """``text`` as a lower-case snake-case id part (at most 60 characters; empty when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60].strip("_")


def unique(base: str, taken: set[str], sep: str = "_") -> str:
    """``base``, else ``base<sep>2``, ``base<sep>3``, ...: the first not in ``taken``, which it joins."""
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}{sep}{number}", number + 1
    taken.add(candidate)
    return candidate
