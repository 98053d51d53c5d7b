"""Progress a person can follow: tqdm bars on a terminal, plain log lines elsewhere.

On a TTY (or ``progress=true``) every loop shows a tqdm bar. Where nobody watches a bar
(stdout to a SLURM log, ``nohup``, CI, ``progress=false``) the same loops print plain lines
to stdout instead:

- an attack on a checkpoint prints, at most every ``progress_every`` seconds (default 30),
  ``[rbr] epoch_004 PGD-20: 120/285 pts, robust acc so far 0.412 at eps 0.3, elapsed 0:31,
  eta 0:43``, and always one closing line with its exact robust accuracy;
- a training epoch prints the same kind of line (batches done, elapsed, eta) when it runs
  longer than ``progress_every`` (the pipeline prints one line per finished epoch);
- the cascade inside the official AutoAttack (APGD-CE, APGD-T, FAB-T, Square) reports each
  finished sub-attack through :class:`LibraryLogForwarder`, throttled the same way;
- one attack batch (``eval.batch_size`` points) can run for minutes: a heartbeat thread
  repeats the attack's line (points done, elapsed) every ``progress_every`` seconds meanwhile,
  so a log never goes silent for longer than that.

"Robust acc so far" extrapolates from the points attacked so far: (robust among the
attacked clean-correct points) x (clean accuracy of the attacked subset); points misclassified
when clean are never attacked and count as non-robust (the engine's rule). The closing line's
value is exact: robust points / all points.

The clock is :data:`clock` (``time.monotonic``); tests replace it with a fake one.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

from tqdm.auto import tqdm

_ENABLED: bool | None = None
_EVERY: float = 30.0
_SCOPE: list[str] = []
_ACTIVE: list[LogBar] = []

#: the clock the log lines read (seconds); tests swap in a fake one
clock = time.monotonic
#: attack loops also print from a background thread while one long batch runs (tests turn
#: it off to drive the clock themselves)
HEARTBEAT = True


def configure(progress: str | bool, every: float | None = None) -> None:
    """``auto``: bars only when stderr is a terminal; ``true``/``false`` force it.
    ``every``: seconds between two log lines of the same loop (``progress_every``)."""
    global _ENABLED, _EVERY
    if isinstance(progress, bool):
        _ENABLED = progress
    else:
        _ENABLED = {"true": True, "false": False}.get(str(progress).lower(), None)
    if every is not None:
        if not float(every) > 0:
            from .errors import UserError

            raise UserError(f"progress_every={every} must be a number of seconds > 0", fix="use e.g. progress_every=30")
        _EVERY = float(every)


def enabled() -> bool:
    """Whether tqdm bars are shown (else: log lines)."""
    return sys.stderr.isatty() if _ENABLED is None else _ENABLED


def log_lines() -> bool:
    return not enabled()


@contextlib.contextmanager
def scope(label: str):
    """Name the checkpoint the attacks inside are run on (``epoch_004``), for the log lines."""
    _SCOPE.append(str(label))
    try:
        yield
    finally:
        _SCOPE.pop()


def bar(iterable=None, **kw):
    """A tqdm bar on a terminal; elsewhere a :class:`LogBar` (lines for attacks and epochs)."""
    if enabled():
        kw.setdefault("dynamic_ncols", True)
        kw.setdefault("leave", False)
        return tqdm(iterable, **kw)
    return LogBar(iterable, total=kw.get("total"), desc=kw.get("desc"), unit=kw.get("unit", "it"), initial=kw.get("initial", 0))


def count_robust(preds: dict, y, n_all: int | None = None) -> None:
    """Report one attacked batch to the innermost attack bar: ``preds`` maps eps to the
    predictions on the batch's clean-correct points ``y``; counted at the largest eps.
    ``n_all``: all points of the evaluated subset (clean-wrong ones included)."""
    if not _ACTIVE or not preds:
        return
    top = max(preds)
    _ACTIVE[-1].add_robust(int((preds[top].cpu() == y.cpu()).sum()), len(y), float(top), n_all)


def within(fraction: float) -> None:
    """How far the attack batch in flight is (0..1: e.g. PGD's step / steps), so that a
    progress line during one long batch carries an ETA (:meth:`LogBar.line`)."""
    if _ACTIVE:
        _ACTIVE[-1].partial = min(max(float(fraction), 0.0), 1.0)


#: AutoAttack's standard cascade: a stage's "robust accuracy after <stage>" line means this
#: fraction of the batch's work is done (by count of stages, not by cost: a rough ETA)
AA_STAGES = {"APGD-CE": 0.25, "APGD-T": 0.5, "FAB-T": 0.75, "SQUARE": 1.0}


def note(message: str) -> None:
    """A sub-step of the innermost bar (e.g. AutoAttack's 'robust accuracy after APGD-CE'),
    printed when log lines are on and the last line is ``progress_every`` seconds old."""
    if _ACTIVE:
        _ACTIVE[-1].note(message)


PLURALS = {"batch": "batches", "pt": "pts", "pts": "pts"}


def fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class LogBar:
    """The tqdm interface the loops use (iterate, ``update``, context manager), printing
    plain lines. Attack loops (unit ``pt``) print throttled lines and one closing line;
    other named loops (training batches) print throttled lines only; the epoch loop and
    unnamed loops (clean predictions) print nothing (the pipeline reports epochs)."""

    def __init__(self, iterable=None, total=None, desc=None, unit="it", initial=0):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            self.total = len(iterable) + int(initial or 0)
        self.n = int(initial or 0)
        self.start_n = self.n
        self.attack = unit == "pt" and bool(desc)
        self.talks = bool(desc) and unit != "epoch"
        self.scope = _SCOPE[-1] if (_SCOPE and self.attack) else None
        self.t0 = clock()
        self.last = self.t0
        self.robust = self.attacked = 0
        self.eps: float | None = None
        self.n_all: int | None = None
        self.closed = False
        self.last_note = ""
        self.pending = 0  # points of the batch in flight (batched() sets it)
        self.partial = 0.0  # how far that batch is (within())
        self.rough = False  # the ETA comes from a coarse stage count (AutoAttack)
        self.out = sys.stdout  # bound now: library calls inside redirect stdout to silence it
        self.lock = threading.Lock()
        self.stop = threading.Event()
        _ACTIVE.append(self)
        if self.attack and HEARTBEAT:
            threading.Thread(target=self._heartbeat, name="rbr-progress", daemon=True).start()

    def _heartbeat(self) -> None:
        while not self.stop.wait(min(_EVERY, 5.0)):
            self._maybe_print()

    # -- tqdm interface ------------------------------------------------------------------------
    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(final=exc_type is None)
        return False

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        self.partial = 0.0
        self._maybe_print()

    def set_postfix(self, *a, **kw) -> None:
        """tqdm's API, accepted on purpose and ignored: log lines show counts and rates only."""

    def set_description(self, *a, **kw) -> None:
        """tqdm's API, accepted on purpose and ignored: the description is fixed at creation."""

    def close(self, final: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self.stop.set()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if final and self.attack:
            self._print(closing=True)

    # -- reports ------------------------------------------------------------------------------------
    def add_robust(self, robust: int, attacked: int, eps: float, n_all: int | None) -> None:
        self.robust += robust
        self.attacked += attacked
        self.eps = eps
        self.n_all = n_all

    def note(self, message: str) -> None:
        """Keep the newest sub-step; the next line (throttled, or the heartbeat's) shows it."""
        self.last_note = " ".join(str(message).split())
        upper = self.last_note.upper()
        stage = max((f for k, f in AA_STAGES.items() if f"AFTER {k}" in upper), default=None)
        if stage is not None:
            self.partial, self.rough = stage, True
        self._maybe_print()

    def _maybe_print(self) -> None:
        if self.talks and clock() - self.last >= _EVERY and (self.total is None or self.n < self.total):
            self._print()

    def line(self, closing: bool = False, extra: str = "") -> str:
        now = clock()
        elapsed = now - self.t0
        name = " ".join(p for p in (self.scope, self.desc) if p)
        done = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        unit = PLURALS.get(self.unit, self.unit + "s")
        # attack lines count attacked points (the clean-correct ones); the robust accuracy is
        # over all points of the subset, named as "k of n pts robust": never two denominators
        # in one "a/b" shape
        parts = [f"{done} attacked {unit}" if self.attack else f"{done} {unit}"]
        if self.attack and closing and self.n_all and self.total is not None and self.n_all != self.total:
            parts[0] += f" (the clean-correct ones of {self.n_all})"
        if self.attack and self.attacked:
            clean_frac = (self.total / self.n_all) if (self.n_all and self.total is not None) else 1.0
            if closing and self.n_all:
                parts.append(f"robust acc {self.robust / self.n_all:.4f} at eps {self.eps:g} ({self.robust} of {self.n_all} pts robust)")
            else:
                parts.append(f"robust acc so far {self.robust / self.attacked * clean_frac:.3f} at eps {self.eps:g}")
        parts.append(f"elapsed {fmt_seconds(elapsed)}")
        done_now = self.n - self.start_n + self.partial * self.pending  # the batch in flight counts by its fraction done
        if not closing and self.total is not None and self.n < self.total:
            if done_now > 0:
                left = self.total - self.n - self.partial * self.pending
                parts.append(f"eta {fmt_seconds(elapsed / done_now * left)}{' (rough: by AutoAttack stage)' if self.rough else ''}")
            elif self.attack:
                parts.append(f"eta after the first {self.pending or 'batch of'} pts" if self.pending else "eta after the first batch")
        extra = extra or ("" if closing else self.last_note)
        if extra:
            parts.append(extra)
        return f"[rbr] {name}: " + ", ".join(parts)

    def _print(self, closing: bool = False, extra: str = "") -> None:
        with self.lock:
            print(self.line(closing, extra), file=self.out, flush=True)
            self.last = clock()


class LibraryLogForwarder(logging.Handler):
    """Forwards the official AutoAttack library's "robust accuracy after <attack>" lines to
    the innermost attack's log lines (:func:`note`); everything else it logs is dropped."""

    KEEP = ("robust accuracy after",)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed library record must never stop an evaluation
            return
        if any(k in msg for k in self.KEEP):
            note(f"AutoAttack, current batch: {msg}")
