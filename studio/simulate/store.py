"""Where a replication's finished cases go: a list in memory, or a JSON Lines file streamed to disk.

With an output folder, each replication streams its cases to ``OUT/progress/rep-NNNN.jsonl`` as
they finish (a header line, then one case per line), under a temporary name renamed into place once
the replication is complete: so memory holds only the cases in flight, a killed run leaves only
complete replications behind (``--resume`` reuses them), and
:class:`~studio.simulate.results.Results` reads the cases back from the file in one pass per use.

The file holds cases in the order they finished (a case that waits long would otherwise hold
every later case in memory until it finishes); the writer notes where each case's line starts, and
:class:`CaseFile` reads them back in case order through those offsets.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FORMAT", "CaseFile", "CaseWriter", "header_of"]

FORMAT = 2
"""Version of the progress-file format (part of a run's fingerprint)."""


class CaseFile:
    """The cases of one finished replication, read lazily from its progress file in case order
    (``offsets[i]``: where case ``i``'s line starts); re-iterable, picklable."""

    __slots__ = ("offsets", "path")

    def __init__(self, path: Path, offsets: array[int]) -> None:
        self.path = path
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as handle:
            for offset in self.offsets:
                handle.seek(offset)
                case: dict[str, Any] = json.loads(handle.readline())
                yield case

    def __repr__(self) -> str:
        return f"CaseFile({str(self.path)!r}, {len(self.offsets)} cases)"


def header_of(fingerprint: str, replication: int, cases: int) -> dict[str, Any]:
    return {"format": FORMAT, "fingerprint": fingerprint, "replication": replication, "cases": cases}


class CaseWriter:
    """Takes a replication's cases as they finish, in memory or streamed to disk.

    ``keep``: case indices also kept in memory (the cases the kernel's run is verified on).
    """

    def __init__(self, replication: int, cases: int, *, path: Path | None = None, fingerprint: str = "",
                 keep: Collection[int] = ()) -> None:
        self.replication = replication
        self.cases = cases
        self.path = path
        self.keep = frozenset(keep)
        self.kept: dict[int, dict[str, Any]] = {}
        self._count = 0
        self._memory: list[dict[str, Any]] = []
        self._tmp: Path | None = None
        self._handle: IO[bytes] | None = None
        self._offsets = array("q", [-1]) * cases
        self._position = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = path.with_name(f".{path.name}.tmp")
            self._handle = self._tmp.open("wb")
            self._write(header_of(fingerprint, replication, cases))

    def add(self, index: int, case: dict[str, Any]) -> None:
        if index in self.keep:
            self.kept[index] = case
        self._count += 1
        if self._handle is None:
            self._memory.append(case)
        else:
            self._offsets[index] = self._position
            self._write(case)

    def _write(self, record: dict[str, Any]) -> None:
        assert self._handle is not None
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self._handle.write(line)
        self._position += len(line)

    def close(self) -> dict[str, Any]:
        """The replication's payload: ``{"replication", "cases"}`` (a list, or a :class:`CaseFile`)."""
        if self._count != self.cases:
            self.abort()
            raise RuntimeError(f"replication {self.replication} ended with {self._count} of {self.cases} cases "
                               "(internal error)")
        if self._handle is None:
            return {"replication": self.replication, "cases": sorted(self._memory, key=lambda case: case["index"])}
        assert self.path is not None and self._tmp is not None
        self._handle.close()
        self._handle = None
        os.replace(self._tmp, self.path)
        return {"replication": self.replication, "cases": CaseFile(self.path, self._offsets)}

    def abort(self) -> None:
        """Drop a replication that did not finish (its temporary file too)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()
