"""Random draws of the evaluation attacks: a function of (seed, attack, point, counters).

The random start of a point (and every other random number an attack draws for it: SPSA's
directions, Square's initial stripes) comes from a CPU generator seeded with a hash of

- the attack's ``seed`` and its tag (``pgd``, ``md``, ``spsa``, ``apgd``, ...),
- the point itself: its key, a hash of the bytes of its input row and of its label
  (:func:`point_keys`),
- counters saying which draw it is (restart, run, iteration),

and is moved to the attack's device afterwards. So a point gets the same numbers whatever
batch it is in, whatever its position there, after an out-of-memory retry, on CPU or GPU
(CUDA's generator is not used: its stream depends on the size of each draw). The point is
identified by its content rather than by its index in the evaluation set because the
official AutoAttack code hands its stages subsets of points without their indices; two
identical images with the same label are the same point to an attack and get the same
numbers.

:class:`PointRandom` draws per point. Training attacks draw from one sequential CPU
generator instead (``Attack.randomness = STREAM``): their batches are fixed by (seed, epoch)
and never retried, and that stream is the one the training code always used.
"""

from __future__ import annotations

import hashlib
import math
import struct

import torch

#: ``Attack.randomness``: draws per point (evaluation). The suffix versions the scheme: it is
#: part of the attack's public attributes, hence of the fingerprint of its resume files, so
#: results computed with another scheme are never reused.
PER_POINT = "per-point-v1"
#: ``Attack.randomness``: one sequential CPU stream (training attacks)
STREAM = "stream"
RANDOMNESS = (PER_POINT, STREAM)


def point_keys(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One 63-bit key per point: a hash of the bytes of its input row (its values in logical
    order, whatever the memory format or device) and of its label. A CPU int64 tensor."""
    n = len(x)
    if n == 0:
        return torch.empty(0, dtype=torch.int64)
    rows = x.detach().cpu().contiguous().reshape(n, -1).view(torch.uint8).numpy()
    labels = y.detach().cpu().reshape(n, -1).contiguous().view(torch.uint8).numpy()
    keys = [
        int.from_bytes(hashlib.blake2b(rows[i].tobytes() + b"|" + labels[i].tobytes(), digest_size=8).digest(), "little") >> 1
        for i in range(n)
    ]
    return torch.tensor(keys, dtype=torch.int64)


def stream_seed(seed: int, tag: str, key: int, *counters: int) -> int:
    """The seed of one point's generator for one draw: a hash of (attack seed, tag, point key,
    counters), 63 bits."""
    h = hashlib.blake2b(digest_size=8)
    h.update(struct.pack("<q", int(seed)))
    h.update(tag.encode())
    h.update(struct.pack("<q", int(key)))
    h.update(struct.pack(f"<{len(counters)}q", *(int(c) for c in counters)))
    return int.from_bytes(h.digest(), "little") >> 1


class PointRandom:
    """Per-point draws on the CPU for an attack ``(seed, tag)``; each method returns a CPU
    tensor with one row per key (pinned when ``pin``, so the copy to a GPU can overlap)."""

    def __init__(self, seed: int, tag: str, pin: bool = False):
        self.seed, self.tag, self.pin = int(seed), str(tag), bool(pin)
        self._gen = torch.Generator()

    def _rows(self, keys: torch.Tensor, row_shape, dtype, fill, counters) -> torch.Tensor:
        out = torch.empty((len(keys), *row_shape), dtype=dtype, pin_memory=self.pin)
        for j, key in enumerate(keys.tolist()):
            self._gen.manual_seed(stream_seed(self.seed, self.tag, key, *counters))
            fill(out[j], self._gen)
        return out

    def uniform(self, keys: torch.Tensor, row_shape, *counters: int) -> torch.Tensor:
        """U[0, 1) float32 rows."""
        return self._rows(keys, row_shape, torch.float32, lambda o, g: torch.rand(o.shape, generator=g, out=o), counters)

    def normal(self, keys: torch.Tensor, row_shape, *counters: int) -> torch.Tensor:
        """N(0, 1) float32 rows."""
        return self._rows(keys, row_shape, torch.float32, lambda o, g: torch.randn(o.shape, generator=g, out=o), counters)

    def sign_bits(self, keys: torch.Tensor, n: int, *counters: int) -> torch.Tensor:
        """``n`` fair random bits per key, packed 8 to a byte: uint8 rows of ceil(n / 8)
        (a GPU then receives 1/32 of the bytes of float signs); :func:`unpack_signs`."""
        nbytes = math.ceil(n / 8)
        return self._rows(
            keys, (nbytes,), torch.uint8, lambda o, g: torch.randint(0, 256, o.shape, generator=g, dtype=torch.uint8, out=o), counters
        )


def unpack_signs(packed: torch.Tensor, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """±1 values from :meth:`PointRandom.sign_bits` (bit 1 -> +1, bit 0 -> -1), ``(rows, n)``,
    on the device of ``packed`` (the same numbers on every device)."""
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    bits = (packed[:, :, None] >> shifts) & 1  # (rows, nbytes, 8), least significant bit first
    return bits.reshape(len(packed), -1)[:, :n].to(dtype).mul_(2).sub_(1)
