"""``python -m wsproto6455.compat site-dir|status``.

``site-dir`` prints the directory to put on ``PYTHONPATH`` so that
``WSPROTO6455_AS_WSPROTO=1`` (or true, yes, on) switches the layer on in
every Python process (it holds a ``sitecustomize`` module).

``status`` says what ``import wsproto`` gives in this environment and why,
and which implementation the installed frameworks will use; exit status 0
when it gives wsproto6455, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv == ["site-dir"]:
        print(Path(__file__).resolve().parent / "_site")
        return 0
    if argv == ["status"]:
        from .status import main as status

        return status()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
