"""The run directory: the one contract between training, estimation and reporting.

Layout::

    RUN/run.json                  manifest: configuration, versions, shards, every file's SHA-256
    RUN/.lock                     held (flock) by the one process writing the run
    RUN/membership.npy            (M, N) bool
    RUN/shards/00003.npz          observations of models [start, stop) while the run is in progress
    RUN/observations/<name>.npy   (M, N) float32 (probabilities: (M, N, C) float16) once complete
    RUN/scores.parquet, mia.json  estimates (rebuilt from the arrays by `memlens report RUN --rescore`)

Promises: one writer at a time (:mod:`memlens.runlock`); the manifest is written before any array,
and every file is written to a temporary name (:mod:`memlens.files`), renamed into place and only then recorded with its
SHA-256 and size, so a run killed at any moment resumes from its last finished shard; temporaries
of a killed process are removed by the next writer. Reopening checks the manifest's own checksum,
the configuration (other data, design, mask, trainer or seed is refused) and each file (a damaged
or truncated one is named, with the command that rebuilds it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from memlens import faults
from memlens.errors import RunStoreError
from memlens.files import (
    atomic_path,
    is_temporary,
    plain_json,
    remove_temporaries,
    sha256_file,
    write_json,
)
from memlens.runlock import LOCK_NAME, RunLock

FORMAT = "memlens-run"
FORMAT_VERSION = 2

#: everything memlens writes in a run directory: a folder holding only these (and no run.json)
#: is a run killed while it was being created, and is started afresh rather than refused
OWN_NAMES = frozenset({
    "run.json", LOCK_NAME, "membership.npy", "shards", "observations", "scores.parquet", "mia.json",
    "plan.json", "report.html", "lm_scores.parquet", "lm.json", "examples.parquet", "gallery.parquet",
    "training_curve.json", "generative.json", "samples.parquet", "training_examples.parquet",
    "generative_gallery.parquet", "density.parquet", "privacy.json", "dejavu.json",
})  # fmt: skip

#: how to rebuild each derived file when it is damaged (RUN is replaced by the run's path)
REBUILD = {
    "scores.parquet": "`memlens report RUN --rescore` recomputes it from the stored arrays",
    "mia.json": "`memlens report RUN --rescore` recomputes it from the stored arrays",
    "plan.json": "re-running the audit command with its --budget rewrites it",
    "examples.parquet": "re-running the audit command (it trains nothing more) rewrites it",
    "gallery.parquet": "re-running the audit command (it trains nothing more) rewrites it",
    "training_curve.json": "`memlens finalize RUN` rewrites it",
    "privacy.json": "re-running the audit command (it trains nothing more) rewrites it",
    "dejavu.json": "re-running the `memlens ssl dejavu` command (it trains nothing more) rewrites it",
    **dict.fromkeys(("generative.json", "samples.parquet", "training_examples.parquet", "generative_gallery.parquet",
                     "density.parquet"), "re-running the `memlens generative audit` command (it trains nothing "
                                         "more) rewrites it"),
}
RETRAIN = "it cannot be rebuilt without retraining: delete RUN and run the audit again"


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the manifest without its own ``checksum`` field (canonical JSON)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


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


def _damaged_manifest(path: Path, why: str) -> RunStoreError:
    return RunStoreError(
        f"{path / 'run.json'} is damaged or was edited by hand ({why}). The run cannot be trusted: "
        f"delete {path} and run the audit again (or restore run.json from a backup)."
    )


def _check_manifest(path: Path, manifest) -> None:
    """Refuse a manifest that is foreign, from a newer memlens, altered, or malformed."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunStoreError(f"{path / 'run.json'} was not written by memlens (no '{FORMAT}' format tag).")
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise RunStoreError(f"{path} was written by a newer memlens (format {version}); upgrade memlens.")
    if version != FORMAT_VERSION:
        raise RunStoreError(
            f"{path} was written by an older memlens (run format {version}) that did not checksum "
            "every file. Run the audit again into a new --out."
        )
    if manifest.get("checksum") != manifest_digest(manifest):
        raise _damaged_manifest(path, "its checksum does not match its contents")
    try:
        n_models = manifest["config"]["design"]["n_models"]
        assert isinstance(n_models, int) and n_models > 0
        assert manifest["status"] in ("training", "complete")
        for shard in manifest["shards"].values():
            start, stop = shard["models"]
            assert 0 <= start < stop <= n_models and isinstance(shard["file"], str)
            assert isinstance(shard["sha256"], str)
        for entry in manifest["files"].values():
            assert isinstance(entry["sha256"], str) and isinstance(entry["bytes"], int)
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError):
        raise _damaged_manifest(path, "fields are missing or of the wrong kind") from None


