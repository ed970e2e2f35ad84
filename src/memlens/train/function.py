"""Bring your own training: a user's function, called once per model, as a memlens trainer.

``Function(train_fn)`` turns any training code into the shadow-model trainer of an audit:
memlens calls ``train_fn(X, y, seed)`` with one model's training rows (``X`` (n, d) float32,
``y`` (n,) int64, as numpy arrays) and an integer seed, and observes the fitted model it returns
— a ``torch.nn.Module``, a scikit-learn estimator, a Hugging Face model, or any object with
``predict_proba``/``logits`` (:mod:`memlens.train.outputs`) — on every example and the test set.

The run records which function trained it (its qualified name and the SHA-256 of its source
file), so resuming after the function was edited is refused with that difference.
``memlens audit --trainer FILE.py:FUNCTION`` (or ``module:function``) loads it with
:func:`load_callable`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import marshal
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens.data import Dataset
from memlens.errors import MemlensError
from memlens.train.base import Progress
from memlens.train.outputs import observe_model, stack


@dataclass
class Function:
    """A trainer that calls ``train_fn(X, y, seed)`` once per model and observes what it returns.

    Args:
        train_fn: Fits one model on the rows it is given and returns it.
        batch_size: Examples per forward pass when a torch model is observed.
        spec: Where the function was loaded from (``FILE.py:FUNCTION``), so the trainer can be
            sent to another process; set by :meth:`from_spec`.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from memlens.data import load
        >>> from memlens.design import halves
        >>> from memlens.train import model_seeds
        >>> def train(X, y, seed):
        ...     return LogisticRegression(max_iter=300, random_state=seed).fit(X, y)
        >>> obs = Function(train).fit_observe(load("digits:200"), halves(2, 200).membership, model_seeds(0, 2))
        >>> obs["confidence"].shape, obs["test_loss"].shape
        ((2, 200), (2, 450))
    """

    train_fn: Callable
    batch_size: int = 1024
    spec: str | None = None
    units_per_model: int = 1
    #: observations of models trained by :meth:`check`, reused when fit_observe meets them again
    _checked: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.train_fn):
            raise MemlensError(
                f"Function needs a callable train_fn(X, y, seed); got a {type(self.train_fn).__name__}."
            )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise MemlensError(f"batch_size must be a whole number of at least 1; got {self.batch_size!r}.")
        try:
            inspect.signature(self.train_fn).bind(None, None, 0)
        except TypeError as e:
            raise MemlensError(
                f"{self.name} cannot be called as {self.name}(X, y, seed) ({e}). memlens calls it with "
                "one model's training rows X (n, d) float32 and labels y (n,) int64, as numpy arrays, "
                "and an integer seed, and expects the fitted model back."
            ) from None
        except ValueError:  # no signature to inspect (a builtin): find out when it is called
            pass

    @classmethod
    def from_spec(cls, spec: str, **options) -> Function:
        """The function named ``FILE.py:FUNCTION`` or ``module:function`` (see :func:`load_callable`)."""
        return cls(load_callable(spec, option="--trainer"), spec=spec, **options)

    def __reduce_ex__(self, protocol):
        if self.spec is not None:  # a function loaded from a file is sent by where to load it from
            return (Function.from_spec, (self.spec,), {"batch_size": self.batch_size})
        return super().__reduce_ex__(protocol)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def name(self) -> str:
        return _qualname(self.train_fn)

    def config(self) -> dict:
        identity = callable_identity(self.train_fn)
        return {"trainer": "function", "model": f"{identity['function']} ({identity['source']})", **identity}

    @staticmethod
    def seed_value(seed: np.random.SeedSequence) -> int:
        """The integer a model's seed becomes for ``train_fn`` (in [0, 2**31), fine for every library)."""
        return int(seed.generate_state(1)[0] >> 1)

    def check(self, data: Dataset, membership_row: np.ndarray, seed: np.random.SeedSequence) -> None:
        """Train and observe one model now, before a run directory exists, so a function that
        fails or returns something unusable is refused with nothing written. The result is kept
        and :meth:`fit_observe` uses it instead of training that model again."""
        row = np.asarray(membership_row, dtype=bool)
        self._checked[_key(row, seed)] = self._fit_observe_one(data, row, seed)

    def fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None = None) -> dict:
        membership = np.asarray(membership, dtype=bool)
        per_model = []
        for row, seed in zip(membership, seeds, strict=True):
            observed = self._checked.pop(_key(row, seed), None)
            per_model.append(observed if observed is not None else self._fit_observe_one(data, row, seed))
            if progress:
                progress(1)
        return stack(per_model)

    def _fit_observe_one(self, data: Dataset, row: np.ndarray, seed) -> dict:
        value = self.seed_value(seed)
        try:
            model = self.train_fn(data.X[row], data.y[row], value)
        except (MemlensError, MemoryError):
            raise
        except Exception as e:
            raise MemlensError(
                f"The training function {self.name} raised {type(e).__name__}: {e} (while training a model "
                f"on {int(row.sum())} examples with seed {value}). Fix the function and run the command "
                "again (MEMLENS_DEBUG=1 shows the traceback)."
            ) from e
        return observe_model(model, data, batch_size=self.batch_size, name=f"the model from {self.name}")


