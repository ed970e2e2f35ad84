"""Which precision the ensemble trains in when asked for ``auto``: bfloat16 only where it is faster.

bfloat16 autocast makes the ensemble's matrix products several times faster on CPUs that multiply
bf16 natively (AMX on Xeon Sapphire Rapids and later; AVX512-BF16 on Cooper Lake and AMD Zen 4
and later), and tens of times *slower* where torch has to emulate it (1.1 against 69 GFLOP/s on
an EPYC without either). So ``auto`` asks torch which instructions the CPU has, and where bf16 is
native (or the CPU is not x86, where torch cannot say) it times one ensemble training step in both
precisions and picks bf16 only if it is clearly faster. The measurement (under half a second) is
cached per CPU and torch version in ``$XDG_CACHE_HOME/memlens/precision.json``
(``MEMLENS_CACHE_DIR`` overrides the folder); an unwritable cache only means measuring again.

A choice is a plain dict, recorded in the run manifest so that a resumed run keeps the precision
its first shards were trained in::

    {"requested": "auto", "precision": "bfloat16", "source": "measured",
     "reason": "AVX512-BF16 (no AMX); a training step took 2.37 ms in bfloat16, 5.22 ms in float32
                (one thread), 2.2× faster",
     "cpu": "AMD EPYC", "isa": {...}, "step_ms": {"float32": 5.22, "bfloat16": 2.37},
     "measured": "2026-…", "torch": "2.13.0+cpu"}
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from memlens.errors import MemlensError

PRECISIONS = ("float32", "bfloat16")
REQUESTS = ("auto", *PRECISIONS)

#: bfloat16 rounds every product, so ``auto`` takes it only when it buys at least this speed-up
MIN_SPEEDUP = 1.2
#: the calibration step: ``MODELS`` MLPs 784-256-10 on a batch of 128 each (Fashion-MNIST's shape)
MODELS, BATCH, FEATURES, WIDTH, CLASSES = 4, 128, 784, 256, 10
#: seconds of timed repetitions after the first (warm-up) step in each precision
BUDGET_S = 0.15
CACHE_VERSION = 3  # bumped whenever the calibration changes what it measures


def check_request(requested: str) -> None:
    """Refuse a precision that is not ``auto``, ``float32`` or ``bfloat16``."""
    if requested not in REQUESTS:
        raise MemlensError(f"Unknown precision '{requested}'; use auto, float32 or bfloat16.")


def choose(requested: str = "auto", *, use_cache: bool = True) -> dict:
    """Resolve ``requested`` to ``float32`` or ``bfloat16`` on this machine, with the reason why.

    An explicit precision is returned as asked. ``auto`` is decided from the CPU's instruction
    set and, where that allows bf16, a timed training step in each precision (cached).
    """
    import torch

    check_request(requested)
    info = cpu_info()
    base = {"requested": requested, "cpu": info["name"], "isa": info, "torch": torch.__version__}
    if requested != "auto":
        return {
            **base,
            "precision": requested,
            "source": "requested",
            "reason": "requested explicitly",
        }
    native = native_bf16(info)
    if native is False:
        precision, reason = decide(native, None, isa=isa_words(info))
        return {**base, "precision": precision, "source": "instruction set", "reason": reason}
    key = cache_key(info, torch.__version__)
    cached = _read_cache().get(key) if use_cache else None
    kept = ("precision", "reason", "step_ms", "measured")
    if (
        isinstance(cached, dict)
        and cached.get("precision") in PRECISIONS
        and isinstance(cached.get("reason"), str)
    ):
        return {**base, **{k: cached[k] for k in kept if k in cached}, "source": "cached"}
    step_ms = calibrate(native=native)
    precision, reason = decide(native, step_ms, isa=isa_words(info))
    measured = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    choice = {
        **base,
        "precision": precision,
        "source": "measured",
        "reason": reason,
        "step_ms": step_ms,
        "measured": measured,
    }
    if use_cache:
        _write_cache(key, {k: choice[k] for k in kept})
    return choice


def decide(native: bool | None, step_ms: dict | None, *, isa: str) -> tuple[str, str]:
    """The precision and a one-line reason, from the ISA verdict and the measured times.

    ``native`` is True/False where torch knows (x86), None where it cannot tell; without native
    bf16 no timing is needed. Otherwise ``step_ms`` holds the milliseconds of ``float32`` and
    ``bfloat16`` (and ``probe`` when they time one matrix product rather than a training step);
    bf16 is taken only when it is ``MIN_SPEEDUP`` times faster.

    >>> decide(False, None, isa="AVX2, no AMX or AVX512-BF16")[0]
    'float32'
    >>> decide(True, {"float32": 2.0, "bfloat16": 1.0}, isa="AMX")[0]
    'bfloat16'
    >>> decide(True, {"float32": 2.0, "bfloat16": 1.9}, isa="AMX")[0]
    'float32'
    """
    if native is False:
        return (
            "float32",
            f"{isa}: torch would emulate bfloat16 matrix products, many times slower than float32",
        )
    if not step_ms or "float32" not in step_ms or "bfloat16" not in step_ms:
        raise ValueError("unless the CPU lacks native bf16, the choice needs both measured times")
    f32, bf16 = step_ms["float32"], step_ms["bfloat16"]
    what = "a matrix product" if "probe" in step_ms else "a training step"
    times = f"{what} took {bf16:.3g} ms in bfloat16, {f32:.3g} ms in float32 (one thread)"
    speedup = f32 / bf16 if bf16 > 0 else float("inf")
    if speedup >= MIN_SPEEDUP:
        return "bfloat16", f"{isa}; {times}, {speedup:.1f}× faster"
    return "float32", f"{isa}; {times}: bfloat16 not ≥{MIN_SPEEDUP}× faster"


def cpu_info() -> dict:
    """The CPU's name and what torch knows of its instruction set (x86 only; None elsewhere)."""
    import torch

    machine = platform.machine().lower()
    x86 = machine in ("x86_64", "amd64", "i386", "i686")
    cpu = getattr(torch, "cpu", None)

    def flag(name: str) -> bool | None:
        probe = getattr(cpu, name, None)
        if not x86 or probe is None:
            return None
        try:
            return bool(probe())
        except Exception:  # a torch build without the probe: treat as unknown
            return None

    name, family = _proc_cpuinfo()
    capability = None
    with contextlib.suppress(Exception):
        capability = torch.backends.cpu.get_cpu_capability()
    return {
        "name": name or platform.processor() or machine,
        "family": family,
        "machine": machine,
        "capability": capability,
        "amx": flag("_is_amx_tile_supported"),
        "avx512_bf16": flag("_is_avx512_bf16_supported"),
    }


