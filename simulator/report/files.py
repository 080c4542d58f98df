"""Output files, checked before the work and written so that no work is lost: an output path must not be an
input (the scenario, its traces) or another output, and its folder must exist and be writable; a file is written
to a temporary file beside it, then renamed over it, so a killed run never leaves a partial output."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot, or must not, be written."""


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


# options whose path is a folder to write files into: it may exist (as a folder) or be created in one
FOLDER_OPTIONS = frozenset({"--export"})


def check_outputs(outputs: Mapping[str, str | None], inputs: Sequence[str | Path]) -> None:
    """Refuse (OutputError naming the option) an output that is an input or another output, a folder (but for
    FOLDER_OPTIONS: not a folder), or in a folder that is missing or not writable; `outputs` maps each option
    (`-o`, `--html`, `--export`) to its path or None."""
    given = [(option, Path(path)) for option, path in outputs.items() if path]
    for index, (option, path) in enumerate(given):
        for source in inputs:
            if _same(path, Path(source)):
                raise OutputError(f"{option} {path}: is an input of this run ({source}); write elsewhere")
        for other_option, other in given[:index]:
            if _same(path, other):
                raise OutputError(f"{option} {path}: is also the {other_option} file; give them different paths")
        if option in FOLDER_OPTIONS:
            _check_folder(option, path)
        elif path.is_dir():
            raise OutputError(f"{option} {path}: is a folder; give a file path")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"{option} {path}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise OutputError(f"{option} {path}: cannot be written here (permissions)")


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` through a temporary file in the same folder, renamed over it when
    complete (OSError if that fails; the temporary file is removed and `path` left as it was)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                                         prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_folder(option: str, path: Path) -> None:
    """A folder to write files into: an existing writable folder, or a new one in an existing writable folder."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file; give a folder (it is created if missing)")
    target = path if path.exists() else (path.parent if str(path.parent) else Path("."))
    if not target.is_dir():
        raise OutputError(f"{option} {path}: folder {target} does not exist")
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot be written here (permissions)")
