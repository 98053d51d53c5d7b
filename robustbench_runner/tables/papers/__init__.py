"""Custom table and figure builders, one module per paper (prs, irat, samplerob, auc, vir).
Importing this package imports every module in it, which registers their builders."""

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
