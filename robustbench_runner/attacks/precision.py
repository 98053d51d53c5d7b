"""Float32 precision of the matmuls and convolutions attacks run (TF32 on NVIDIA GPUs).

On Ampere and later GPUs, cuDNN convolutions use TF32 by default (10-bit mantissa inputs,
float32 accumulation; PyTorch's ``torch.backends.cudnn.conv.fp32_precision = "tf32"``) and
matmuls may (``torch.backends.cuda.matmul.fp32_precision``). Two settings here:

- :func:`full_fp32`: IEEE float32 for CUDA matmuls and cuDNN convolutions (TF32 off). The
  finite-difference attack SPSA runs inside it: it differences the margin at c = 0.001, and
  a CPU emulation of TF32 rounding (:func:`emulate_tf32`) cut the cosine between its
  estimate and the true gradient from 0.20 to ~0.07 on CNN-6.
- :func:`tf32`: ``eval.tf32`` of the evaluation (``conf/eval/default.yaml``): ``true``
  allows TF32 in both, ``false`` is :func:`full_fp32`.

Both save the backends' settings and restore them afterwards, also on error. They switch
TF32 through torch's ``allow_tf32`` flags (``torch.backends.cuda.matmul`` and
``torch.backends.cudnn``), which keep torch's own TF32 state consistent (in torch 2.14,
``fp32_precision = "ieee"`` written to cuDNN leaves the flags unreadable, and
``torch.set_float32_matmul_precision`` would also switch oneDNN's CPU matmuls); the settings
are saved and restored as the per-backend ``fp32_precision`` strings, which torch can always
read back. CPUs are not affected (no TF32 in these backends).

:func:`emulate_tf32` rounds what a TF32 kernel rounds (the inputs and weights of every
convolution and linear layer, and the gradient each one receives in the backward pass) on
the CPU, so the effect of TF32 on an attack can be measured without a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

#: the per-backend float32 precision switches of torch (>= 2.9) that TF32 concerns
_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")


def _backend(path: str):
    obj = torch.backends
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj if obj is not None and hasattr(obj, "fp32_precision") else None


def precision_settings() -> dict[str, str]:
    """The current ``fp32_precision`` of the CUDA matmul and cuDNN convolution and RNN
    backends (``none``, ``tf32``, ``ieee``), e.g. for run.json."""
    return {path: str(b.fp32_precision) for path in _BACKENDS if (b := _backend(path)) is not None}


def tf32_allowed() -> dict[str, bool]:
    """Whether TF32 is allowed now in CUDA matmuls and in cuDNN (torch's ``allow_tf32``)."""
    return {"cuda.matmul": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn": bool(torch.backends.cudnn.allow_tf32)}


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """``eval.tf32``: TF32 allowed (``True``) or not (IEEE float32) in CUDA matmuls and cuDNN
    for the block; the previous settings are restored afterwards, also on error."""
    saved = _save()
    try:
        torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
        torch.backends.cudnn.allow_tf32 = bool(enabled)
        yield
    finally:
        _restore(saved)


def _legacy(read) -> bool | None:
    try:
        return bool(read())
    except RuntimeError:  # set through the per-backend API: torch no longer reads the flag
        return None


def _save() -> dict:
    return {
        "matmul": _legacy(lambda: torch.backends.cuda.matmul.allow_tf32),
        "cudnn": _legacy(lambda: torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "strings": {path: b.fp32_precision for path in (*_BACKENDS, "mkldnn.matmul") if (b := _backend(path)) is not None},
    }


def _restore(saved: dict) -> None:
    """Back to the saved state through the API it was readable with (torch tracks which API set
    a flag, and refuses to read a flag set through the other one)."""
    strings = saved["strings"]
    if saved["matmul"] is not None:
        torch.backends.cuda.matmul.allow_tf32 = saved["matmul"]
        if _backend("cuda.matmul") is not None and torch.backends.cuda.matmul.fp32_precision != strings["cuda.matmul"]:
            torch.backends.cuda.matmul.fp32_precision = strings["cuda.matmul"]  # e.g. torch's initial "none"
    else:
        torch.set_float32_matmul_precision(saved["float32_matmul_precision"])
        for path in ("cuda.matmul", "mkldnn.matmul"):
            if path in strings:
                _backend(path).fp32_precision = strings[path]
    if saved["cudnn"] is not None:
        torch.backends.cudnn.allow_tf32 = saved["cudnn"]
    else:
        for path in ("cudnn.conv", "cudnn.rnn"):
            if path in strings:
                _backend(path).fp32_precision = strings[path]


def full_fp32() -> contextlib.AbstractContextManager:
    """TF32 off (IEEE float32) for CUDA matmuls and cuDNN in the block (SPSA)."""
    return tf32(False)


# -- CPU emulation of TF32 ------------------------------------------------------------------


def round_tf32(t: torch.Tensor) -> torch.Tensor:
    """Round float32 values to TF32 (8-bit exponent, 10-bit mantissa: the 13 low mantissa
    bits dropped) to nearest, ties to even. An emulation: whether a given GPU kernel rounds
    or truncates its inputs is the library's choice; the error is of the same size."""
    bits = t.detach().float().contiguous().view(torch.int32)
    lsb = (bits >> 13) & 1
    rounded = ((bits + 0xFFF + lsb) & ~0x1FFF).view(torch.float32)
    keep = ~torch.isfinite(t)  # inf / NaN as they are
    return torch.where(keep, t.float(), rounded).to(t.dtype)


class _RoundForward(torch.autograd.Function):
    """Forward: round to TF32; backward: the gradient as it is (straight through)."""

    @staticmethod
    def forward(ctx, t):
        return round_tf32(t)

    @staticmethod
    def backward(ctx, g):
        return g


class _RoundBackward(torch.autograd.Function):
    """Forward: identity; backward: round the incoming gradient to TF32 (what the backward
    kernels of a TF32 convolution/matmul do to their grad_output input)."""

    @staticmethod
    def forward(ctx, t):
        return t.view_as(t)

    @staticmethod
    def backward(ctx, g):
        return round_tf32(g)


@contextlib.contextmanager
def emulate_tf32(model: nn.Module) -> Iterator[None]:
    """Emulate TF32 kernels in every ``Conv*d`` and ``Linear`` of ``model`` on the CPU for
    the block: weights rounded to TF32, each layer's input rounded in the forward pass and
    the gradient reaching its output rounded in the backward pass (both then multiply in
    float32, as the tensor cores accumulate). Weights and hooks are restored afterwards."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    saved = [m.weight.data for m in layers]
    handles = []
    try:
        for m in layers:
            m.weight.data = round_tf32(m.weight.data)
            handles.append(m.register_forward_pre_hook(lambda _m, args: (_RoundForward.apply(args[0]), *args[1:])))
            handles.append(m.register_forward_hook(lambda _m, _args, out: _RoundBackward.apply(out)))
        yield
    finally:
        for h in handles:
            h.remove()
        for m, w in zip(layers, saved, strict=True):
            m.weight.data = w
