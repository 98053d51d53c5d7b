"""Datasets: each config under ``conf/dataset/`` names a loader (``_target_``) that reads the
on-disk files (or a packaged set) into a :class:`DataBundle` of in-memory tensors.

``load_dataset(cfg)`` handles what every dataset shares: the seeded stratified validation
split, size limits (smoke scale), subsets selected by index files, and how batches are
made (``loader: tensor | dataloader``, ``num_workers``, ``pin_memory``, ``on_gpu``: see
``data.loader``). ``augment`` is read by the trainer through ``augment.make_augment``.

Dataset families (one module each, one config each under ``conf/dataset/``): ``digits``,
``mnist`` (MNIST, F-MNIST), ``cifar`` (10, 100), ``svhn``, ``tinyimagenet``, ``fusion``
(paper auc), ``gaussian_mixture`` (paper vir, appendix A), ``tabular`` (ONP, diabetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from .augment import make_augment
from .base import ArraySplit, DataBundle, LoaderOptions, to_float
from .loader import batches, num_batches
from .splits import hold_out, limit

#: Keys of a dataset config handled here for every dataset; the rest go to the loader.
COMMON_KEYS = (
    "name",
    "eps",
    "eps_grid",
    "val_size",
    "val_seed",
    "augment",
    "subset",
    "test_subset",
    "limit_train",
    "limit_test",
    "loader",
    "num_workers",
    "pin_memory",
    "on_gpu",
)


def load_dataset(cfg: DictConfig | Mapping, device: torch.device | str | None = None) -> DataBundle:
    """Build the :class:`DataBundle` a dataset config describes; with ``device``, also
    :meth:`DataBundle.place` it there (a GPU copy of the training split when ``on_gpu``)."""
    conf = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    common = {k: conf.pop(k, None) for k in COMMON_KEYS}
    target = conf.pop("_target_", None)
    if not target:
        raise UserError(f"dataset config {common['name']!r} has no _target_ loader")
    loader = get_method(target)
    from .custom import USER_DATA_KEYS, as_bundle, is_user_loader  # dataset=custom (docs/byo.md)

    declared = {k: conf.pop(k, None) for k in USER_DATA_KEYS} if is_user_loader(target) else None
    try:
        bundle: DataBundle = loader(**conf)
    except TypeError as e:  # an unknown option for this loader
        raise UserError(f"dataset {common['name']!r}: {e}", fix="check the data.* overrides") from e
    if declared is not None:
        bundle = as_bundle(bundle, declared, common["name"], target)
    else:  # a built-in loader: its splits agree with themselves (labels in range, counts, shapes)
        from ..reading import check_bundle

        check_bundle(bundle, str(conf.get("root") or target), what=f"dataset {common['name'] or target}")
    if common["name"]:
        bundle.name = common["name"]
    bundle.loader = LoaderOptions(
        kind=str(common["loader"] or "tensor"),
        num_workers=int(common["num_workers"] or 0),
        pin_memory=common["pin_memory"],
        on_gpu=bool(common["on_gpu"]),
    )
    bundle = finalize(bundle, common)
    if device is not None:
        bundle.place(device)
    return bundle


def finalize(bundle: DataBundle, common: dict) -> DataBundle:
    """Apply subsets, limits and the validation split (in that order) to a loaded bundle."""
    if common.get("subset"):
        bundle.train = bundle.train.subset(read_index_file(common["subset"], len(bundle.train)))
    if common.get("test_subset"):
        bundle.test = bundle.test.subset(read_index_file(common["test_subset"], len(bundle.test)))
    seed = int(common.get("val_seed") or 0)
    bundle.train = limit(bundle.train, common.get("limit_train"), seed)
    bundle.test = limit(bundle.test, common.get("limit_test"), seed)
    val_size = common.get("val_size") or 0
    if val_size:
        bundle.train, bundle.val = _hold_out_val(bundle, val_size, seed)
    bundle.after_finalize(common)
    return bundle


def _hold_out_val(bundle: DataBundle, val_size, seed: int):
    """``data.val_size`` samples of the training split held out for validation; a size the
    split cannot give (all of it or more, or too few per class) is a one-line error."""
    n = len(bundle.train)
    suggest = max(1, n // 5)
    if int(val_size) >= n:
        raise UserError(
            f"data.val_size={val_size} is not smaller than the training split of {bundle.name!r} ({n} samples after data.limit_train/subset), "
            "so no training data would be left",
            fix=f"set data.val_size below {n}, e.g. data.val_size={suggest}",
        )
    try:
        return hold_out(bundle.train, val_size, seed)
    except ValueError as e:  # scikit-learn's stratified split: too few samples per class
        raise UserError(
            f"data.val_size={val_size} cannot be split off the {n} training samples of {bundle.name!r} ({' '.join(str(e).split())[:160]})",
            fix=f"pick another data.val_size, e.g. data.val_size={suggest}",
        ) from e


def read_index_file(path: str | Path, n: int) -> torch.Tensor:
    """Indices (one integer per line, or an integer ``.npy`` array) selecting rows of a split
    of ``n`` rows, through :func:`reading.load_index_file`: non-empty, integers, unique, in
    ``[0, n)``, else one line naming the file."""
    from ..reading import load_index_file

    return torch.from_numpy(load_index_file(path, n))


__all__ = [
    "ArraySplit",
    "DataBundle",
    "LoaderOptions",
    "batches",
    "load_dataset",
    "make_augment",
    "num_batches",
    "read_index_file",
    "to_float",
]
