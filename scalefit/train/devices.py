"""Where a run trains and in which precision: CUDA, then Apple MPS, then CPU; bf16 autocast where it pays."""

from __future__ import annotations

import torch

from scalefit.errors import ScalefitError


def pick_device(request: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for ``"auto"``; otherwise the device asked for, checked to exist."""
    if request == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(request)
    except RuntimeError:
        raise ScalefitError(f"--device {request!r} is not a device name. Use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ScalefitError(f"--device {request}: this torch build sees no CUDA GPU. Use --device cpu or auto.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ScalefitError(f"--device {request}: Apple MPS is not available here. Use --device cpu or auto.")
    return dev


def pick_dtype(request: str, device: torch.device) -> torch.dtype:
    """The autocast dtype: bfloat16 on CUDA GPUs that support it (``auto``), float32 otherwise."""
    if request == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if request not in table:
        raise ScalefitError(f"--dtype {request!r} must be auto, float32 or bfloat16.")
    return table[request]


def autocast(device: torch.device, dtype: torch.dtype) -> object:
    """The autocast context of the forward passes (a no-op context in float32)."""
    if dtype == torch.float32:
        return NullContext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class NullContext:
    """A reusable context that does nothing (``contextlib.nullcontext`` is single-use on old Pythons)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
