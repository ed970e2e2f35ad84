"""The run directory: the one contract between training, estimation and reporting.

Layout::

    RUN/run.json                  manifest: configuration, versions, shards and file checksums
    RUN/membership.npy            (M, N) bool
    RUN/shards/00003.npz          observations of models [start, stop) while the run is in progress
    RUN/observations/<name>.npy   (M, N) float32 (probabilities: (M, N, C) float16) once complete

Every file is written to a temporary name and renamed into place, and the manifest is updated
only after a shard is on disk, so a run killed at any moment resumes from its last finished shard.
Reopening checks the configuration (other data, design, trainer or seed is refused) and each
file's SHA-256 (a damaged or truncated file is named).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from memlens.errors import RunStoreError

FORMAT = "memlens-run"
FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


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


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def versions() -> dict:
    import memlens

    out = {"memlens": memlens.__version__, "python": platform.python_version(), "numpy": np.__version__}
    with contextlib.suppress(ImportError):
        import torch

        out["torch"] = torch.__version__
    return out


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two nested configurations."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            def show(v):
                return (f"{v[:12]}…" if isinstance(v, str) and len(v) > 40 else repr(v))
            lines.append(f"{prefix}{key}: run has {show(a)}, this command has {show(b)}")
    return lines


class RunStore:
    """Reads and writes one run directory. Create with :meth:`create_or_resume` or :meth:`open`."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._verified: set[str] = set()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path, *, verify: bool = True) -> RunStore:
        """Open an existing run, checking that it is a memlens run and that its files are intact."""
        path = Path(path)
        manifest_path = path / "run.json"
        if not path.is_dir():
            raise RunStoreError(f"No run directory at {path}.")
        if not manifest_path.exists():
            raise RunStoreError(
                f"{path} is not a memlens run directory: it has no run.json. Point at a folder "
                "written by `memlens audit`, or choose a new --out."
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunStoreError(
                f"{manifest_path} is damaged ({e}). The run cannot be trusted; delete {path} and run "
                "the audit again."
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise RunStoreError(f"{manifest_path} was not written by memlens (no '{FORMAT}' format tag).")
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise RunStoreError(
                f"{path} was written by a newer memlens (format {manifest['format_version']}); upgrade memlens."
            )
        store = cls(path, manifest)
        if verify:
            store.verify(deep=False)
        return store

    @classmethod
    def create_or_resume(cls, path, config: dict, membership: np.ndarray) -> RunStore:
        """Start a run at ``path``, or resume the one there if its configuration is the same."""
        path = Path(path)
        config = json.loads(json.dumps(config, default=_json_default))  # as it will read back
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"{path} exists and is a file, not a run directory.")
        if path.is_dir() and any(path.iterdir()):
            store = cls.open(path, verify=False)
            differences = _diff(store.manifest["config"], config)
            if differences:
                raise RunStoreError(
                    f"{path} holds a run with another configuration, so it was not touched:\n  - "
                    + "\n  - ".join(differences)
                    + f"\nUse a new --out, or delete {path} to start over."
                )
            store.drop_damaged_shards()  # a killed or damaged shard is simply trained again
            store.verify()
            return store
        path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": "training",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": config,
            "versions": versions(),
            "shards": {},
            "files": {},
        }
        store = cls(path, manifest)
        store._save_array("membership.npy", np.asarray(membership, dtype=bool))
        store.save_manifest()
        return store

    def verify(self, *, deep: bool = True) -> None:
        """Check every recorded file exists and matches its checksum; name the ones that do not.

        With ``deep=False`` the (possibly large) observation files are only checked for presence;
        each is hashed when :meth:`observation` first reads it.
        """
        recorded = dict(self.manifest.get("files", {}))
        recorded.update({s["file"]: s["sha256"] for s in self.manifest.get("shards", {}).values()})
        problems = []
        for name, digest in recorded.items():
            f = self.path / name
            if not f.exists():
                problems.append(f"{name} is missing")
            elif (deep or not name.startswith("observations/")) and name not in self._verified:
                if sha256_file(f) != digest:
                    problems.append(f"{name} does not match its checksum (damaged or truncated)")
                else:
                    self._verified.add(name)
        if problems:
            raise RunStoreError(
                f"The run in {self.path} is damaged: {'; '.join(problems)}. Its results cannot be "
                f"trusted; delete {self.path} and run the audit again."
            )

    # --- writing ---------------------------------------------------------------------------

    def save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(self.path / "run.json", self.manifest)

    def _save_array(self, name: str, array: np.ndarray) -> None:
        target = self.path / name
        with atomic_path(target, ".npy") as tmp:
            np.save(tmp, array)
        self.manifest["files"][name] = sha256_file(target)

    def drop_damaged_shards(self) -> list[int]:
        """Forget shards whose file is missing or damaged, so they are trained again."""
        dropped = []
        for key, shard in list(self.manifest["shards"].items()):
            f = self.path / shard["file"]
            if not f.exists() or sha256_file(f) != shard["sha256"]:
                del self.manifest["shards"][key]
                dropped.append(int(key))
        if dropped:
            self.save_manifest()
        return dropped

    def pending_shards(self, shard_size: int) -> list[tuple[int, int, int]]:
        """(index, start, stop) of model ranges not yet on disk."""
        if self.complete:
            return []
        n_models = self.manifest["config"]["design"]["n_models"]
        done = self.manifest["shards"]
        return [
            (k, start, min(start + shard_size, n_models))
            for k, start in enumerate(range(0, n_models, shard_size))
            if str(k) not in done
        ]

    def write_shard(self, index: int, start: int, stop: int, observations: dict, seconds: float) -> None:
        """Save observations of models [start, stop) and record them in the manifest."""
        name = f"shards/{index:05d}.npz"
        target = self.path / name
        with atomic_path(target, ".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **observations)
        self.manifest["shards"][str(index)] = {
            "models": [start, stop], "file": name, "sha256": sha256_file(target), "seconds": round(seconds, 3),
        }  # fmt: skip
        self.save_manifest()

    def finalize(self) -> None:
        """Assemble shards into ``observations/<name>.npy`` (memory-mapped), then drop the shards."""
        if self.manifest["status"] == "complete":
            return
        n_models = self.manifest["config"]["design"]["n_models"]
        shards = sorted(self.manifest["shards"].values(), key=lambda s: s["models"][0])
        covered = sum(s["models"][1] - s["models"][0] for s in shards)
        if covered != n_models:
            raise RunStoreError(f"Cannot finalize {self.path}: shards cover {covered} of {n_models} models.")
        with np.load(self.path / shards[0]["file"]) as first:
            layout = {k: (first[k].shape[1:], first[k].dtype) for k in first.files}
        (self.path / "observations").mkdir(exist_ok=True)
        for key, (shape, dtype) in layout.items():
            name = f"observations/{key}.npy"
            target = self.path / name
            with atomic_path(target, ".npy") as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n_models, *shape))
                for s in shards:
                    with np.load(self.path / s["file"]) as z:
                        out[s["models"][0] : s["models"][1]] = z[key]
                out.flush()
                del out
            self.manifest["files"][name] = sha256_file(target)
        self.manifest["status"] = "complete"
        self.manifest["training_seconds"] = round(sum(s["seconds"] for s in shards), 3)
        self.manifest["shards"] = {}
        self.save_manifest()
        shutil.rmtree(self.path / "shards", ignore_errors=True)

    def save_table(self, name: str, frame) -> None:
        """Write a pandas DataFrame as Parquet, atomically."""
        with atomic_path(self.path / name, ".parquet") as tmp:
            frame.to_parquet(tmp, index=False)

    def save_json(self, name: str, obj) -> None:
        write_json(self.path / name, obj)

    # --- reading ---------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"

    def load_array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        f = self.path / name
        try:
            return np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise RunStoreError(f"{f} is missing from the run.") from None
        except (ValueError, OSError, EOFError) as e:
            raise RunStoreError(f"{f} is damaged or truncated ({e}). Delete {self.path} and re-run.") from None

    @property
    def membership(self) -> np.ndarray:
        return self.load_array("membership.npy")

    def observation_names(self) -> list[str]:
        return sorted(
            Path(k).stem for k in self.manifest.get("files", {}) if k.startswith("observations/")
        )

    def observation(self, name: str) -> np.ndarray:
        """An (M, N[, C]) observation array, memory-mapped, checked against its checksum on first use."""
        if not self.complete:
            raise RunStoreError(f"The run in {self.path} has not finished training; re-run its audit command.")
        key = f"observations/{name}.npy"
        if key not in self._verified and key in self.manifest["files"]:
            if sha256_file(self.path / key) != self.manifest["files"][key]:
                raise RunStoreError(
                    f"The run in {self.path} is damaged: {key} does not match its checksum (damaged or "
                    f"truncated). Its results cannot be trusted; delete {self.path} and run the audit again."
                )
            self._verified.add(key)
        return self.load_array(key)
