"""Bring your own checkpoints: M models trained elsewhere, and which examples each one saw.

:class:`Checkpoints` is a trainer whose ``fit_observe`` loads checkpoint *i* instead of training
model *i*, so an audit of saved models gets everything a trained audit has: the run directory,
resume, shards, the lock, checksums, estimates and the report. Kinds of checkpoint:

* PyTorch ``state_dict`` files (``.pt``, ``.pth``, ``.bin``, ``.ckpt``; ``.safetensors``), loaded
  with ``torch.load(weights_only=True)`` (no code runs) into the module a factory builds;
* Hugging Face model folders (a ``config.json`` inside), loaded with
  ``AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)`` or by a
  factory that takes the folder;
* scikit-learn models: ``.skops`` files through skops, which builds only types it trusts
  (scikit-learn's own); other types in a ``.skops`` file, and ``.joblib`` / ``.pkl`` pickles, only
  with ``allow_pickle=True``: unpickling runs whatever code the file names.

Checkpoints are matched to membership rows by position: :func:`find_checkpoints` sorts them by
name in natural order (``model-2`` before ``model-10``), and a manifest naming each checkpoint
(:func:`read_membership`) is put in that order.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens.data import Dataset
from memlens.errors import MemlensError
from memlens.train.base import Progress
from memlens.train.outputs import observe_model, stack

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
#: what each kind needs: a factory building the module (state dicts), or trust (pickles)
KINDS = ("state_dict", "safetensors", "huggingface", "skops", "pickle")


def natural_key(text: str) -> list:
    """Sort key that orders digit runs by value: ``model-2`` before ``model-10``.

    >>> sorted(["m10.pt", "m2.pt", "m1.pt"], key=natural_key)
    ['m1.pt', 'm2.pt', 'm10.pt']
    """
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def checkpoint_kind(path: Path) -> str | None:
    """``state_dict``, ``safetensors``, ``huggingface``, ``skops``, ``pickle``, or None (unknown)."""
    if path.is_dir():
        return "huggingface" if (path / "config.json").is_file() else None
    suffix = path.suffix.lower()
    if suffix in STATE_DICT_SUFFIXES:
        return "state_dict"
    if suffix == ".safetensors":
        return "safetensors"
    if suffix == ".skops":
        return "skops"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    return None


def find_checkpoints(pattern: str) -> list[Path]:
    """The files (or model folders) matching a glob pattern, sorted by name in natural order."""
    paths = [Path(p) for p in glob.glob(str(Path(pattern).expanduser()), recursive=True)]
    if not paths:
        raise MemlensError(
            f"No checkpoint matches '{pattern}'. Give a glob pattern in quotes (so the shell does not "
            "expand it), e.g. --checkpoints 'checkpoints/model-*.pt'."
        )
    return sorted(paths, key=lambda p: natural_key(str(p)))


def checkpoint_names(paths: Sequence[Path]) -> list[str]:
    """Each checkpoint's path relative to the folder that holds them all (file names, usually)."""
    resolved = [Path(p).resolve() for p in paths]
    if len(resolved) == 1:
        return [resolved[0].name]
    import os

    root = Path(os.path.commonpath(resolved))
    return [str(p.relative_to(root)) for p in resolved]


