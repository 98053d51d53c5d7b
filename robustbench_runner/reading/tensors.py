"""Checkpoints: ``torch.save`` files through ``torch.load(weights_only=True)`` (tensors and
plain containers only: nothing in the file chooses what to import or call), and safetensors
files with their header checked before the tensors are read.

A safetensors file is ``<u64 little-endian header size N><N bytes of JSON><data>``; the
header names each tensor's dtype, shape and ``data_offsets``. Checked here: N within the file
and :data:`MAX_HEADER`, the header strict JSON (:mod:`.jsons`), each tensor's offsets inside
the data and exactly ``prod(shape) * itemsize`` long. A ``torch.save`` file named
``.safetensors`` (or the reverse) is recognised by its magic bytes and named as what it is.
Every problem is one :class:`.files.BadFile` line naming the file.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from .files import LIMITS, BadFile, open_regular, read_bytes
from .jsons import parse_json

#: safetensors caps its own header at 100 MB
MAX_HEADER = 100_000_000
ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
             "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}  # fmt: skip
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class WeightsOnlyRefused(BadFile):
    """``torch.load(weights_only=True)`` refused a global the file names (``global_name``):
    a whole pickled module, or something crafted. Loading it would run code from the file."""

    def __init__(self, path, global_name: str, what=None, fix=None):
        self.global_name = global_name
        super().__init__(
            path,
            f"is a pickle that names the Python object {global_name}; loading it would run code from the file, so it is not loaded",
            fix=fix,
            what=what,
        )


def checkpoint_format(path: str | Path) -> str:
    """What the file's first bytes say it is: ``torch-zip`` (``torch.save`` since 1.6),
    ``torch-pickle`` (older ``torch.save``), ``safetensors``, or ``unknown``."""
    with open_regular(path, max_bytes=LIMITS["checkpoint"], what="checkpoint") as f:
        head = f.read(9)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "torch-zip"
    if _looks_safetensors(head):  # before the pickle test: a header of 128..255 bytes starts with 0x80
        return "safetensors"
    if head[:1] == b"\x80":
        return "torch-pickle"
    return "unknown"


def _looks_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= MAX_HEADER


def load_torch(path: str | Path, *, map_location="cpu", what: str | None = "checkpoint", fix: str | None = None, max_bytes: int = LIMITS["checkpoint"]):
    """The object a ``torch.save`` file holds, loaded with ``weights_only=True``. A refused
    global is a :class:`WeightsOnlyRefused`; anything else unreadable a :class:`BadFile`."""
    import torch

    with open_regular(path, max_bytes=max_bytes, what=what, fix=fix) as f:
        head = f.read(9)
        f.seek(0)
        if _looks_safetensors(head):
            raise BadFile(path, "is a safetensors file, not a torch.save file", fix=fix or "name it .safetensors (or pass it where safetensors are read)", what=what)
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        except Exception as e:
            text = " ".join(_ANSI.sub("", str(e)).split())
            found = re.search(r"GLOBAL (\S+) was not an allowed global", text) or re.search(r"unsupported GLOBAL (\S+)", text, re.IGNORECASE)
            if found:
                raise WeightsOnlyRefused(path, found.group(1).rstrip(",."), what=what, fix=fix) from None
            raise BadFile(path, f"is not a readable torch.save file ({type(e).__name__}: {text[:160]})", fix=fix, what=what) from None


def load_safetensors(path: str | Path, *, what: str | None = "checkpoint", fix: str | None = None, max_bytes: int = LIMITS["checkpoint"]) -> dict:
    """``{name: tensor}`` of a safetensors file, its header checked first (see the module)."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    if data.startswith(b"PK\x03\x04") or (data[:1] == b"\x80" and not _looks_safetensors(data[:9])):
        raise BadFile(path, "is a torch.save file, not a safetensors file", fix=fix or "name it .pt (it is read with torch.load(weights_only=True))", what=what)
    if len(data) < 8:
        raise BadFile(path, f"is {len(data)} bytes, too short for a safetensors file", fix=fix, what=what)
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or n > len(data) - 8:
        raise BadFile(path, f"declares a {n:,}-byte safetensors header, larger than {'the file' if n <= MAX_HEADER else 'the 100 MB bound'}", fix=fix, what=what)
    try:
        text = data[8 : 8 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise BadFile(path, "has a safetensors header that is not UTF-8 JSON", fix=fix, what=what) from None
    header = parse_json(text, source=path, expect=dict, what=what, fix=fix)
    body = len(data) - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = (
            isinstance(entry, dict)
            and entry.get("dtype") in ST_DTYPES
            and isinstance(entry.get("shape"), list)
            and all(type(s) is int and s >= 0 for s in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(type(o) is int for o in entry["data_offsets"])
        )
        if not ok:
            raise BadFile(path, f"has a malformed safetensors entry for {str(name)[:60]!r}", fix=fix, what=what)
        begin, end = entry["data_offsets"]
        size = ST_DTYPES[entry["dtype"]]
        for s in entry["shape"]:
            size *= s
        if not (0 <= begin <= end <= body) or end - begin != size:
            raise BadFile(path, f"has tensor {str(name)[:60]!r} with offsets {begin}..{end} that do not hold its {entry['shape']} {entry['dtype']} data ({body:,} data bytes)", fix=fix, what=what)
    try:
        from safetensors.torch import load as load_st
    except ImportError:
        raise BadFile(path, "is a safetensors file, and the safetensors package is not installed", fix="pip install safetensors", what=what) from None
    try:
        return load_st(data)
    except Exception as e:
        raise BadFile(path, f"is not a readable safetensors file ({type(e).__name__}: {' '.join(str(e).split())[:160]})", fix=fix, what=what) from None


def load_torch_trusted(path: str | Path, *, map_location="cpu", what: str | None = "checkpoint", max_bytes: int = LIMITS["checkpoint"]):
    """``torch.load(weights_only=False)``: RUNS CODE named by the file. Only for a file the
    user declared trusted on the command line (``checkpoint_trusted=true``, after
    :func:`load_torch` refused it with :class:`WeightsOnlyRefused`); never for data files or
    anything found in a shared folder. Still only a bounded regular file."""
    import torch

    with open_regular(path, max_bytes=max_bytes, what=what) as f:
        return torch.load(f, map_location=map_location, weights_only=False)


def file_head(path: str | Path, n: int = 4096) -> tuple[bytes, int]:
    """The first ``n`` bytes and the size of a regular file (to say what a file is)."""
    with open_regular(path, max_bytes=LIMITS["checkpoint"], what="checkpoint") as f:
        head = f.read(n)
        size = f.seek(0, 2)
    return head, size
