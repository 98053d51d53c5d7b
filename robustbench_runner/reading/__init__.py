"""The reading layer: every file that enters the tool from a user, a shared data folder or a
run folder is read here, and nowhere else (``tests/hostile/test_reading_layer.py`` scans the
package for ``open``/``np.load``/``torch.load``/``pickle``/``yaml``/``PIL``/``loadmat``/
``read_csv`` calls outside this package and fails on a new one).

What every reader guarantees:

- **only regular files** (:func:`.files.open_regular`): a FIFO, a device or a folder is
  refused without blocking; files the tool wrote into a run folder are opened without
  following a symlink;
- **bounded**: bytes (:data:`.files.LIMITS`), YAML alias expansion and depth
  (:mod:`.yamls`), JSON depth (:mod:`.jsons`), image pixels read from the header before
  decoding (:mod:`.images`), array sizes declared in headers (:mod:`.arrays`);
- **data is not code**: pickles go through an unpickler that admits only numpy's array
  reconstruction (:mod:`.pickles`), torch files through ``weights_only=True``
  (:mod:`.tensors`), YAML through the safe loader; nothing read chooses what to import;
- **checked against what the config declares**: shapes, dtypes, label ranges, counts that
  agree, index lists of unique in-range integers (:mod:`.checks`);
- **one line**: every problem is a :class:`.files.BadFile` (a ``UserError``) naming the file,
  what is wrong and the fix; the commands print it and exit with status 2.

Each public reader has a generator of malformed variants in ``tests/hostile/``.
"""

from .arrays import load_npy, load_npz, parse_npy
from .checks import check_bundle, check_counts, check_indices, check_labels, check_shape
from .csvs import (
    FORMULA_PREFIXES,
    load_csv,
    load_parquet,
    neutralise_cell,
    neutralise_frame,
    parse_csv,
)
from .files import (
    LIMITS,
    BadFile,
    is_regular_file,
    open_regular,
    read_bytes,
    read_text,
    source_stamp,
)
from .idx import load_idx
from .images import load_image
from .indices import load_index_file
from .jsons import load_json, parse_json
from .matfiles import load_mat
from .pickles import load_data_pickle
from .tabular import load_numeric_csv
from .tensors import (
    WeightsOnlyRefused,
    checkpoint_format,
    file_head,
    load_safetensors,
    load_torch,
    load_torch_trusted,
)
from .yamls import load_yaml, parse_yaml

__all__ = [
    "FORMULA_PREFIXES",
    "LIMITS",
    "BadFile",
    "WeightsOnlyRefused",
    "checkpoint_format",
    "file_head",
    "check_bundle",
    "check_counts",
    "check_indices",
    "check_labels",
    "check_shape",
    "is_regular_file",
    "load_csv",
    "load_data_pickle",
    "load_idx",
    "load_image",
    "load_index_file",
    "load_mat",
    "load_npy",
    "load_numeric_csv",
    "load_npz",
    "load_safetensors",
    "load_torch",
    "load_torch_trusted",
    "load_json",
    "load_parquet",
    "load_yaml",
    "neutralise_cell",
    "neutralise_frame",
    "open_regular",
    "parse_csv",
    "parse_json",
    "parse_npy",
    "parse_yaml",
    "read_bytes",
    "read_text",
    "source_stamp",
]
