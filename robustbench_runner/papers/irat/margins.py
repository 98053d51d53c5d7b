"""Per-sample margin statistics of one checkpoint (paper irat; ``analysis=[margins]``).

For every point of a split (natural inputs, and adversarial inputs of a configurable
attack), with p the softmax output (robustbench_runner/papers/irat/README.md; paper irat §3):

- ``p_y`` the true-class probability; ``p2 = max_{k != y} p_k`` (definition 1);
- ``margin`` m = p_y - p2 (eq. 4 with the sign convention of robustbench_runner/papers/irat/README.md);
- ``incorrect_rate`` pbar = 1 - p_y = sum_{k != y} p_k (eq. 6);
- ``top2_ratio`` o = p2 / pbar (eq. 7);
- ``similarity`` c = cos(p, q), q = p with the true class zeroed (eq. 11, 12);
- ``correct`` whether argmax p = y.

These are the points of paper irat fig. 2 (p_y vs m, correct vs incorrect) and fig. 4
(c vs pbar). The terms come from :func:`schemes.weights.margin_reweight_terms`, the function
the training schemes use. The per-sample values go to ``margins.csv`` in the run directory
(one row per checkpoint, split, inputs and point); ``metrics.csv`` gets per-checkpoint
summaries: the Pearson r between c and pbar (eq. 23, ``pearson_r_similarity_incorrect``),
the mean margin and the fraction correct, per inputs (eps 0 = natural, eps > 0 = attack).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ...analysis.checkpoint import AnalysisContext, CheckpointAnalysis
from ...errors import UserError
from ...evaluate import frozen_eval
from ...io import upsert_csv
from ...schemes.weights import margin_reweight_terms
from ...seeding import preserved_rng

MARGINS_CSV = "margins.csv"
MARGINS_KEY = ["checkpoint", "epoch", "split", "inputs", "index"]
COLUMNS = ["p_y", "p2", "margin", "incorrect_rate", "top2_ratio", "similarity"]


def pearson_r(a, b) -> float:
    """Pearson correlation coefficient of paper irat eq. 23 (``scipy.stats.pearsonr``); NaN
    when fewer than 2 points are given or either variable is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b).statistic)


def margin_table(logits: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """One row per point: the columns of :data:`COLUMNS` plus ``y``, ``pred``, ``correct``."""
    terms = margin_reweight_terms(logits.double(), y)
    p_y = terms.m + terms.p2
    pred = logits.argmax(dim=1)
    return pd.DataFrame({
        "index": np.arange(len(y)),
        "y": y.cpu().numpy(),
        "pred": pred.cpu().numpy(),
        "correct": (pred == y).cpu().numpy(),
        "p_y": p_y.cpu().numpy(),
        "p2": terms.p2.cpu().numpy(),
        "margin": terms.m.cpu().numpy(),
        "incorrect_rate": terms.pbar.cpu().numpy(),
        "top2_ratio": terms.o.cpu().numpy(),
        "similarity": terms.c.cpu().numpy(),
    })  # fmt: skip


def resolve_run_dir(ctx: AnalysisContext) -> Path:
    """The run directory to write ``margins.csv`` into: ``ctx.run_dir`` when the pipeline
    provides it, else the Hydra job's output directory (= the run directory of rbr-run)."""
    run_dir = getattr(ctx, "run_dir", None)
    if run_dir is not None:
        return Path(run_dir)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise UserError(
        "analysis margins needs the run directory to write margins.csv",
        fix="run it through rbr-run (analysis=[margins]) or set ctx.run_dir",
    )


class MarginsAnalysis(CheckpointAnalysis):
    """Per-sample p_y, margin, incorrect rate and similarity (paper irat fig. 2, fig. 4).

    Args:
        attack: a ``_partial_`` attack (config) for the adversarial inputs, or None for
            natural inputs only.
        split: the split analysed (paper irat App. D: "all validation examples").
        n: seeded subset size of the split (None = all points).
        seed: seed of that subset.
        batch_size: forward/attack batch (None = the evaluation batch size).
    """

    default_name = "margins"

    def __init__(self, name: str | None = None, attack=None, split: str = "val", n: int | None = None,
                 seed: int = 0, batch_size: int | None = None):  # fmt: skip
        super().__init__(name)
        self.attack_factory = attack
        self.split, self.n, self.seed, self.batch_size = str(split), n, int(seed), batch_size

    def tables(self, ctx: AnalysisContext) -> dict[str, tuple[float, pd.DataFrame]]:
        """``{inputs label: (eps, per-sample table)}`` for natural and adversarial inputs."""
        from ...data.splits import limit

        try:
            data = ctx.bundle.split(self.split)  # a missing val split raises its own UserError
        except ValueError as e:
            raise UserError(f"analysis {self.name}: {e}", fix="use split: train, val or test") from e
        if len(data) == 0:
            raise UserError(f"analysis {self.name}: the {self.split!r} split is empty",
                            fix="set data.val_size > 0 or analysis.margins.split=test")  # fmt: skip
        sub = limit(data, self.n, self.seed)
        x, y = sub.float_x(), sub.y
        bs = int(self.batch_size or ctx.batch_size)
        out = {"natural": (0.0, self._logits(ctx, x, y, bs, None))}
        if self.attack_factory is not None:
            attack = self.attack_factory(model=ctx.model)
            out[attack.name] = (float(attack.eps), self._logits(ctx, x, y, bs, attack))
        return {k: (eps, margin_table(logits, y)) for k, (eps, logits) in out.items()}

    @staticmethod
    def _logits(ctx: AnalysisContext, x: torch.Tensor, y: torch.Tensor, bs: int, attack) -> torch.Tensor:
        parts = []
        with frozen_eval(ctx.model), preserved_rng():
            if attack is not None:
                attack.reset_rng(ctx.device)
            for a in range(0, len(x), bs):
                xb, yb = x[a : a + bs].to(ctx.device), y[a : a + bs].to(ctx.device)
                if attack is not None:
                    xb = attack(xb, yb)
                with torch.no_grad():
                    parts.append(ctx.model(xb).float().cpu())
        return torch.cat(parts) if parts else torch.empty(0, 0)

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        rows, frames = [], []
        for inputs, (eps, table) in self.tables(ctx).items():
            frames.append(table.assign(checkpoint=ctx.checkpoint, epoch=-1 if ctx.epoch is None else ctx.epoch,
                                       split=self.split, inputs=inputs, eps=eps))  # fmt: skip
            n = len(table)
            summary = {
                "pearson_r_similarity_incorrect": pearson_r(table.similarity, table.incorrect_rate),
                "mean_margin": float(table.margin.mean()) if n else float("nan"),
                "fraction_correct": float(table.correct.mean()) if n else float("nan"),
            }
            rows += [{"split": self.split, "eps": eps, "metric": m, "value": v, "n": n} for m, v in summary.items()]
        per_sample = pd.concat(frames, ignore_index=True)
        front = ["checkpoint", "epoch", "split", "inputs", "eps", "index"]
        per_sample = per_sample[front + [c for c in per_sample.columns if c not in front]]
        upsert_csv(resolve_run_dir(ctx) / MARGINS_CSV, per_sample, MARGINS_KEY, keep="first", sort=["epoch"])
        return rows
