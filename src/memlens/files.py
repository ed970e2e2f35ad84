"""Files written whole or not at all: atomic writes, SHA-256, and the temporaries a kill leaves.

The run directory (:mod:`memlens.store`) and every module that writes beside it use these, so a
reader never sees half a file and the next writer knows what to clean.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def is_temporary(name: str) -> bool:
    """A name :func:`atomic_path` makes: ``.<target>.<random>.tmp[<suffix>]``."""
    return name.startswith(".") and ".tmp" in name


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the body succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise a user sharing the run
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def plain_json(obj):
    """``obj`` as it reads back from JSON (numpy scalars to Python, tuples to lists)."""
    return json.loads(json.dumps(obj, default=_json_default))


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def remove_temporaries(path: Path) -> None:
    """Delete the half-written files a killed writer left (the caller holds the run's lock).

    A report being written by a reader (which takes no lock) is spared while it is young.
    """
    now = time.time()
    for folder in (path, path / "shards", path / "observations"):
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if not is_temporary(f.name) or not f.is_file():
                continue
            if f.name.startswith(".report.html.") and now - f.stat().st_mtime < 600:
                continue
            with contextlib.suppress(OSError):
                f.unlink()
