"""The notebooks run as tests (nbval) in a fresh working folder, never over your working copies.

The notebooks keep their working copies in ``notebooks/.work/`` and open them again (with every
edit) when run a second time. While a notebook runs as a test, ``STUDIO_WORK`` points the kernel at
a temporary folder instead, so the stored outputs of a fresh run are what is compared and the
copies you edited are not touched; ``sanitize.cfg`` shows that folder as ``.work/`` in outputs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_WORK: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if not getattr(config.option, "nbval_sanitize_with", None):
        config.option.nbval_sanitize_with = str(Path(__file__).with_name("sanitize.cfg"))


def _is_notebook(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).suffix == ".ipynb"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_notebook(item):  # before nbval starts the notebook's kernel, which inherits the variable
        if not _WORK:
            _WORK.append(tempfile.mkdtemp(prefix="studio-nbval-"))
        os.environ["STUDIO_WORK"] = str(Path(_WORK[0]) / ".work")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if _is_notebook(item):
        os.environ.pop("STUDIO_WORK", None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for folder in _WORK:
        shutil.rmtree(folder, ignore_errors=True)
