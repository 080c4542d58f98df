"""Builds clustersim with the serving engine's hot loop compiled by mypyc (issue 16) from the same typed Python
modules; where mypyc or a C compiler is missing, or CLUSTERSIM_PURE_PYTHON=1, they run as plain Python and give
the same results, only slower (the project's metadata is in pyproject.toml)."""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = [
    "simulator/models/workload/iteration_prices.py",
    "simulator/engine/serving/requests.py",
    "simulator/engine/serving/batch.py",
    "simulator/engine/serving/agenda.py",
    "simulator/engine/serving/replica.py",
    "simulator/engine/serving/admission.py",
]


class OptionalBuildExt(build_ext):
    """A failed compile leaves the plain Python modules in place instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            print(f"setup.py: not compiling the serving engine ({exc}); it runs as plain Python", file=sys.stderr)

    def build_extension(self, ext: object) -> None:
        try:
            super().build_extension(ext)  # type: ignore[arg-type]
        except Exception as exc:
            print(f"setup.py: {ext} not compiled ({exc}); plain Python instead", file=sys.stderr)


def extensions() -> list[object]:
    if os.environ.get("CLUSTERSIM_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc is not available; the serving engine runs as plain Python", file=sys.stderr)
        return []
    try:
        return list(mypycify(["--config-file=", "--ignore-missing-imports", *COMPILED], opt_level="3"))
    except BaseException as exc:
        print(f"setup.py: mypyc could not compile the serving engine ({exc}); plain Python", file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
