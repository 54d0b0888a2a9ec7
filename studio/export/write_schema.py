"""Rewrite the committed JSON Schema of control-plane definitions from the pydantic models.

Run ``python -m studio.export.write_schema`` (default target ``schemas/controlplane.schema.json``)
after changing :mod:`studio.export.controlplane`; a test fails while the committed file is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from studio.export.controlplane import schema_text
from studio.fileio import atomic_write

DEFAULT_PATH = "schemas/controlplane.schema.json"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = args[0] if args else DEFAULT_PATH
    atomic_write(target, schema_text())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
