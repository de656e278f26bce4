"""Switch the wsproto compatibility layer on at interpreter start-up.

Python imports ``sitecustomize`` from ``sys.path`` at start-up; with this
directory on ``PYTHONPATH`` and ``WSPROTO6455_AS_WSPROTO=1`` in the
environment, every process (subprocesses included) gets ``import wsproto``
-> wsproto6455. Any other ``sitecustomize`` further down ``sys.path`` still
runs, so this one never hides a distribution's own.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if os.environ.get("WSPROTO6455_AS_WSPROTO") == "1":
    from wsproto6455.compat import install

    install()
_chain()
