"""Where a replication's finished cases go: a list in memory, or a JSON Lines file streamed to disk.

With an output folder, each replication streams its cases, in case order, to
``OUT/progress/rep-NNNN.jsonl`` as they finish (a header line, then one case per line), under a
temporary name renamed into place once the replication is complete: so memory holds only the cases
in flight, a killed run leaves only complete replications behind (``--resume`` reuses them), and
:class:`~studio.simulate.results.Results` reads the cases back from the file in one pass per use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FORMAT", "CaseFile", "CaseWriter", "header_of"]

FORMAT = 2
"""Version of the progress-file format (part of a run's fingerprint)."""


class CaseFile:
    """The cases of one finished replication, read lazily from its progress file (re-iterable, picklable)."""

    __slots__ = ("count", "path")

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as handle:
            handle.readline()  # the header
            for line in handle:
                case: dict[str, Any] = json.loads(line)
                yield case

    def __repr__(self) -> str:
        return f"CaseFile({str(self.path)!r}, {self.count} cases)"


def header_of(fingerprint: str, replication: int, cases: int) -> dict[str, Any]:
    return {"format": FORMAT, "fingerprint": fingerprint, "replication": replication, "cases": cases}


class CaseWriter:
    """Takes a replication's cases as they finish and keeps them in case order, in memory or on disk.

    Cases finish out of order; one that finishes before an earlier case waits in a small buffer
    (as many cases as are in flight). ``keep``: case indices also kept in memory (the cases the
    kernel's run is verified on).
    """

    def __init__(self, replication: int, cases: int, *, path: Path | None = None, fingerprint: str = "",
                 keep: Collection[int] = ()) -> None:
        self.replication = replication
        self.cases = cases
        self.path = path
        self.keep = frozenset(keep)
        self.kept: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._waiting: dict[int, dict[str, Any]] = {}
        self._memory: list[dict[str, Any]] = []
        self._tmp: Path | None = None
        self._handle: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = path.with_name(f".{path.name}.tmp")
            self._handle = self._tmp.open("w", encoding="utf-8", newline="\n")
            self._handle.write(json.dumps(header_of(fingerprint, replication, cases), separators=(",", ":")) + "\n")

    def add(self, index: int, case: dict[str, Any]) -> None:
        if index in self.keep:
            self.kept[index] = case
        if index != self._next:
            self._waiting[index] = case
            return
        self._put(case)
        waiting = self._waiting
        while self._next in waiting:
            self._put(waiting.pop(self._next))

    def _put(self, case: dict[str, Any]) -> None:
        self._next += 1
        if self._handle is None:
            self._memory.append(case)
        else:
            self._handle.write(json.dumps(case, separators=(",", ":")))
            self._handle.write("\n")

    def close(self) -> dict[str, Any]:
        """The replication's payload: ``{"replication", "cases"}`` (a list, or a :class:`CaseFile`)."""
        if self._next != self.cases or self._waiting:
            self.abort()
            raise RuntimeError(f"replication {self.replication} ended with {self._next} of {self.cases} cases "
                               "(internal error)")
        if self._handle is None:
            return {"replication": self.replication, "cases": self._memory}
        assert self.path is not None and self._tmp is not None
        self._handle.close()
        self._handle = None
        os.replace(self._tmp, self.path)
        return {"replication": self.replication, "cases": CaseFile(self.path, self.cases)}

    def abort(self) -> None:
        """Drop a replication that did not finish (its temporary file too)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()
