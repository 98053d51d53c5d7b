"""A second device on a CPU-only machine, to catch cross-device writes without a GPU.

:class:`FakeAccelerator` is a ``TorchFunctionMode``: tensors moved to :data:`FAKE` (the
``meta`` device stands for a GPU) stay real CPU tensors but are tagged as living on the
accelerator, and report ``.device == FAKE``, ``.is_cuda``. Every torch call is checked as
CUDA would check it: an op mixing accelerator tensors with CPU tensors raises (0-dim CPU
tensors aside, as CUDA allows them; a CPU index into an accelerator tensor is allowed,
the reverse is not; ``x[i] = v`` needs ``v`` on ``x``'s device); ``.to(FAKE)``,
``.cuda()``, factories with ``device=FAKE`` tag their result, ``.cpu()`` / ``.to("cpu")``
untag it; results of an op on accelerator tensors are accelerator tensors; ``.numpy()``
of an accelerator tensor raises. The numbers are the CPU's, so a run on the fake device
must give exactly the CPU run's results.
"""

from __future__ import annotations

import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

FAKE = torch.device("meta")


class CrossDevice(RuntimeError):
    """What CUDA would raise: tensors on two devices in one op."""


def _is_fake(device) -> bool:
    if device is None or isinstance(device, (torch.dtype, torch.Tensor)):
        return False
    try:
        return torch.device(device).type in ("meta", "cuda")
    except (RuntimeError, TypeError):
        return False


_PROPS = {"device", "is_cuda", "is_meta", "is_cpu"}
_TRANSFER = {"to", "cpu", "cuda", "copy_", "pin_memory"}
_SAFE = {"__len__", "__repr__", "__format__", "__bool__", "__int__", "__float__", "__index__", "item", "tolist", "dim",
         "size", "numel", "element_size", "is_floating_point", "is_contiguous", "data_ptr", "stride", "storage_offset",
         "requires_grad_", "__hash__", "get_device"}


class FakeAccelerator(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self._on: weakref.WeakValueDictionary[int, torch.Tensor] = weakref.WeakValueDictionary()
        self.checked = 0  # ops checked (the test asserts the mode saw the work)

    # -- tagging --------------------------------------------------------------------------
    def tag(self, t):
        if isinstance(t, torch.Tensor):
            self._on[id(t)] = t
        return t

    def on(self, t) -> bool:
        return isinstance(t, torch.Tensor) and self._on.get(id(t)) is t

    def put(self, module: torch.nn.Module) -> torch.nn.Module:
        """Tag a model's parameters and buffers (its "weights on the GPU")."""
        for t in [*module.parameters(), *module.buffers()]:
            self.tag(t)
        return module

    # -- the check ------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        prop = getattr(getattr(func, "__self__", None), "__name__", None)
        if name == "__get__" and prop in _PROPS:
            t = args[0]
            if self.on(t):
                return {"device": FAKE, "is_cuda": True, "is_meta": False, "is_cpu": False}[prop]
            return func(*args, **kwargs)
        self.checked += 1
        if name in _TRANSFER:
            return self._transfer(func, name, args, kwargs)
        if name == "numpy" and self.on(args[0]):
            raise CrossDevice("can't convert an accelerator tensor to numpy: use .cpu() first")
        if "device" in kwargs and _is_fake(kwargs["device"]):  # a factory on the accelerator
            kwargs["device"] = "cpu"
            return tree_map(self.tag, func(*args, **kwargs))
        if name in _SAFE:
            return func(*args, **kwargs)
        on, off = self._split(name, args, kwargs)
        if on and off:
            raise CrossDevice(f"{name}: tensors on the accelerator and on the CPU in one op")
        out = func(*args, **kwargs)
        return tree_map(self.tag, out) if on else out

    def _split(self, name, args, kwargs):
        """Whether the op's operands include accelerator tensors, and CPU tensors that CUDA
        would refuse next to them (0-dim CPU tensors are accepted)."""
        if name in ("__getitem__", "__setitem__"):
            base = args[0]
            index = [a for a in tree_flatten(args[1])[0] if isinstance(a, torch.Tensor)]
            if not self.on(base) and any(self.on(i) for i in index):
                raise CrossDevice(f"{name}: a CPU tensor indexed with an accelerator index")
            operands = [base] + ([args[2]] if name == "__setitem__" else [])  # a CPU index is fine
        else:
            operands = tree_flatten((args, kwargs))[0]
        tensors = [a for a in operands if isinstance(a, torch.Tensor)]
        on = any(self.on(t) for t in tensors)
        off = any(not self.on(t) and t.dim() > 0 for t in tensors)
        return on, off

    def _transfer(self, func, name, args, kwargs):
        t = args[0]
        if name == "copy_":  # cross-device copies are allowed
            return func(*args, **kwargs)
        if name == "cpu":
            out = func(*args, **kwargs)
            return t.clone() if out is t and self.on(t) else out
        if name == "cuda":
            return self.tag(t.clone())
        if name == "pin_memory":
            return t.clone()  # no pinning without CUDA; the copy is what pinning returns
        # .to(...): a device (positional or keyword), a dtype, or another tensor
        target = kwargs.pop("device", None)
        rest = []
        for a in args[1:]:
            if isinstance(a, torch.Tensor):
                target = FAKE if self.on(a) else torch.device("cpu")
                rest.append(a.dtype)
            elif isinstance(a, (str, torch.device)):
                target = a
            else:
                rest.append(a)
        if target is None:  # a dtype change stays where it is
            out = func(t, *rest, **kwargs)
            return self.tag(out) if self.on(t) else out
        if _is_fake(target):
            out = func(t, "cpu", *rest, **kwargs)
            if out is t and not self.on(t):
                out = t.view_as(t)  # a new tensor object to tag (the CPU original stays a CPU tensor)
            return self.tag(out)
        out = func(t, target, *rest, **kwargs)
        if self.on(t) and out is t:
            return t.clone()  # leaving the accelerator: a new CPU tensor
        return out
