"""Switch the wsproto compatibility layer on at interpreter start-up.

Python imports ``sitecustomize`` from ``sys.path`` at start-up; with this
directory on ``PYTHONPATH`` and ``WSPROTO6455_AS_WSPROTO=1`` (or true/yes/on) in the
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


if "WSPROTO6455_AS_WSPROTO" in os.environ:
    # 1/true/yes/on (any case) switch it on; an unrecognised value is reported.
    from wsproto6455.compat.switch import switch_from_environment

    switch_from_environment()
_chain()
