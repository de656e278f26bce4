"""``python -m wsproto6455.compat site-dir``: print the directory to put on
``PYTHONPATH`` so that ``WSPROTO6455_AS_WSPROTO=1`` switches the layer on in
every Python process (it holds a ``sitecustomize`` module)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv == ["site-dir"]:
        print(Path(__file__).resolve().parent / "_site")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
