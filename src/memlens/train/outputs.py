"""Class outputs of a fitted model from any library, turned into memlens's observations.

A user's model — a ``torch.nn.Module`` (Hugging Face models included), a scikit-learn estimator or
pipeline, or any object with ``predict_proba(X)`` or ``logits(X)`` — is observed the same way the
built-in trainers observe theirs: its (N, C) logits or probabilities on every example (and the
test set) become ``correct``, ``loss``, ``confidence`` and ``probabilities`` through
:mod:`memlens.observe`. Every output is checked (shape, NaN, probabilities that do not sum to 1)
and a failure says in one paragraph what the model returned and what memlens needs.
"""

from __future__ import annotations

import sys

import numpy as np

from memlens import observe
from memlens.errors import MemlensError

#: how far a row of probabilities may be from summing to 1 (float16 storage rounds by ~5e-4)
PROBABILITY_SUM_TOLERANCE = 1e-3


def _cap(text: str) -> str:
    """``text`` beginning a sentence: a leading lower-case word is capitalised, a path is not."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text


def _is_torch_module(model) -> bool:
    torch = sys.modules.get("torch")  # an nn.Module can only exist if torch was imported
    return torch is not None and isinstance(model, torch.nn.Module)


def model_outputs(model, X: np.ndarray, *, n_classes: int, image_shape=None, batch_size: int = 1024,
                  name: str = "the model") -> tuple[str, np.ndarray]:  # fmt: skip
    """``("logits" | "probabilities", (N, C) float64)``: what ``model`` says about each row of ``X``.

    A ``torch.nn.Module`` is called on batches of ``X`` as float32 tensors on the device of its
    parameters, in ``eval`` mode without gradients, and its output (or the output's ``.logits``,
    or the first element of a tuple) is taken as logits. A Hugging Face model whose input is
    ``input_ids`` gets ``X`` as token ids (and an attention mask where its config has a padding
    token); one taking ``pixel_values`` gets the rows as images. Otherwise ``predict_proba(X)``
    gives probabilities (scikit-learn's ``classes_`` map them onto all C classes) and
    ``logits(X)`` gives logits. A binary model's single logit z becomes the logits (0, z).

    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    >>> kind, p = model_outputs(LogisticRegression().fit(X, y), X, n_classes=2)
    >>> kind, p.shape
    ('probabilities', (4, 2))
    """
    X = np.asarray(X)
    if model is None:
        raise MemlensError(
            f"{_cap(name)} is None, not a fitted model. A training function must end with `return model` "
            "(a torch.nn.Module, a scikit-learn estimator, a Hugging Face model, or an object with "
            "predict_proba(X) or logits(X))."
        )
    if _is_torch_module(model):
        kind, out = "logits", _torch_logits(model, X, image_shape=image_shape, batch_size=batch_size, name=name)
    elif callable(getattr(model, "predict_proba", None)):
        from memlens.train.sklearn import _full_proba

        try:
            return "probabilities", check_outputs(
                "probabilities", _full_proba(model, X, n_classes), n_rows=len(X), n_classes=n_classes, name=name
            )
        except (MemlensError, MemoryError):
            raise
        except Exception as e:
            raise _call_failed(name, "predict_proba(X)", X, e) from e
    elif callable(getattr(model, "logits", None)):
        try:
            out = np.asarray(model.logits(X))
        except (MemlensError, MemoryError):
            raise
        except Exception as e:
            raise _call_failed(name, "logits(X)", X, e) from e
        kind = "logits"
    else:
        raise MemlensError(
            f"{_cap(name)} is a {type(model).__module__}.{type(model).__qualname__}, which memlens cannot "
            "observe. Return a torch.nn.Module (memlens takes its outputs as logits), a scikit-learn "
            "estimator or pipeline (predict_proba), a Hugging Face model (its .logits), or any object "
            "with a predict_proba(X) or logits(X) method."
        )
    return kind, check_outputs(kind, out, n_rows=len(X), n_classes=n_classes, name=name)


def _call_failed(name: str, call: str, X: np.ndarray, e: Exception) -> MemlensError:
    return MemlensError(
        f"Calling {name} ({call}) on {len(X)} examples of shape {X.shape[1:]} ({X.dtype}) failed with "
        f"{type(e).__name__}: {e}. memlens passes the rows of X exactly as the training function "
        "received them; make the model accept that (MEMLENS_DEBUG=1 shows the traceback)."
    )


def _torch_logits(model, X: np.ndarray, *, image_shape, batch_size: int, name: str) -> np.ndarray:
    """(N, C) float32 logits of a torch module, evaluated in batches without gradients."""
    import torch

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    main_input = getattr(model, "main_input_name", None)  # set on every Hugging Face model
    if main_input == "input_ids":
        if not (np.issubdtype(X.dtype, np.number) and np.all(np.mod(X, 1) == 0) and X.min() >= 0):
            raise MemlensError(
                f"{_cap(name)} is a Hugging Face model that reads token ids (input_ids), but the dataset's "
                "rows are not whole numbers >= 0. Give a dataset whose X holds token ids, one padded "
                "sequence per row."
            )
    pad = getattr(getattr(model, "config", None), "pad_token_id", None)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                rows = X[start : start + batch_size]
                if main_input == "input_ids":
                    ids = torch.from_numpy(rows.astype(np.int64)).to(device)
                    kwargs = {"input_ids": ids}
                    if pad is not None:
                        kwargs["attention_mask"] = (ids != pad).long()
                    out = model(**kwargs)
                elif main_input == "pixel_values" and image_shape:
                    shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
                    pixels = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32).reshape(len(rows), *shape))
                    out = model(pixel_values=pixels.to(device))
                else:
                    out = model(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to(device))
                out = getattr(out, "logits", out)  # a Hugging Face output object
                if isinstance(out, tuple | list) and out:
                    out = out[0]
                if not isinstance(out, torch.Tensor):
                    raise MemlensError(
                        f"{_cap(name)} returned a {type(out).__name__} when called on a batch, not a tensor "
                        "of logits (batch × classes)."
                    )
                chunks.append(out.detach().float().cpu().numpy())
    except (MemlensError, MemoryError):
        raise
    except Exception as e:
        raise _call_failed(name, "forward", X, e) from e
    finally:
        model.train(was_training)
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def check_outputs(kind: str, out, *, n_rows: int, n_classes: int, name: str = "the model") -> np.ndarray:
    """``out`` as (n_rows, n_classes) float64 logits or probabilities, or a one-paragraph error.

    A binary model's single logit (shape (N,) or (N, 1)) becomes the two logits (0, z).
    """
    out = np.asarray(out)
    if out.dtype == object or not np.issubdtype(out.dtype, np.number) or np.issubdtype(out.dtype, np.complexfloating):
        raise MemlensError(f"{_cap(name)} returned {kind} of dtype {out.dtype}; memlens needs real numbers.")
    out = out.astype(np.float64)
    if kind == "logits" and n_classes == 2 and out.shape in ((n_rows,), (n_rows, 1)):
        out = np.stack([np.zeros(n_rows), out.reshape(n_rows)], axis=1)  # sigmoid(z) = softmax(0, z)
    if out.shape != (n_rows, n_classes):
        raise MemlensError(
            f"{_cap(name)} returned {kind} of shape {out.shape} for {n_rows} examples of {n_classes} "
            f"classes; memlens needs one row per example and one column per class, shape "
            f"({n_rows}, {n_classes}). Does the model's last layer have {n_classes} outputs?"
        )
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise MemlensError(
            f"{_cap(name)} returned NaN or infinite {kind} for {len(rows)} of {n_rows} examples (first rows: "
            f"{rows[:5].tolist()}). Training probably diverged: lower the learning rate or check the "
            "inputs."
        )
    if kind == "probabilities":
        check_probabilities(out, name=name)
    return out


def check_probabilities(probs: np.ndarray, *, name: str, axis: int = -1) -> None:
    """Refuse probabilities outside [0, 1] or whose rows do not sum to 1."""
    if (probs < 0).any() or (probs > 1 + PROBABILITY_SUM_TOLERANCE).any():
        raise MemlensError(
            f"{_cap(name)} holds probabilities outside [0, 1] (min {float(probs.min()):.4g}, max "
            f"{float(probs.max()):.4g}). Were they logits? Then pass them as logits."
        )
    sums = probs.sum(axis=axis)
    off = np.abs(sums - 1) > PROBABILITY_SUM_TOLERANCE
    if off.any():
        worst = float(sums.flat[np.argmax(np.abs(sums - 1))])
        raise MemlensError(
            f"{_cap(name)} holds {int(off.sum())} row(s) of class probabilities that do not sum to 1 (one "
            f"sums to {worst:.6g}; allowed: within {PROBABILITY_SUM_TOLERANCE}). memlens needs a "
            "softmax over all classes; per-class sigmoids or a missing class do not qualify."
        )


def observations(kind: str, outputs: np.ndarray, y: np.ndarray, *, probabilities: bool = True) -> dict:
    """Observation arrays of one model, each with a leading axis of 1 (see :mod:`memlens.observe`)."""
    convert = observe.from_logits if kind == "logits" else observe.from_probabilities
    return convert(outputs[None], y, probabilities=probabilities)


def observe_model(model, data, *, batch_size: int = 1024, name: str = "the model") -> dict[str, np.ndarray]:
    """One fitted model observed on every example of ``data`` and on its test set.

    Returns ``correct``, ``loss``, ``confidence`` (1, N), ``probabilities`` (1, N, C) and, when
    the data has a test set, ``test_correct``, ``test_loss``, ``test_confidence`` (1, N_test) —
    the same arrays :class:`memlens.train.Sklearn` and :class:`memlens.train.Ensemble` return.
    """
    kind, out = model_outputs(model, data.X, n_classes=data.n_classes, image_shape=data.image_shape,
                              batch_size=batch_size, name=name)  # fmt: skip
    result = observations(kind, out, data.y)
    if data.has_test:
        kind, out = model_outputs(model, data.X_test, n_classes=data.n_classes, image_shape=data.image_shape,
                                  batch_size=batch_size, name=f"{name} (on the test set)")  # fmt: skip
        result.update({f"test_{k}": v for k, v in observations(kind, out, data.y_test, probabilities=False).items()})
    return result


def stack(per_model: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-model observation dicts along the models axis."""
    return {k: np.concatenate([o[k] for o in per_model]) for k in per_model[0]}
