"""The studio's version, kept apart so exporters can stamp it without importing the package root."""

from __future__ import annotations

__version__ = "0.1.0"
