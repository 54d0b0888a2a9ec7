from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TEMPLATES = ROOT / "templates"


@pytest.fixture
def base_path() -> Path:
    return FIXTURES / "valid" / "base.yaml"