def _key(row: np.ndarray, seed: np.random.SeedSequence) -> tuple:
    return repr(seed.entropy), tuple(seed.spawn_key), hashlib.sha256(np.packbits(row).tobytes()).hexdigest()


def _qualname(fn) -> str:
    target = _unwrap(fn)
    return getattr(target, "__qualname__", None) or type(target).__qualname__


def _unwrap(fn):
    """The function whose code runs: through functools.partial, and a callable object's class."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isclass(fn) or inspect.isbuiltin(fn)):
        fn = type(fn)  # an object with __call__: its class holds the code
    return fn


def callable_identity(fn) -> dict:
    """What identifies a user's function in a run's configuration: its qualified name, its source
    file's name and the file's SHA-256 (or, without a file, the SHA-256 of its bytecode).

    Editing anything in that file changes the hash, so a run resumed after an edit is refused
    with the difference (its finished models came from other code).
    """
    from memlens.store import sha256_file

    target = _unwrap(fn)
    name = _qualname(fn)
    try:
        source = inspect.getsourcefile(target)
    except TypeError:  # builtins
        source = None
    if source and Path(source).is_file():
        return {"function": name, "source": Path(source).name, "source_sha256": sha256_file(Path(source))}
    code = getattr(target, "__code__", None)
    if code is not None:  # defined where no file is kept (an interactive session)
        return {"function": name, "source": "<no file: bytecode>", "source_sha256": hashlib.sha256(marshal.dumps(code)).hexdigest()}
    raise MemlensError(
        f"{name} has neither a source file nor Python bytecode, so a run could not tell whether it "
        "changed between a run and its resume. Wrap it in a Python function defined in a file."
    )


def load_callable(spec: str, *, option: str = "--trainer") -> Callable:
    """The callable named ``FILE.py:FUNCTION`` (a file anywhere, imported by its path) or
    ``module:function`` (an importable module); ``FUNCTION`` may be dotted (``Class.method``).

    Importing runs the module's top-level code, as any import does (code under
    ``if __name__ == "__main__":`` does not run); the file's folder is put on ``sys.path`` so it
    can import its neighbours. The attribute is checked to be callable before anything calls it.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name or not all(part.isidentifier() for part in name.split(".")):
        raise MemlensError(
            f"{option} '{spec}' is not FILE.py:FUNCTION or module:function. Name the file (or module) "
            "and the function, e.g. train.py:train or mypackage.training:train."
        )
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _import_file(Path(where).expanduser(), option=option)
        origin = where
    else:
        module = _import_module(where, option=option)
        origin = f"module '{where}'"
    parts = name.split(".")
    target = vars(module).get(parts[0])  # what the module defines or imports (no module __getattr__)
    for part in parts[1:]:
        target = getattr(target, part, None) if target is not None else None
    if target is None:
        defined = sorted(
            k for k, v in vars(module).items()
            if not k.startswith("_") and inspect.isfunction(v) and v.__module__ == module.__name__
        )  # fmt: skip
        raise MemlensError(
            f"{origin} has no '{name}' ({option} {spec}). Functions it defines: "
            f"{', '.join(defined) if defined else 'none'}."
        )
    if not callable(target):
        raise MemlensError(
            f"'{name}' in {origin} is of type {type(target).__name__}, not a function ({option} {spec}); "
            "it was not called. Name a function defined there."
        )
    return target


def _import_file(path: Path, *, option: str):
    """Import a Python file by its path, as a fresh module (edits between calls are seen)."""
    path = path.resolve()
    if not path.is_file():
        raise MemlensError(
            f"No Python file at {path} ({option}). Give the path of the file that defines the "
            "function, e.g. train.py:train."
        )
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"memlens_user_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise MemlensError(f"{path} cannot be imported as Python ({option}): name a .py file.")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # so it can import the modules next to it
    sys.modules[module_name] = module  # dataclasses and pickle look modules up by name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(module_name, None)
        raise MemlensError(f"{path} has a syntax error at line {e.lineno}: {e.msg} ({option}).") from None
    except (Exception, SystemExit) as e:
        sys.modules.pop(module_name, None)
        raise MemlensError(
            f"Importing {path} failed with {type(e).__name__}: {e} ({option}). Its top-level code runs "
            "when it is imported; put script code under `if __name__ == \"__main__\":`."
        ) from e
    return module


def _import_module(name: str, *, option: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise MemlensError(
                f"No module named '{e.name}' ({option}). For a file, write its path with .py "
                "(train.py:train); for a module, install it or run from the folder that holds it."
            ) from None
        raise MemlensError(f"Importing '{name}' failed: it needs '{e.name}', which is not installed ({option}).") from None
    except (Exception, SystemExit) as e:
        raise MemlensError(f"Importing '{name}' failed with {type(e).__name__}: {e} ({option}).") from e
