"""TensorBoard event files (``logger=tensorboard``) in ``<run dir>/tensorboard``.

Scalars per series and step (:mod:`.points`); the resolved config and the run's tags (run name,
config hash) as text at step 0. On resume the event files already there are read back with
TensorBoard's own ``EventAccumulator`` so no point is written twice.
"""

from __future__ import annotations

from pathlib import Path

from .base import Backend, RunInfo

CONFIG_TAG = "config"
TAGS_TAG = "tags"


def _imports():
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise TensorBoardBackend.missing("tensorboard") from e
    return SummaryWriter, EventAccumulator


def read_scalars(log_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], set[str]]:
    """``{tag: [(step, value), ...]}`` and the text tags of the event files in ``log_dir``."""
    _, EventAccumulator = _imports()
    if not log_dir.is_dir() or not any(log_dir.glob("events.out.tfevents.*")):
        return {}, set()
    ea = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    tags = ea.Tags()
    scalars = {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in tags.get("scalars", [])}
    texts = {t.split("/")[0] for t in tags.get("tensors", [])}
    return scalars, texts


class TensorBoardBackend(Backend):
    name = "tensorboard"

    def __init__(self, settings: dict, run: RunInfo):
        super().__init__(settings, run)
        SummaryWriter, _ = _imports()
        log_dir = Path(str(self.settings.get("dir") or "tensorboard"))
        self.log_dir = log_dir if log_dir.is_absolute() else run.dir / log_dir
        scalars, texts = read_scalars(self.log_dir)
        self.seen = {(tag, step) for tag, pts in scalars.items() for step, _ in pts}
        self.writer = SummaryWriter(str(self.log_dir))
        if CONFIG_TAG not in texts:
            self.writer.add_text(CONFIG_TAG, f"```yaml\n{run.config_yaml}\n```", 0)
            self.writer.add_text(TAGS_TAG, "  \n".join(f"{k}: {v}" for k, v in run.tags.items()), 0)
            self.writer.flush()

    def log_points(self, points) -> None:
        for p in points:
            self.writer.add_scalar(p.key, p.value, global_step=p.step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