def native_bf16(info: dict) -> bool | None:
    """True where the CPU multiplies bf16 in hardware (AMX or AVX512-BF16), False where torch
    says it does not, None where torch cannot tell (not x86, or a build without the probes)."""
    if info.get("amx") or info.get("avx512_bf16"):
        return True
    if info.get("amx") is False and info.get("avx512_bf16") is False:
        return False
    return None


def isa_words(info: dict) -> str:
    """``'AVX512-BF16 (no AMX)'``, ``'AMX'``, ``'AVX2, no AMX or AVX512-BF16'`` and the like."""
    if info.get("amx"):
        return "AMX"
    if info.get("avx512_bf16"):
        return "AVX512-BF16 (no AMX)"
    if native_bf16(info) is False:
        return f"{info.get('capability') or 'this CPU'}, no AMX or AVX512-BF16"
    return f"{info.get('machine')} CPU ({info.get('capability') or 'instruction set unknown'})"


def cache_key(info: dict, torch_version: str) -> str:
    """What a measurement depends on: the CPU model, its bf16 instructions and torch."""
    return (f"{info.get('name')} [{info.get('family')}] {info.get('capability')} amx={info.get('amx')} "
            f"avx512_bf16={info.get('avx512_bf16')} torch={torch_version}")  # fmt: skip


