"""Pickles that are data, never code: the official CIFAR-10/100 "python version" batches.

The official files are pickles of a dict of bytes/str keys whose values are a numpy uint8
array (``data``), lists of ints (labels) and lists of bytes (file names, label names).
Unpickling one reconstructs those values through three numpy callables and nothing else.
:class:`DataUnpickler` admits exactly those globals (:data:`ALLOWED_GLOBALS`); a pickle that
names any other (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) is refused
*before* anything it names is imported or called, as one line naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from .files import LIMITS, BadFile, read_bytes

#: (module, name) pairs a data pickle may name: how numpy arrays, dtypes and scalars are
#: rebuilt, under numpy 1.x (``numpy.core``) and 2.x (``numpy._core``), pickled with
#: protocols 2-4 (``_reconstruct``) and 5 (``_frombuffer``).
ALLOWED_GLOBALS = frozenset(
    (module, name)
    for core in ("numpy.core", "numpy._core")
    for module, name in (
        (f"{core}.multiarray", "_reconstruct"),
        (f"{core}.multiarray", "scalar"),
        (f"{core}.numeric", "_frombuffer"),
    )
) | {("numpy", "ndarray"), ("numpy", "dtype")}


class DataUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose :meth:`find_class` admits only :data:`ALLOWED_GLOBALS`;
    persistent ids (a way to smuggle objects in) are refused too."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"it names the Python object {module}.{name}, which a data file never holds (loading it would run code)")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it uses persistent ids, which a data file never holds")


def load_data_pickle(path: str | Path, *, what: str | None = None, max_bytes: int = LIMITS["data"], fix: str | None = None):
    """Unpickle a data file with :class:`DataUnpickler` (``encoding='bytes'``, as the
    Python-2 CIFAR files need). Anything else than plain data is a :class:`BadFile`; no
    object the file names outside :data:`ALLOWED_GLOBALS` is ever imported."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    try:
        return DataUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise BadFile(path, f"is not a plain data pickle: {e}", fix=fix or "replace it with the official file (a pickle that runs code is never loaded)", what=what) from None
    except RecursionError:
        raise BadFile(path, "is a pickle nested too deeply to be data", fix=fix, what=what) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError, UnicodeError) as e:
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise BadFile(path, f"is not a readable pickle ({type(e).__name__}: {reason})", fix=fix, what=what) from None
