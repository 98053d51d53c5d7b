"""What a table builder returns (:class:`TableResult`): the tidy numbers, the paper-like
rendering, the runs behind each cell and, for figures, a function that draws the PNG."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class TableResult:
    """``table``: tidy numeric CSV; ``pretty``: the paper-like rendering; ``sources``: per
    cell, the run directories behind it and how many are missing."""

    table: pd.DataFrame
    pretty: pd.DataFrame
    sources: pd.DataFrame
    figure: Callable[[Path], None] | None = None  # writes <stem>.png when set
