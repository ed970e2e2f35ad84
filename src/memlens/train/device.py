"""Where models train and are observed: ``cpu``, ``cuda`` or ``auto`` (a CUDA GPU when torch sees one).

The device changes how fast a run goes, not what it measures, so like the precision's ``auto``
it is not part of a run's identity: a run started on a laptop's CPU may be resumed on a GPU
machine. What each session used is recorded in the manifest instead, as ``devices`` (one entry
per distinct device that trained part of the run, in order), so a reader can see whether a run
mixes models trained on different hardware::

    "devices": [{"requested": "auto", "device": "cpu", "name": "AMD EPYC 9454 48-Core Processor",
                 "reason": "no CUDA GPU is visible to torch 2.13.0+cpu (a CPU-only build)"}]

>>> resolve("cpu")["device"]
'cpu'
"""

from __future__ import annotations

import os

from memlens.errors import MemlensError

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(MemlensError):
    """The requested device is unknown or not present on this machine."""


def check_request(requested) -> None:
    """Refuse a device that is not ``auto``, ``cpu`` or ``cuda``."""
    if requested not in DEVICES:
        raise DeviceError(
            f"Unknown device {requested!r}; use auto (a CUDA GPU when torch sees one, else the "
            "CPU), cpu or cuda."
        )


def _why_no_gpu(torch) -> str:
    """Why torch sees no CUDA GPU, in words a user can act on."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU or driver"


def resolve(requested: str = "auto") -> dict:
    """The device for ``requested`` on this machine, with its name and why it was chosen.

    ``auto`` is ``cuda`` when torch sees a CUDA GPU, else ``cpu``; ``cuda`` without a GPU is
    refused with the reason, rather than silently training on the CPU.

    Returns:
        ``{"requested", "device": "cpu" | "cuda", "name", "reason"}``.
    """
    import torch

    check_request(requested)
    if requested == "cpu":
        return {"requested": "cpu", "device": "cpu", "name": _cpu_name(), "reason": "requested explicitly"}
    if torch.cuda.is_available():
        return {
            "requested": requested,
            "device": "cuda",
            "name": torch.cuda.get_device_name(0),
            "reason": "requested explicitly" if requested == "cuda" else "a CUDA GPU is visible to torch",
        }
    why = _why_no_gpu(torch)
    if requested == "cuda":
        raise DeviceError(
            f"--device cuda asks for a CUDA GPU, but torch sees none: {why}. Train on the CPU with "
            "--device cpu (or auto, which uses a GPU only when there is one), or run on a machine "
            "with an NVIDIA GPU and a CUDA build of torch (see https://pytorch.org/get-started/)."
        )
    return {"requested": "auto", "device": "cpu", "name": _cpu_name(), "reason": f"no CUDA GPU is visible: {why}"}


def _cpu_name() -> str:
    from memlens.train.precision import cpu_info

    return str(cpu_info().get("name") or "CPU")


def record(store, choice: dict) -> None:
    """Add ``choice`` to the run's ``devices`` unless that device is already listed.

    Takes the run's lock for the moment (a no-op when the caller holds it). Only ``device`` and
    ``name`` decide whether an entry is new: resuming on the same GPU adds nothing.
    """
    devices = store.manifest.get("devices")
    devices = list(devices) if isinstance(devices, list) else []
    if any(isinstance(d, dict) and (d.get("device"), d.get("name")) == (choice["device"], choice["name"])
           for d in devices):  # fmt: skip
        return
    with store.writing():
        store.manifest["devices"] = [*devices, dict(choice)]
        store.save_manifest()


def describe(devices) -> str:
    """``'cpu (AMD EPYC …)'``, or several joined with ``', then '`` for a run that moved."""
    if not isinstance(devices, list) or not devices:
        return ""
    return ", then ".join(
        f"{d.get('device', '?')} ({d.get('name', '?')})" for d in devices if isinstance(d, dict)
    )