class RunStore:
    """Reads and writes one run directory. Create with :meth:`create_or_resume` or :meth:`open`.

    A store made by :meth:`create_or_resume` holds the run's lock until :meth:`release`; one made
    by :meth:`open` reads without it and takes it only for the moment it writes.
    """

    def __init__(self, path: Path, manifest: dict, lock: RunLock | None = None):
        self.path = Path(path)
        self.manifest = manifest
        self._lock = lock
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
            raise _damaged_manifest(path, str(e)) from None
        except OSError as e:
            raise RunStoreError(f"Cannot read {manifest_path}: {e.strerror or e}.") from None
        _check_manifest(path, manifest)
        store = cls(path, manifest)
        if verify:
            store.verify(deep=False)
        return store

    @classmethod
    def create_or_resume(cls, path, config: dict, membership: np.ndarray) -> RunStore:
        """Start a run at ``path``, or resume the one there if its configuration is the same.

        Takes the run's lock first (a second writer is refused at once, naming the holder), and
        decides under it, so two processes can never both create or both resume one directory.
        """
        path = Path(path)
        config = plain_json(config)
        membership = np.asarray(membership, dtype=bool)
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"{path} exists and is a file, not a run directory.")
        if path.is_dir():
            names = [p.name for p in path.iterdir()]
            foreign = sorted(n for n in names if n not in OWN_NAMES and not is_temporary(n))
            if "run.json" not in names and foreign:
                shown = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
                raise RunStoreError(
                    f"{path} is not empty and is not a memlens run (it holds {shown}), so it was "
                    "not touched. Choose a new --out."
                )
        else:
            try:
                path.mkdir(parents=True)
            except FileExistsError:  # another process made it a moment ago: the lock decides
                pass
            except OSError as e:
                raise RunStoreError(
                    f"Cannot create the run directory {path}: {e.strerror or e}. Choose an --out "
                    "you can write to."
                ) from None
        lock = RunLock.acquire(path)
        try:
            return cls._create_or_resume_locked(path, config, membership, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _create_or_resume_locked(cls, path: Path, config: dict, membership: np.ndarray, lock) -> RunStore:
        remove_temporaries(path)
        if (path / "run.json").exists():
            store = cls.open(path, verify=False)
            store._lock = lock
            if store.complete:  # killed after finalize, before the shards were removed
                shutil.rmtree(path / "shards", ignore_errors=True)
            differences = _diff(store.manifest["config"], config)
            if differences and (store.manifest["shards"] or store.complete):
                from memlens.growth import grow, growth

                grown_from = growth(path, store.manifest["config"], config, store.membership, membership)
                if grown_from is not None:
                    grow(store, config, membership, grown_from)
                    return store
                raise RunStoreError(
                    f"{path} holds a run with another configuration, so it was not touched:\n  - "
                    + "\n  - ".join(differences)
                    + f"\nUse a new --out, or delete {path} to start over."
                )
            if not differences:
                store.drop_damaged_shards()  # a killed or damaged shard is simply trained again
                if "membership.npy" not in store.manifest["files"]:  # killed right after the manifest
                    store._save_array("membership.npy", membership)
                    store.save_manifest()
                store.verify()
                if not np.array_equal(store.membership, membership):
                    raise RunStoreError(
                        f"{path} holds a run whose membership mask differs from this command's, "
                        f"although the design is described the same way ({config['design'].get('spec')}). "
                        f"Use a new --out, or delete {path} to start over."
                    )
                return store
            # the run there trained nothing (it failed or was killed before its first shard): there
            # is nothing to lose, so the corrected command starts it afresh
        store = cls(path, {}, lock)
        store._start(config, membership)
        return store

    def _start(self, config: dict, membership: np.ndarray) -> None:
        """Lay out a fresh run in place (under the lock): the manifest first, then the mask."""
        for name in OWN_NAMES - {LOCK_NAME}:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        self.manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": "training",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": config,
            "versions": versions(),
            "shards": {},
            "files": {},
        }
        self.save_manifest()
        faults.stage("after-manifest")
        self._save_array("membership.npy", membership)
        self.save_manifest()
        faults.stage("after-membership")

    def verify(self, *, deep: bool = True) -> None:
        """Check every recorded file exists, has its size and matches its checksum; name the ones that do not.

        With ``deep=False`` only the membership mask and shards are hashed; other files are checked
        for presence and size and hashed when they are first read.
        """
        problems: dict[str, str] = {}  # file name → what is wrong with it
        shards = {s["file"]: {"sha256": s["sha256"], "bytes": None} for s in self.manifest["shards"].values()}
        for name, entry in {**self.manifest["files"], **shards}.items():
            f = self.path / name
            if name in REBUILD and not deep:
                continue  # derived files are checked when read, with how to rebuild them
            if not f.exists():
                problems[name] = f"{name} is missing"
            elif entry["bytes"] is not None and f.stat().st_size != entry["bytes"]:
                problems[name] = f"{name} has {f.stat().st_size:,} bytes, not the {entry['bytes']:,} recorded (truncated or damaged)"
            elif (deep or name == "membership.npy" or name in shards) and name not in self._verified:
                if sha256_file(f) != entry["sha256"]:
                    problems[name] = f"{name} does not match its checksum (damaged)"
                else:
                    self._verified.add(name)
        if problems:
            raise self._damage_error(list(problems.values()), list(problems))

    def _damage_error(self, problems: list[str], names: list[str]) -> RunStoreError:
        fixes = sorted({REBUILD.get(n, RETRAIN).replace("RUN", str(self.path)) for n in names})
        return RunStoreError(
            f"The run in {self.path} is damaged: {'; '.join(problems)}. Its results cannot be trusted "
            f"as they are: {'; '.join(fixes)}."
        )

    # --- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self):
        """Hold the run's lock for a write: the store's own, or taken for the moment."""
        if self._lock is not None and self._lock.held:
            yield
            return
        self._lock = RunLock.acquire(self.path)
        try:
            yield
        finally:
            self._lock.release()
            self._lock = None

    def release(self) -> None:
        """Give up the run's lock (the end of a writer's life)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        plain = plain_json({k: v for k, v in self.manifest.items() if k != "checksum"})
        plain["checksum"] = manifest_digest(plain)
        self.manifest = plain
        self._io(lambda: write_json(self.path / "run.json", plain), "run.json")

    def _io(self, write, name: str, needed: int | None = None):
        """Run a write (of ``needed`` bytes, when known); a full or read-only disk becomes one
        paragraph that says the run is safe."""
        try:
            return write()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise RunStoreError(faults.disk_full(self.path, name, e, needed)) from None
            raise RunStoreError(
                f"Could not write {self.path / name}: {e.strerror or e}. Free some disk space (or "
                f"fix the permissions of {self.path}) and re-run the same command: finished models are "
                "kept and only what is missing is redone."
            ) from None

    def _record(self, name: str) -> None:
        f = self.path / name
        self.manifest["files"][name] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
        self._verified.add(name)

    def _save_array(self, name: str, array: np.ndarray) -> None:
        def write():
            with atomic_path(self.path / name, ".npy") as tmp:
                np.save(tmp, array)

        self._io(write, name)
        self._record(name)

    def drop_damaged_shards(self) -> list[int]:
        """Forget shards whose file is missing or damaged, so they are trained again.

        Each shard is hashed once per store: a writer holds the lock, so what it verified (or
        wrote) cannot change under it.
        """
        dropped = []
        for key, shard in list(self.manifest["shards"].items()):
            f = self.path / shard["file"]
            if shard["file"] in self._verified:
                continue
            if not f.exists() or sha256_file(f) != shard["sha256"]:
                del self.manifest["shards"][key]
                self._verified.discard(shard["file"])
                dropped.append(int(key))
            else:
                self._verified.add(shard["file"])
        if dropped:
            self.save_manifest()
        return dropped

    def pending_shards(self, shard_size: int) -> list[tuple[int, int, int]]:
        """(index, start, stop) of model ranges not yet on disk."""
        if self.complete:
            return []
        from memlens.growth import uncovered

        n_models = self.manifest["config"]["design"]["n_models"]
        covered = [tuple(s["models"]) for s in self.manifest["shards"].values()]
        if "grown_from" in self.manifest:
            covered.append((0, self.manifest["grown_from"]["models"]))
        return uncovered(n_models, covered, shard_size, {int(k) for k in self.manifest["shards"]})

    def write_shard(self, index: int, start: int, stop: int, observations: dict, seconds: float, retries=None) -> None:
        """Save observations of models [start, stop) and record them in the manifest; ``retries``
        (out-of-memory retries, :mod:`memlens.faults`) go to its ``memory_retries``, which outlives the shard."""
        name = f"shards/{index:05d}.npz"
        target = self.path / name
        with self.writing():

            def write():
                with atomic_path(target, ".npz") as tmp, open(tmp, "wb") as f:
                    np.savez(f, **observations)

            # uncompressed .npz: the arrays plus a few hundred bytes of headers per array
            self._io(write, name, needed=sum(np.asarray(a).nbytes + 512 for a in observations.values()))
            self.manifest["shards"][str(index)] = {
                "models": [start, stop], "file": name, "sha256": sha256_file(target), "seconds": round(seconds, 3),
            }  # fmt: skip
            if retries:
                self.manifest.setdefault("memory_retries", []).extend({"shard": index, **r} for r in retries)
            self._verified.add(name)
            self.save_manifest()
        faults.stage(f"after-shard-{index}")

    def finalize(self) -> None:
        """Assemble the shards, verified, into ``observations/<name>.npy``, then drop the shards.

        Each array is written with plain ``write`` calls (a full disk is an error, never the SIGBUS
        a memory-mapped write gets), after checking the disk has room for all of them.
        """
        if self.complete:
            return
        with self.writing():
            n_models = self.manifest["config"]["design"]["n_models"]
            damaged = self.drop_damaged_shards()  # every shard verified before merging
            if damaged:
                raise RunStoreError(
                    f"Shard(s) {damaged} of {self.path} were damaged after training. Re-run the same "
                    "command: it retrains only those."
                )
            shards = sorted(self.manifest["shards"].values(), key=lambda s: s["models"][0])
            base = self.manifest.get("grown_from")
            if base is not None:  # a grown run: its first models' arrays, streamed first
                shards.insert(0, {"models": [0, base["models"]], "file": None, "seconds": base["seconds"]})
            covered = sum(s["models"][1] - s["models"][0] for s in shards)
            if covered != n_models:
                raise RunStoreError(f"Cannot finalize {self.path}: shards cover {covered} of {n_models} models.")
            with np.load(self.path / shards[-1]["file"]) as last:
                layout = {k: (last[k].shape[1:], last[k].dtype) for k in last.files}
            self._check_free_space(n_models, layout)
            (self.path / "observations").mkdir(exist_ok=True)
            for key, (shape, dtype) in layout.items():
                name = f"observations/{key}.npy"
                self._io(lambda key=key, shape=shape, dtype=dtype, name=name:
                         self._assemble(name, key, shards, (n_models, *shape), dtype), name)  # fmt: skip
                if base is not None:  # the old array is gone: the new one's checksum must be on record
                    self.save_manifest()
                faults.stage("during-finalize")
            self.manifest["status"] = "complete"
            self.manifest["training_seconds"] = round(sum(s["seconds"] for s in shards), 3)
            self.manifest["shards"] = {}
            self.manifest.pop("grown_from", None)
            self.save_manifest()
            faults.stage("after-finalize")
            shutil.rmtree(self.path / "shards", ignore_errors=True)

    def _assemble(self, name: str, key: str, shards: list[dict], shape: tuple, dtype) -> None:
        """Write one observation array from the shards' rows, hashing as it goes."""
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
        )
        digest, size = hashlib.sha256(header.getvalue()), len(header.getvalue())
        with atomic_path(self.path / name, ".npy") as tmp:
            with open(tmp, "wb") as f:
                f.write(header.getvalue())
                for s in shards:
                    if s["file"] is None:  # a grown run's first models, streamed in blocks
                        from memlens.growth import grown_rows

                        for block in grown_rows(self, key, s["models"][1], shape[1:], dtype):
                            f.write(block)
                            digest.update(block)
                            size += len(block)
                        continue
                    with np.load(self.path / s["file"]) as z:
                        rows = np.ascontiguousarray(z[key], dtype=dtype)
                    if rows.shape != (s["models"][1] - s["models"][0], *shape[1:]):
                        raise RunStoreError(
                            f"Shard {s['file']} of {self.path} holds '{key}' of shape {rows.shape}, "
                            f"not the {shape[1:]} per model of the others. Delete it and re-run."
                        )
                    block = rows.tobytes()
                    f.write(block)
                    digest.update(block)
                    size += len(block)
                f.flush()
                os.fsync(f.fileno())
        self.manifest["files"][name] = {"sha256": digest.hexdigest(), "bytes": size}
        self._verified.add(name)

    def _check_free_space(self, n_models: int, layout: dict) -> None:
        needed = sum(n_models * int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in layout.values())
        free = shutil.disk_usage(self.path).free
        if needed + max(1 << 20, needed // 100) > free:
            raise RunStoreError(
                f"Assembling the observations of {self.path} needs {needed / 2**20:,.1f} MiB but its disk "
                f"has {free / 2**20:,.1f} MiB free. Free some space and re-run the same command: the "
                "trained shards are kept and nothing is retrained."
            )

    def save_table(self, name: str, frame) -> None:
        """Write a pandas DataFrame as Parquet, atomically, and record its checksum."""

        def write():
            with atomic_path(self.path / name, ".parquet") as tmp:
                frame.to_parquet(tmp, index=False)

        self._save(name, write)

    def save_json(self, name: str, obj) -> None:
        self._save(name, lambda: write_json(self.path / name, obj))

    def _save(self, name: str, write) -> None:
        with self.writing():
            self._io(write, name)
            self._record(name)
            self.save_manifest()

    # --- reading ---------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"

    def checked(self, name: str) -> Path:
        """The path of a recorded file, after checking its size and (once) its SHA-256."""
        f = self.path / name
        entry = self.manifest["files"].get(name)
        if not self.complete and name != "membership.npy":
            raise RunStoreError(f"The run in {self.path} has not finished training, so it has no {name} yet. {self._how_to_finish()}")
        if entry is None or not f.exists():
            fix = REBUILD.get(name, RETRAIN).replace("RUN", str(self.path))
            state = "is missing" if not f.exists() else "is not recorded in run.json (written by a process that was stopped)"
            raise RunStoreError(f"{name} of the run in {self.path} {state}: {fix}.")
        if name not in self._verified:
            size = f.stat().st_size
            if size != entry["bytes"]:
                raise self._damage_error([f"{name} has {size:,} bytes, not the {entry['bytes']:,} recorded"], [name])
            if sha256_file(f) != entry["sha256"]:
                raise self._damage_error([f"{name} does not match its checksum"], [name])
            self._verified.add(name)
        return f

    def _how_to_finish(self) -> str:
        """What finishes this run: its own command, or (models trained by the user's script) finalize."""
        if self.manifest.get("config", {}).get("trainer", {}).get("trainer") == "external":
            missing = len(self.pending_shards(1))
            return (
                f"Its models are trained by your own script and {missing} are still missing: train "
                f"them (memlens.integrations.subset_for gives each its examples), then run "
                f"`memlens finalize {self.path}`."
            )
        return "Re-run its `memlens audit` command: it resumes where it stopped."

    def load_array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        f = self.path / name
        try:
            return np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise RunStoreError(f"{f} is missing from the run.") from None
        except (ValueError, OSError, EOFError) as e:
            raise RunStoreError(f"{f} is damaged or truncated ({e}). Delete {self.path} and re-run.") from None

    def read_table(self, name: str):
        """A verified Parquet file of the run as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.checked(name))

    def read_json(self, name: str):
        """A verified JSON file of the run."""
        return json.loads(self.checked(name).read_text())

    @property
    def membership(self) -> np.ndarray:
        return self.load_array("membership.npy")

    def observation_names(self) -> list[str]:
        return sorted(Path(k).stem for k in self.manifest.get("files", {}) if k.startswith("observations/"))

    def observation(self, name: str) -> np.ndarray:
        """An (M, N[, C]) observation array, memory-mapped, checked against its checksum on first use."""
        if not self.complete:
            raise RunStoreError(f"The run in {self.path} has not finished training. {self._how_to_finish()}")
        return self.load_array(str(self.checked(f"observations/{name}.npy").relative_to(self.path)))
