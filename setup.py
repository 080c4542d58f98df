"""Builds clustersim with the serving engine's hot loop compiled by mypyc (issue 16) from the same typed Python
modules; where mypyc or a C compiler is missing, or CLUSTERSIM_PURE_PYTHON=1, they run as plain Python and give
the same results, only slower (the project's metadata is in pyproject.toml). After editing one of them in an
editable install, run `pip install -e .` again: the compiled module is the one Python imports."""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

COMPILED = [  # the modules a served request passes through, several times each (tests/test_compiled.py)
    "simulator/models/workload/iteration_prices.py",
    "simulator/plan/limits.py",
    "simulator/engine/serving/requests.py",
    "simulator/engine/serving/batch.py",
    "simulator/engine/serving/loads.py",
    "simulator/engine/serving/agenda.py",
    "simulator/engine/serving/replica.py",
    "simulator/engine/serving/admission.py",
    "simulator/engine/serving/router.py",
    "simulator/engine/serving/deployment.py",
]
# the compiled modules are type-checked alone: what they import from the rest is checked by the project's mypy
MYPYC_OPTIONS = ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent"]


def _plain(why: object) -> None:
    print(f"setup.py: the serving engine stays plain Python ({why})", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """A failed compile leaves the plain Python modules in use instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any compiler failure
            _plain(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _plain(exc)


def extensions() -> list[Extension]:
    if os.environ.get("CLUSTERSIM_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        _plain(exc)
        return []
    try:
        return list(mypycify([*MYPYC_OPTIONS, *COMPILED], opt_level="3"))
    except BaseException as exc:  # mypyc exits on a type error
        _plain(exc)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
