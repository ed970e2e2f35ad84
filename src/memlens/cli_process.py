"""The command-line process itself: how it shares the machine, how often it collects garbage, and
how an exception that reaches it becomes one paragraph and an exit code (used by :func:`memlens.cli.main`)."""

from __future__ import annotations

from pathlib import Path

from memlens.errors import MemlensError


def share_cores_politely() -> None:
    """Make PyTorch's OpenMP threads sleep, not spin, between parallel regions (unless the user chose).

    Must run before torch is imported. With libgomp's default (spin, then sleep) two audits on one
    2-core machine each ran at 24% of their solo speed; with ``OMP_WAIT_POLICY=PASSIVE`` at 63%,
    for about 12% on a machine to itself (BENCHMARKS.md, "Two audits on one machine").
    ``OMP_WAIT_POLICY=ACTIVE`` in the environment restores the default.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def collect_less() -> tuple[int, int, int]:
    """Fewer garbage collections in a command: about 0.4 s of an audit's start and 0.4 s of its exit.

    Importing torch, pandas and scipy makes ~200,000 long-lived objects, and CPython's default
    thresholds (700, 10, 10) scan them again and again (~570 collections in a digits audit) and
    twice more at exit, to free almost nothing. A first-generation threshold of 100,000 leaves a
    handful of collections; ``gc.freeze()`` as the first exit handler moves every object out of the
    collector's view before the interpreter's final collections (the other exit handlers, Ray's and
    temporary files', still run). Returns the thresholds to restore when the command is over, so
    in-process callers (the tests) keep theirs; the exit handler is registered once per process.
    """
    import atexit
    import gc

    global _EXIT_COLLECTION_SKIPPED
    if not _EXIT_COLLECTION_SKIPPED:
        atexit.register(gc.freeze)
        _EXIT_COLLECTION_SKIPPED = True
    before = gc.get_threshold()
    gc.set_threshold(100_000, 10, 10)
    return before


_EXIT_COLLECTION_SKIPPED = False


def _explain(e: Exception) -> tuple[str, int]:
    """The paragraph and exit code for an exception that reached the command line."""
    import json
    import pickle
    import zipfile
    import zlib

    name = type(e).__name__
    if isinstance(e, MemlensError):
        return str(e), 2
    from memlens import faults

    if faults.is_out_of_memory(e):  # outside a shard (a shard's own is a MemlensError naming it)
        needed = faults.requested_bytes(e)
        return (
            "memlens ran out of memory"
            + (f" (an allocation of {faults.size(needed)} failed)" if needed else "")
            + ". Use fewer --models or examples (NAME:N), train fewer models at once (--shard-size), "
            "or use a machine with more memory. Finished shards are kept: the same command resumes; "
            "a changed one needs a new --out.",
            2,
        )
    if isinstance(e, OSError) and not type(e).__module__.startswith("pyarrow"):
        return _os_error_message(e), 2
    if type(e).__module__.startswith("pyarrow"):
        return (
            f"A Parquet file could not be read or written ({name}: {e}). If it is a run's "
            "scores.parquet, `memlens report RUN --rescore` rebuilds it from the stored arrays.",
            2,
        )
    if isinstance(e, zipfile.BadZipFile | EOFError | zlib.error | pickle.UnpicklingError):
        return (
            f"A file memlens read is damaged or truncated ({name}: {e}). If it is part of a run "
            "directory, re-run the same command (damaged shards are retrained); otherwise restore "
            "the file from a good copy.",
            2,
        )
    if isinstance(e, json.JSONDecodeError | UnicodeDecodeError):
        return f"A text or JSON file memlens read is damaged or not UTF-8 ({name}: {e}). Restore it from a good copy.", 2
    return (
        f"memlens stopped on an unexpected {name}: {e}. This is a bug in memlens, not in your "
        "input: please report it with the command you ran (MEMLENS_DEBUG=1 shows the traceback).",
        1,
    )


def _os_error_message(e: OSError) -> str:
    """What the operating system refused, on which path, and what to do about it."""
    import errno

    where = " → ".join(_written_name(f) for f in (e.filename, e.filename2) if f)
    what = e.strerror or str(e) or type(e).__name__
    code = errno.errorcode.get(e.errno, "") if isinstance(e.errno, int) else ""
    permission = (
        "You lack permission there: use a folder you can write to (another --out for an audit) or "
        "change its permissions."
    )
    full = (
        "The disk is full{}: free some space or choose an --out on another disk, then re-run the "
        "same command; finished shards are kept and it resumes."
    )
    advice = {
        errno.EACCES: permission,
        errno.EPERM: permission,
        errno.EROFS: (
            "That file system is read-only: use a folder on a writable disk (another --out for an "
            "audit; copy a run there to write its report)."
        ),
        errno.ENOSPC: full.format(""),
        errno.EDQUOT: full.format(" (your quota is used up)"),
        errno.ENOENT: "It does not exist: check the path.",
        errno.ENOTDIR: "A part of that path is a file, not a folder: choose another path.",
        errno.EISDIR: "It is a folder where a file was expected: check the path.",
        errno.ENAMETOOLONG: "The name is too long for the file system: choose a shorter path.",
        errno.EMFILE: "Too many files are open: raise the limit (ulimit -n), then re-run the same command.",
        errno.EIO: "The disk reported an input/output error: check it, then re-run the same command.",
    }.get(e.errno, "Check the path and the disk, then re-run the same command; an audit resumes where it stopped.")
    return f"A file operation failed{' on ' + where if where else ''}: {what}{f' ({code})' if code else ''}. {advice}"


def _written_name(path) -> str:
    """The file a temporary ``DIR/.NAME.RANDOM.tmp…`` stands for (``DIR/NAME``), else the path."""
    path = Path(path)
    if path.name.startswith(".") and ".tmp" in path.name:
        target = path.name[1:].split(".tmp")[0].rpartition(".")[0]
        if target:
            return str(path.parent / target)
    return str(path)