def calibrate(*, native: bool | None = None, budget_s: float = BUDGET_S) -> dict:
    """Milliseconds of one ensemble training step (forward, loss, backward, Adam) in each precision.

    Uses the ensemble's own forward pass and optimizer on ``MODELS`` MLPs of the calibration
    shape, on one thread: the ratio is a property of the core's instructions, and one thread is
    not thrown off by other processes competing for the cores (several threads then wait on each
    other, by 10-100×). Each precision is warmed up once, then the two alternate for ``budget_s`` (at least
    3 times each) and the fastest repetition counts. Where the CPU is not known to have native
    bf16 (``native`` not True), one bf16 matrix product ≥4× slower than float32 ends the
    calibration early: emulated bf16 is ~60× slower, and a whole step would take seconds.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if native is not True:
            probe = _probe_matmul()
            if probe["bfloat16"] > 4 * probe["float32"]:
                return {p: round(probe[p], 4) for p in PRECISIONS} | {"probe": "one matmul"}
        step = _step_function()
        best = {}
        for precision in PRECISIONS:  # warm-up: the first bf16 call compiles oneDNN kernels
            step(precision == "bfloat16")
        start, reps = time.perf_counter(), 0
        while reps < 3 or (time.perf_counter() - start < budget_s and reps < 50):
            for precision in PRECISIONS:
                t = time.perf_counter()
                step(precision == "bfloat16")
                elapsed = (time.perf_counter() - t) * 1e3
                best[precision] = min(best.get(precision, elapsed), elapsed)
            reps += 1
        return {p: round(best[p], 4) for p in PRECISIONS}
    finally:
        torch.set_num_threads(threads)


def _probe_matmul() -> dict:
    """Fastest of 3 products (BATCH × FEATURES) @ (FEATURES × WIDTH) in each precision, in ms."""
    import torch

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(BATCH, FEATURES, generator=g), torch.randn(FEATURES, WIDTH, generator=g)
    out = {}
    for precision, (x, y) in (("float32", (a, b)), ("bfloat16", (a.bfloat16(), b.bfloat16()))):
        x @ y  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            x @ y
            times.append((time.perf_counter() - t) * 1e3)
        out[precision] = min(times)
    return out


def _step_function():
    """A closure running one training step of the calibration ensemble in either precision: the
    hand-written dense gradients and the trainer's Adam update, as the trainer's own loop does."""
    import torch

    from memlens.train.dense import DenseGradients
    from memlens.train.ensemble import Ensemble
    from memlens.train.optim import StackedOptimizer

    g = torch.Generator().manual_seed(0)
    trainer = Ensemble("mlp", width=WIDTH)
    params = []
    for shape, fan_in in trainer._shapes(FEATURES, CLASSES, None):
        weights = (torch.rand(shape, generator=g) * 2 - 1) / fan_in**0.5  # the trainer's init
        params.append(weights.expand(MODELS, *shape).clone().requires_grad_())  # (MODELS, *shape)
    opt = StackedOptimizer(params, MODELS, kind="adam", lr=1e-3)
    active = torch.ones(MODELS, dtype=torch.bool)
    X = torch.randn(MODELS * BATCH, FEATURES, generator=g)
    idx = torch.arange(MODELS * BATCH).view(MODELS, BATCH)
    y = torch.randint(0, CLASSES, (MODELS, BATCH), generator=g)
    scale = torch.full((MODELS, BATCH), 1.0 / BATCH)
    gradients = {bf16: DenseGradients(params, X, torch.bfloat16 if bf16 else torch.float32) for bf16 in (False, True)}

    def step(bf16: bool) -> None:
        gradients[bf16](idx, y, scale)
        opt.step(active=active)

    return step


# --- the cache: never a reason to fail ------------------------------------------------------------


def cache_path() -> Path:
    """``$MEMLENS_CACHE_DIR/precision.json``, else ``$XDG_CACHE_HOME/memlens/…``, else ``~/.cache/memlens/…``."""
    folder = os.environ.get("MEMLENS_CACHE_DIR")
    if not folder:
        folder = os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "memlens"
        )
    return Path(folder) / "precision.json"


def _read_cache() -> dict:
    try:
        entries = json.loads(cache_path().read_text())
    except (OSError, ValueError):  # absent, unreadable or damaged: measure again
        return {}
    if not isinstance(entries, dict) or entries.get("version") != CACHE_VERSION:
        return {}
    found = entries.get("entries")
    return found if isinstance(found, dict) else {}


def _write_cache(key: str, value: dict) -> None:
    path = cache_path()
    entries = _read_cache()
    entries[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".precision.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": CACHE_VERSION, "entries": entries}, f, indent=1)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    except OSError:
        pass  # read-only home, full disk: the next run measures again


def _proc_cpuinfo() -> tuple[str | None, str | None]:
    """The CPU's model name and 'family/model/stepping' from /proc/cpuinfo (Linux), else Nones."""
    fields = {}
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    family = "/".join(fields[k] for k in ("cpu family", "model", "stepping") if k in fields) or None
    return fields.get("model name"), family


def recorded_choice(run_dir) -> dict | None:
    """The choice recorded in ``run_dir/run.json`` when that run was created, if there is one.

    Read-only and forgiving (absent, damaged, foreign: None); the run store judges the run itself.
    """
    try:
        manifest = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return None
    choice = manifest.get("precision") if isinstance(manifest, dict) else None
    return choice if isinstance(choice, dict) and choice.get("precision") in PRECISIONS else None


def describe(choice: dict | None) -> str:
    """One line for the CLI and the report: ``'bfloat16 (auto on AMD EPYC: AVX512-BF16 …)'``."""
    if not choice:
        return "unknown"
    if choice.get("requested") != "auto":
        return str(choice.get("precision"))
    source = {"cached": "; timing cached", "run": "; kept from the run's first start"}
    cpu = f" on {choice['cpu']}" if choice.get("cpu") else ""
    return f"{choice.get('precision')} (auto{cpu}: {choice.get('reason')}{source.get(choice.get('source'), '')})"
