"""User-facing errors: one clear line, a non-zero exit, no traceback unless ``verbose=true``."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad override, missing data, corrupt checkpoint...).

    The message names the problem; ``fix`` says what to do about it. The CLI prints
    ``rbr-run: error: <message> (fix: <fix>)`` on one line and exits with status 2.
    """

    def __init__(self, message: str, fix: str | None = None):
        self.message = message.strip()
        self.fix = fix.strip() if fix else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.fix:
            text += f" (fix: {' '.join(self.fix.split())})"
        return text


class Diverged(UserError):
    """Training or evaluation met non-finite numbers (NaN/inf loss, weights or logits). The
    run stops before anything computed from them is written; what was written before stays,
    and no ``DONE`` is written."""


class NonFiniteOutputs(Diverged):
    """A model's outputs (logits) are NaN or inf: no metric may be computed from them."""
