"""Build script: the package is pure Python; the Cython speedups are optional.

The compiled extension (``wsproto6455._speedups``) is built when Cython and
a C compiler are available. Without either, or when the build fails, the
installation still succeeds with the pure-Python backend.
"""

from setuptools import setup

setup()
