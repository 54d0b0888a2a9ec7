"""The main job: summarise and validate every template (``python -m studio.demo``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from studio.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    print("Workflow Design Studio: the templates, validated against their sample data\n")
    return cli_main(["summary", *argv])


if __name__ == "__main__":
    sys.exit(main())
