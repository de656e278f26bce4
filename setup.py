"""Build script: the package is pure Python; the Cython speedups are optional.

The compiled extension (``wsproto6455._speedups``, from ``_speedups/``) is
built when Cython and a C compiler are available. Without either, when the
build fails, or when ``WSPROTO6455_NO_EXTENSION=1`` is set, the installation
still succeeds with the pure-Python backend and says so in one line.

Everything else (name, version, packages) lives in ``pyproject.toml``.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PYX = os.path.join("_speedups", "_speedups.pyx")
# A generated C file (shipped in an sdist, or left by an earlier build) lets
# a machine with a compiler but without Cython still build the extension.
GENERATED_C = os.path.join("_speedups", "_speedups.c")
EXT_NAME = "wsproto6455._speedups"


def _say(message: str) -> None:
    # One line on stderr: pip shows it with -v and in build logs.
    print(f"wsproto6455: {message}", file=sys.stderr, flush=True)


def _pure_only(reason: str) -> None:
    _say(f"{reason}; installing the pure-Python backend (SPEEDUPS = False)")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


class OptionalBuildExt(build_ext):
    """``build_ext`` that degrades to the pure-Python package on any failure."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            self._cythonize()
        except Exception as exc:  # Cython missing or failing: never fatal.
            self.extensions = []
            _pure_only(str(exc))
            return
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            if not self._reported:
                _pure_only(f"building {EXT_NAME} failed ({exc})")

    _reported = False

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type == "unix":
            # -O3 lets gcc/clang vectorise the masking and ASCII loops.
            ext.extra_compile_args = ["-O3", *ext.extra_compile_args]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._reported = True
            _pure_only(f"building {ext.name} failed ({exc})")
            return
        _say(f"built the compiled extension {ext.name} (SPEEDUPS = True)")

    def _cythonize(self) -> None:
        """Turn the .pyx sources into C, keeping setuptools' Extension objects."""
        try:
            from Cython.Build import cythonize
        except ImportError:
            if not os.path.exists(os.path.join(HERE, GENERATED_C)):
                raise RuntimeError("Cython is not installed") from None
            generated = [GENERATED_C]
            for ext in self.extensions:
                ext.sources = generated
            return
        for ext in self.extensions:
            (converted,) = cythonize(
                [Extension(ext.name, [PYX])],
                compiler_directives={"language_level": "3"},
                quiet=True,
            )
            ext.sources = list(converted.sources)


class SdistWithC(sdist):
    """Ship the generated C next to the .pyx, for builds without Cython."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        try:
            from Cython.Build import cythonize
        except ImportError:
            _say("Cython is not installed: the sdist has no generated C file")
            return
        cythonize([Extension(EXT_NAME, [PYX])], compiler_directives={"language_level": "3"})
        self.copy_file(GENERATED_C, os.path.join(base_dir, GENERATED_C))


# The PEP 517 backend runs this file once per hook (requirements, metadata,
# wheel): report only from the runs that build something.
_BUILDING = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def _ext_modules() -> list[Extension]:
    if _env_flag("WSPROTO6455_NO_EXTENSION"):
        if _BUILDING.intersection(sys.argv[1:]):
            _pure_only("WSPROTO6455_NO_EXTENSION is set")
        return []
    return [Extension(EXT_NAME, [PYX])]


setup(
    ext_modules=_ext_modules(),
    cmdclass={"build_ext": OptionalBuildExt, "sdist": SdistWithC},
)
