"""``python -m benchmarks``: see :mod:`benchmarks.run`."""

from .run import main as _main

raise SystemExit(_main())
