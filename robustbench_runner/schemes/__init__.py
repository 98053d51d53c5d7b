"""Training schemes (``conf/scheme/*.yaml``): how a batch becomes a loss.

- ``base.py``: the interface (:class:`Scheme`, :class:`StepOutput`) and ``standard``;
- ``adversarial.py``: training attack + BN mode while generating it; ``pgd_at``;
- ``trades.py``, ``mart.py``: the TRADES and MART base losses as schemes;
- ``reweighted.py``: burn-in / multiplier / normalize / detach, weighted CE and TRADES;
- ``irat.py``: MAIL(-AT, -TRADES), WMMR, EWAT, margin reweighting (paper irat, robustbench_runner/papers/irat/README.md);
- ``gairat.py``: GAIRAT (kappa counted along the PGD path);
- ``vir.py``: VIR-AT, VIR-TRADES (paper vir, robustbench_runner/papers/vir/README.md);
- ``weights.py``, ``losses.py``: the pure per-sample formulas.
"""

from .adversarial import PGDAT, AdversarialScheme, bn_mode
from .base import SCHEMES, Scheme, Standard, StepOutput, WarmupRule
from .gairat import GAIRAT
from .irat import EWAT, MAILAT, MAILTRADES, WMMR, MarginReweightMAIL, MarginReweightWMMR
from .mart import MART
from .reweighted import ReweightedAT, ReweightedScheme, ReweightedTRADES
from .trades import TRADES
from .vir import VIRAT, VIRTRADES

__all__ = [
    "EWAT",
    "GAIRAT",
    "MAILAT",
    "MAILTRADES",
    "MART",
    "PGDAT",
    "TRADES",
    "VIRAT",
    "VIRTRADES",
    "WMMR",
    "AdversarialScheme",
    "MarginReweightMAIL",
    "MarginReweightWMMR",
    "ReweightedAT",
    "ReweightedScheme",
    "ReweightedTRADES",
    "Scheme",
    "Standard",
    "StepOutput",
    "WarmupRule",
    "bn_mode",
]

# the package's re-exports name the same classes (``_target_: robustbench_runner.schemes.MAILAT``)
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and issubclass(_obj, Scheme):
        SCHEMES.add(f"{__name__}.{_name}", _obj, replace=True)
del _name, _obj