def _file_sha256(path: Path) -> str:
    """SHA-256 of a checkpoint: the file, or a folder's relative names and file hashes in order."""
    from memlens.store import sha256_file

    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted((f for f in path.rglob("*") if f.is_file()), key=lambda f: str(f.relative_to(path))):
        h.update(str(f.relative_to(path)).encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


# --- which examples each checkpoint saw -----------------------------------------------------


def read_membership(path, names: Sequence[str], n_examples: int) -> np.ndarray:
    """The (M, N) bool mask of which examples each checkpoint trained on, rows in ``names`` order.

    ``path`` is a boolean ``.npy`` / ``.npz`` of shape (M, N) whose rows are already in that
    order, or a manifest naming each checkpoint by its name, file name or stem: ``.json`` —
    ``{"model-0.pt": [0, 5, …], …}`` (or a list of id lists, in order) — or ``.csv`` with columns
    ``checkpoint`` and ``id``, one row per (checkpoint, example). Ids are row numbers 0…N−1.
    """
    from memlens.importing import check_membership, read_array

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        mask = check_membership(read_array(path, flag="--membership", keys=("membership", "mask", "keep")),
                                where=str(path))  # fmt: skip
        if mask.shape != (len(names), n_examples):
            raise MemlensError(
                f"The membership mask {path} has shape {mask.shape}, but there are {len(names)} "
                f"checkpoints and the dataset has {n_examples} examples: it must be (checkpoints, "
                "examples), row i for the i-th checkpoint in natural name order."
            )
        return mask
    if suffix == ".json":
        ids_per = _json_manifest(path, names)
    elif suffix == ".csv":
        ids_per = _csv_manifest(path, names)
    elif not path.exists():
        raise MemlensError(f"No membership file at {path} (--membership).")
    else:
        raise MemlensError(
            f"--membership {path}: memlens reads a boolean .npy / .npz mask (checkpoints × examples) "
            "or a .json / .csv manifest of the ids each checkpoint trained on."
        )
    mask = np.zeros((len(names), n_examples), dtype=bool)
    for i, ids in enumerate(ids_per):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.size and (
            not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n_examples
        ):
            bad = [v for v in ids.ravel().tolist() if not (isinstance(v, int) and 0 <= v < n_examples)][:5]
            raise MemlensError(
                f"{path} lists ids for {names[i]} that are not example ids 0…{n_examples - 1} of the "
                f"dataset (e.g. {bad}). Ids are the dataset's row numbers."
            )
        mask[i, ids.astype(np.int64)] = True
    return check_membership(mask, where=str(path))


def _resolver(names: Sequence[str]) -> Callable[[str], int | None]:
    """Maps a manifest's key (a checkpoint's name, file name or stem) to its index, if unique."""
    aliases: dict[str, set[int]] = {}
    for i, name in enumerate(names):
        p = Path(name)
        for alias in {name, p.name, p.stem, p.name.split(".")[0]}:
            aliases.setdefault(alias, set()).add(i)
    return lambda key: next(iter(aliases[key])) if len(aliases.get(key, ())) == 1 else None


def _match(path: Path, keys: list[str], names: Sequence[str]) -> list[int]:
    resolve = _resolver(names)
    index = [resolve(str(k)) for k in keys]
    unknown = [k for k, i in zip(keys, index, strict=True) if i is None]
    if unknown:
        raise MemlensError(
            f"{path} names {len(unknown)} checkpoint(s) that --checkpoints did not match (or matched "
            f"ambiguously): {', '.join(map(str, unknown[:5]))}. Checkpoints found: "
            f"{', '.join(names[:5])}{' …' if len(names) > 5 else ''}."
        )
    missing = sorted(set(range(len(names))) - set(index))
    if missing:
        raise MemlensError(
            f"{path} says nothing about {len(missing)} checkpoint(s), e.g. {names[missing[0]]}: give the "
            "ids every checkpoint trained on (an empty list for one trained on none of these examples)."
        )
    return index


def _json_manifest(path: Path, names: Sequence[str]) -> list[list]:
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise MemlensError(f"No membership file at {path} (--membership).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MemlensError(f"{path} is not valid JSON ({e}).") from None
    if isinstance(content, list):
        if len(content) != len(names) or not all(isinstance(ids, list) for ids in content):
            raise MemlensError(
                f"{path} is a list of {len(content)} entries, but there are {len(names)} checkpoints: a "
                "list manifest holds one list of ids per checkpoint, in natural name order."
            )
        return content
    if not isinstance(content, dict) or not all(isinstance(v, list) for v in content.values()):
        raise MemlensError(
            f"{path} must map each checkpoint's name to the list of example ids it trained on, e.g. "
            '{"model-0.pt": [0, 3, 4], "model-1.pt": [1, 2, 3]}.'
        )
    index = _match(path, list(content), names)
    ids_per: list[list] = [[] for _ in names]
    for i, ids in zip(index, content.values(), strict=True):
        ids_per[i] = ids
    return ids_per


def _csv_manifest(path: Path, names: Sequence[str]) -> list[np.ndarray]:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={"checkpoint": str})
    except FileNotFoundError:
        raise MemlensError(f"No membership file at {path} (--membership).") from None
    except Exception as e:
        raise MemlensError(f"{path} could not be read as CSV ({e}).") from None
    if not {"checkpoint", "id"} <= set(table.columns):
        raise MemlensError(
            f"{path} needs the columns checkpoint and id (one row per checkpoint and example it trained "
            f"on); it has {', '.join(map(str, table.columns[:10]))}."
        )
    ids = pd.to_numeric(table["id"], errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any():
        rows = np.flatnonzero((ids.isna() | (ids % 1 != 0)).to_numpy())
        raise MemlensError(f"{path}: the id column must hold whole numbers; rows {rows[:5].tolist()} do not.")
    keys = table["checkpoint"].astype(str).tolist()
    index = _match(path, sorted(set(keys), key=natural_key), names)
    where = dict(zip(sorted(set(keys), key=natural_key), index, strict=True))
    ids_per: list[list] = [[] for _ in names]
    for key, value in zip(keys, ids.astype(np.int64).tolist(), strict=True):
        ids_per[where[key]].append(value)
    return [np.asarray(v, dtype=np.int64) for v in ids_per]


def resolve_kind(paths: Sequence[Path], names: Sequence[str], *, factory=None, allow_pickle: bool = False) -> str:
    """The one kind all checkpoints share, after checking it can be loaded as asked: a state dict
    needs a factory, a pickle needs ``allow_pickle``."""
    kinds: dict[str, str] = {}
    for path, name in zip(paths, names, strict=True):
        kind = checkpoint_kind(Path(path))
        if kind is None:
            raise MemlensError(
                f"{name} is not a checkpoint memlens can load: use PyTorch state_dict files (.pt, .pth, "
                ".bin, .ckpt, .safetensors), Hugging Face model folders (with config.json), or "
                "scikit-learn models (.skops; .joblib/.pkl with --allow-pickle)."
            )
        kinds.setdefault(kind, name)
    if len(kinds) > 1:
        raise MemlensError(
            "The checkpoints are of different kinds ("
            + ", ".join(f"{k}: {n}" for k, n in kinds.items())
            + "); audit one kind at a time (narrow the --checkpoints pattern)."
        )
    kind = next(iter(kinds))
    if kind in ("state_dict", "safetensors") and factory is None:
        raise MemlensError(
            f"{names[0]} is a PyTorch state_dict: memlens needs the module to load it into. Give "
            "--model-factory FILE.py:FUNCTION, where FUNCTION() returns the untrained torch.nn.Module "
            "(model = Net(); return model)."
        )
    if kind == "pickle" and not allow_pickle:
        raise MemlensError(
            f"{names[0]} is a pickle (joblib); loading one runs whatever code it names, so memlens does "
            "not do it unless asked. If you made these files or trust them, add --allow-pickle; safer "
            "still, save models with skops (skops.io.dump) as .skops."
        )
    if factory is not None and not callable(factory):
        raise MemlensError(f"The model factory must be a function; got a {type(factory).__name__}.")
    return kind


# --- the trainer ----------------------------------------------------------------------------


@dataclass
class Checkpoints:
    """A trainer that loads already-trained models and observes them, one per membership row.

    Args:
        paths: The checkpoints in model order: ``paths[i]`` trained on row i of ``membership``.
        membership: (M, N) bool, which examples each checkpoint trained on.
        factory: For state dicts, ``factory()`` returns the (untrained) ``torch.nn.Module`` the
            weights load into; for Hugging Face folders, ``factory(folder)`` returns the loaded
            model (default: ``AutoModelForSequenceClassification``). Not used for scikit-learn.
        allow_pickle: Load ``.joblib`` / ``.pkl`` files, and ``.skops`` files holding types skops
            does not trust by default. Unpickling runs any code the file names: only for files
            you made or trust.
        batch_size: Examples per forward pass when a torch model is observed.
        factory_spec: Where ``factory`` was loaded from (``FILE.py:FUNCTION``), for other processes.
        device: Where torch models are observed: ``auto`` (a CUDA GPU when torch sees one),
            ``cpu`` or ``cuda``. Recorded in the run, not part of its identity.
    """

    paths: Sequence[Path]
    membership: np.ndarray
    factory: Callable | None = None
    allow_pickle: bool = False
    batch_size: int = 1024
    factory_spec: str | None = None
    device: str = "auto"
    units_per_model: int = 1
    _checked: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.paths = [Path(p) for p in self.paths]
        self.membership = np.asarray(self.membership, dtype=bool)
        if self.membership.ndim != 2 or self.membership.shape[0] != len(self.paths):
            raise MemlensError(
                f"{len(self.paths)} checkpoints need a membership mask with {len(self.paths)} rows; got "
                f"shape {self.membership.shape}."
            )
        self.names = checkpoint_names(self.paths)
        self.kind = resolve_kind(self.paths, self.names, factory=self.factory, allow_pickle=self.allow_pickle)

    def __reduce_ex__(self, protocol):
        if self.factory_spec is not None:  # a factory from a file is sent by where to load it from
            return (_checkpoints_from_spec, (list(self.paths), self.membership, self.factory_spec,
                                             self.allow_pickle, self.batch_size))  # fmt: skip
        return super().__reduce_ex__(protocol)

    def config(self) -> dict:
        from memlens.train.function import callable_identity

        if not hasattr(self, "_hashes"):
            self._hashes = [_file_sha256(p) for p in self.paths]
        order = hashlib.sha256("\0".join(self.names).encode()).hexdigest()
        return {
            "trainer": "checkpoints",
            "model": f"{len(self.paths)} {self.kind} checkpoints",
            "kind": self.kind,
            "checkpoints": dict(zip(self.names, self._hashes, strict=True)),  # name → SHA-256
            "order_sha256": order,  # row i is the i-th name: a reordering is another run
            "factory": callable_identity(self.factory) if self.factory is not None else None,
            "allow_pickle": self.allow_pickle,
        }

    def load(self, index: int):
        """Checkpoint ``index`` as a model memlens can observe."""
        path, name = self.paths[index], self.names[index]
        return {
            "state_dict": self._load_state_dict, "safetensors": self._load_state_dict,
            "huggingface": self._load_huggingface, "skops": self._load_skops, "pickle": self._load_pickle,
        }[self.kind](path, name)  # fmt: skip

    def check(self, data: Dataset) -> None:
        """Load and observe the first checkpoint now, before a run directory exists, so a factory
        that does not fit or a model that returns the wrong outputs is refused with nothing
        written. The result is kept for :meth:`fit_observe`."""
        if self.membership.shape[1] != data.n_examples:
            raise MemlensError(
                f"The membership mask covers {self.membership.shape[1]} examples but the dataset "
                f"{data.name} has {data.n_examples}."
            )
        self.preflight()
        self._checked[0] = self._observe(0, data)

    def preflight(self) -> None:
        """Open every checkpoint cheaply and refuse one that cannot load, naming it: state dicts
        are memory-mapped (no weights read) and their names and shapes compared with the
        factory's module; skops files are checked for untrusted types; Hugging Face folders for a
        readable config.json. Pickles cannot be opened without running them."""
        expected = None
        for path, name in zip(self.paths, self.names, strict=True):
            if self.kind in ("state_dict", "safetensors"):
                shapes = {k: tuple(v.shape) for k, v in self._read_weights(path, name, mmap=True).items()}
                if expected is None:
                    expected = {k: tuple(v.shape) for k, v in self._module(name).state_dict().items()}
                if shapes != expected:
                    missing, unexpected = sorted(expected.keys() - shapes), sorted(shapes.keys() - expected)
                    wrong = [k for k in expected.keys() & shapes if expected[k] != shapes[k]]
                    detail = "; ".join(
                        part for part in (
                            f"missing {', '.join(missing[:3])}" if missing else "",
                            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                            f"{wrong[0]} is {shapes[wrong[0]]}, not {expected[wrong[0]]}" if wrong else "",
                        ) if part
                    )  # fmt: skip
                    raise MemlensError(
                        f"{name} does not fit the module {_name(self.factory)}() builds: {detail}. Make "
                        "the factory build the architecture that was trained."
                    )
            elif self.kind == "skops":
                self._untrusted(path, name)
            elif self.kind == "huggingface":
                try:
                    json.loads((path / "config.json").read_text())
                except (OSError, ValueError) as e:
                    raise MemlensError(f"{name}/config.json could not be read ({e}).") from None

    def fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None = None) -> dict:
        membership = np.asarray(membership, dtype=bool)
        per_model = []
        for row, seed in zip(membership, seeds, strict=True):
            index = self._index(row, seed)
            observed = self._checked.pop(index, None)
            per_model.append(observed if observed is not None else self._observe(index, data))
            if progress:
                progress(1)
        return stack(per_model)

    def _index(self, row: np.ndarray, seed) -> int:
        """Which checkpoint a row of the design is: the model's index in the run, which the engine
        passes as the last element of the model seed's spawn key (:func:`memlens.seeds.model_index`),
        checked against the mask row."""
        from memlens import seeds

        index = seeds.model_index(seed) if getattr(seed, "spawn_key", ()) else -1
        if not 0 <= index < len(self.paths) or not np.array_equal(self.membership[index], row):
            raise RuntimeError(
                "The checkpoint trainer could not tell which checkpoint a model of the run is: the "
                "engine's model seeds no longer carry the model's index (memlens.train.model_seeds)."
            )
        return index

    def resolve_device(self) -> dict:
        """Where torch checkpoints are observed and why (resolved once; see memlens.train.device)."""
        from memlens.train import device

        if getattr(self, "_device_choice", None) is None:
            self._device_choice = device.resolve(self.device)
        return self._device_choice

    def _observe(self, index: int, data: Dataset) -> dict:
        model = self.load(index)
        if hasattr(model, "to") and hasattr(model, "parameters"):  # a torch module: observe it there
            model = model.to(self.resolve_device()["device"])
        return observe_model(model, data, batch_size=self.batch_size,
                             name=f"checkpoint {self.names[index]}")  # fmt: skip

    # --- loaders, one per kind --------------------------------------------------------------

    def _call_factory(self, name: str, *args):
        try:
            return self.factory(*args)
        except (MemlensError, MemoryError):
            raise
        except Exception as e:
            call = f"{_name(self.factory)}({', '.join(map(repr, args))})"
            raise MemlensError(
                f"The model factory {call} raised {type(e).__name__}: {e} (loading {name}). "
                "MEMLENS_DEBUG=1 shows the traceback."
            ) from e

    def _read_weights(self, path: Path, name: str, *, mmap: bool = False) -> dict:
        """A state dict from a file (memory-mapped when ``mmap``), without running any code."""
        import pickle

        import torch

        try:
            if self.kind == "safetensors":
                from safetensors.torch import load_file

                weights = load_file(str(path), device="cpu")
            else:
                try:
                    weights = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
                except RuntimeError as e:
                    if not mmap or "mmap" not in str(e):
                        raise
                    weights = torch.load(path, map_location="cpu", weights_only=True)  # an old format
        except pickle.UnpicklingError as e:
            raise MemlensError(
                f"{name} holds more than tensors, so memlens did not load it (torch.load with "
                f"weights_only=True refused: {str(e).splitlines()[0]}). Save the weights alone: "
                "torch.save(model.state_dict(), path)."
            ) from None
        except Exception as e:
            raise MemlensError(f"{name} could not be read as a PyTorch checkpoint ({type(e).__name__}: {e}).") from None
        if isinstance(weights, dict) and not _all_tensors(weights):
            for key in ("state_dict", "model_state_dict", "model"):  # common training-loop layouts
                if isinstance(weights.get(key), dict) and _all_tensors(weights[key]):
                    weights = weights[key]
                    break
        if not isinstance(weights, dict) or not _all_tensors(weights):
            raise MemlensError(
                f"{name} is not a state_dict (a dict of parameter names to tensors); it holds a "
                f"{type(weights).__name__}. Save it with torch.save(model.state_dict(), path)."
            )
        return weights

    def _module(self, name: str):
        import torch

        model = self._call_factory(name)
        if not isinstance(model, torch.nn.Module):
            raise MemlensError(
                f"The model factory {_name(self.factory)}() returned a {type(model).__name__}, not a "
                "torch.nn.Module to load the state_dict into."
            )
        return model

    def _load_state_dict(self, path: Path, name: str):
        weights = self._read_weights(path, name)
        model = self._module(name)
        try:
            model.load_state_dict(weights)
        except RuntimeError as e:
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            raise MemlensError(
                f"{name} does not fit the module {_name(self.factory)}() builds: "
                f"{' '.join(lines[:3])[:600]}. Make the factory build the architecture that was trained."
            ) from None
        return model

    def _load_huggingface(self, path: Path, name: str):
        if self.factory is not None:
            return self._call_factory(name, str(path))
        try:
            from transformers import AutoModelForSequenceClassification
        except ImportError:
            raise MemlensError(
                "Hugging Face checkpoints need transformers: pip install 'memlens[lm]'."
            ) from None
        try:
            return AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        except Exception as e:
            raise MemlensError(
                f"{name} could not be loaded as a Hugging Face sequence classifier "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). For another kind of "
                "model, give --model-factory FILE.py:FUNCTION whose FUNCTION(folder) loads it."
            ) from None

    def _load_skops(self, path: Path, name: str):
        try:
            import skops.io as sio
        except ImportError:
            raise MemlensError(".skops checkpoints need skops: pip install 'memlens[byo]'.") from None
        untrusted = self._untrusted(path, name)
        try:
            return sio.load(path, trusted=untrusted or None)
        except Exception as e:
            raise MemlensError(f"{name} could not be loaded by skops ({type(e).__name__}: {e}).") from None

    def _untrusted(self, path: Path, name: str) -> list[str]:
        """Types in a skops file that skops does not trust by default (refused without allow_pickle)."""
        try:
            import skops.io as sio
        except ImportError:
            raise MemlensError(".skops checkpoints need skops: pip install 'memlens[byo]'.") from None
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as e:
            raise MemlensError(f"{name} could not be read as a skops file ({type(e).__name__}: {e}).") from None
        if untrusted and not self.allow_pickle:
            raise MemlensError(
                f"{name} holds types skops does not trust by default ({', '.join(untrusted[:5])}). "
                "Building them can run their code, so memlens does it only with --allow-pickle: add it "
                "if you made these files or trust them."
            )
        return untrusted

    def _load_pickle(self, path: Path, name: str):
        import joblib

        try:
            return joblib.load(path)
        except Exception as e:
            raise MemlensError(f"{name} could not be unpickled ({type(e).__name__}: {e}).") from None


def _all_tensors(mapping: dict) -> bool:
    import torch

    return bool(mapping) and all(isinstance(v, torch.Tensor) for v in mapping.values())


def _name(fn) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def _checkpoints_from_spec(paths, membership, factory_spec, allow_pickle, batch_size) -> Checkpoints:
    from memlens.train.function import load_callable

    return Checkpoints(paths, membership, load_callable(factory_spec, option="--model-factory"),
                       allow_pickle, batch_size, factory_spec)  # fmt: skip
