"""``python -m wsproto6455 URL``: the command-line client (see :mod:`wsproto6455.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
