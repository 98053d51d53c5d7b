"""Pickles that are data, never code: the official CIFAR-10/100 "python version" batches.

The official files are pickles of a dict of bytes/str keys whose values are a numpy uint8
array (``data``), lists of ints (labels) and lists of bytes (file names, label names).
Unpickling one reconstructs those values through numpy's array reconstruction and nothing
else. :class:`DataUnpickler` admits exactly those globals, and not as themselves but as
guarded stand-ins (:data:`_GUARDS`):

- ``numpy.ndarray`` is a marker, usable only as the first argument of ``_reconstruct`` (called
  directly it would allocate any size the file asks for);
- ``_reconstruct`` only builds the empty ``ndarray`` numpy's own ``__reduce__`` asks for;
- ``numpy.dtype`` only makes plain numeric dtypes (no object dtype: an object array could hold
  anything);
- ``scalar`` / ``_frombuffer`` only with such dtypes.

A pickle that names any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``...)
is refused *before* anything it names is imported or called, as one line naming the file. The
object built is then walked (each object once, so shared references cannot blow it up) and
must consist of dicts, lists, tuples, bytes, str, ints, floats, bools, None and numeric
numpy arrays/scalars only.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_bytes

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray

#: dtype strings a data pickle may ask ``numpy.dtype`` for (what array data can be).
SAFE_DTYPES = frozenset(
    f"{k}{n}" for k, sizes in (("u", (1, 2, 4, 8)), ("i", (1, 2, 4, 8)), ("f", (2, 4, 8)), ("b", (1,))) for n in sizes
) | {"?"}


class _NDArrayMarker:
    """What ``numpy.ndarray`` unpickles to: only ``_reconstruct`` accepts it."""

    def __repr__(self) -> str:
        return "numpy.ndarray"

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError("it calls numpy.ndarray directly (an allocation of any size), which a data file never does")


_NDARRAY = _NDArrayMarker()


def _plain_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"it asks for a numpy dtype {dtype!r} that array data never has")
    return dtype


def _dtype(spec, align=False, copy=False):
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(spec, str) or spec not in SAFE_DTYPES:
        raise pickle.UnpicklingError(f"it asks for the numpy dtype {spec!r}, which array data never has")
    return np.dtype(spec)


def _reconstruct(subtype, shape, dtype_code):
    if subtype is not _NDARRAY or tuple(shape) != (0,) or dtype_code not in (b"b", "b"):
        raise pickle.UnpicklingError("it reconstructs a numpy object other than a plain array")
    return _multiarray._reconstruct(np.ndarray, (0,), b"b")


def _scalar(dtype, data=None):
    _plain_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("it holds a malformed numpy scalar")
    return _multiarray.scalar(dtype, data)


def _frombuffer(buf, dtype, shape, order):
    _plain_dtype(dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _codecs_encode(text, encoding="utf-8"):
    """How pickle protocol 2 spells ``bytes`` under Python 3: ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("it calls _codecs.encode other than to spell bytes")
    return text.encode("latin1")


_GUARDS = {("_codecs", "encode"): _codecs_encode}
for _core in ("numpy.core", "numpy._core"):
    _GUARDS[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _GUARDS[(f"{_core}.multiarray", "scalar")] = _scalar
    _GUARDS[(f"{_core}.numeric", "_frombuffer")] = _frombuffer
_GUARDS[("numpy", "ndarray")] = _NDARRAY
_GUARDS[("numpy", "dtype")] = _dtype

#: (module, name) pairs a data pickle may name (under numpy 1.x ``numpy.core`` and 2.x
#: ``numpy._core``, pickle protocols 2-5; ``_codecs.encode`` is how protocol 2 writes bytes).
ALLOWED_GLOBALS = frozenset(_GUARDS)

_PLAIN = (dict, list, tuple, bytes, str, int, float, bool, type(None))


class DataUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose :meth:`find_class` gives only the guarded stand-ins of
    :data:`ALLOWED_GLOBALS`; persistent ids (a way to smuggle objects in) are refused too."""

    def find_class(self, module: str, name: str):
        guard = _GUARDS.get((module, name))
        if guard is None:
            raise pickle.UnpicklingError(f"it names the Python object {module}.{name}, which a data file never holds (loading it would run code)")
        return guard

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it uses persistent ids, which a data file never holds")


def check_plain_data(obj) -> None:
    """Raise ``pickle.UnpicklingError`` unless ``obj`` is made of plain data only (each object
    visited once: a structure sharing references cannot make this walk explode)."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            _plain_dtype(o.dtype)
            continue
        if isinstance(o, np.generic):
            _plain_dtype(o.dtype)
            continue
        if type(o) not in _PLAIN:
            raise pickle.UnpicklingError(f"it holds a {type(o).__name__}, which a data file never holds")
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)


def load_data_pickle(
    path: str | Path,
    *,
    expect: type | tuple | None = None,
    what: str | None = None,
    max_bytes: int = LIMITS["data"],
    fix: str | None = None,
):
    """Unpickle a data file with :class:`DataUnpickler` (``encoding='bytes'``, as the
    Python-2 CIFAR files need). Anything else than plain data is a :class:`BadFile`; no
    object the file names outside :data:`ALLOWED_GLOBALS` is ever imported. ``expect``: the
    type the top level must have (e.g. ``dict``)."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    try:
        obj = DataUnpickler(io.BytesIO(data), encoding="bytes").load()
        check_plain_data(obj)
    except pickle.UnpicklingError as e:
        raise BadFile(path, f"is not a plain data pickle: {e}", fix=fix or "replace it with the official file (a pickle that runs code is never loaded)", what=what) from None
    except RecursionError:
        raise BadFile(path, "is a pickle nested too deeply to be data", fix=fix, what=what) from None
    except Exception as e:  # truncated, flipped bytes: EOFError, ValueError, TypeError, ...
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise BadFile(path, f"is not a readable pickle ({type(e).__name__}: {reason})", fix=fix, what=what) from None
    if expect is not None and not isinstance(obj, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise BadFile(path, f"holds a pickled {type(obj).__name__}, not a {names}", fix=fix, what=what)
    return obj
