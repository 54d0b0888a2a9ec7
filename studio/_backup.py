"""Rotating backups of working copies: nothing the user saved is ever overwritten without a copy.

Before the studio writes over a workflow file that already exists (an autosave, Save to an
existing file, ``copy_template(..., overwrite=True)``, ``studio new --force``), the file's current
bytes are copied into a hidden folder next to it::

    my_flow/workflow.yaml
    my_flow/.studio-backups/workflow.yaml.0001   the oldest version kept
    my_flow/.studio-backups/workflow.yaml.0042   the version before the last save

Only the last :data:`KEEP` versions of each file are kept. A backup that cannot be written (a
read-only folder) never blocks the save itself: the save's own error, if any, is what the user sees.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

__all__ = ["FOLDER", "KEEP", "backup", "backups", "describe"]

FOLDER = ".studio-backups"
KEEP = 20
"""How many earlier versions of each file are kept."""


def _numbered(path: Path) -> list[tuple[int, Path]]:
    """The backups of ``path`` with their numbers, oldest first."""
    folder = path.parent / FOLDER
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(path.name) + r"\.(\d{4,})$")
    return sorted((int(match.group(1)), entry) for entry in folder.iterdir() if (match := pattern.match(entry.name)))


def backups(path: str | os.PathLike[str]) -> list[Path]:
    """The backups of ``path``, oldest first (empty when there are none)."""
    return [entry for _, entry in _numbered(Path(path))]


def backup(path: str | os.PathLike[str], keep: int | None = None) -> Path | None:
    """Copy ``path`` (when it exists) into the backup folder next to it; keep the last ``keep``.

    Returns the backup written, or None when there was nothing to keep or it could not be written.
    """
    path = Path(path)
    keep = KEEP if keep is None else keep
    if not path.is_file():
        return None
    numbered = _numbered(path)
    number = numbered[-1][0] + 1 if numbered else 1
    target = path.parent / FOLDER / f"{path.name}.{number:04d}"
    try:
        target.parent.mkdir(exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    except OSError:
        return None
    for old in [*(entry for _, entry in numbered), target][:-keep] if keep > 0 else []:
        with contextlib.suppress(OSError):
            old.unlink()
    return target


def describe(path: str | os.PathLike[str]) -> str:
    """Where the backups of ``path`` are, for a message: ``.studio-backups/workflow.yaml.NNNN``."""
    return f"{Path(path).parent / FOLDER}/{Path(path).name}.NNNN (the last {KEEP} versions)"
