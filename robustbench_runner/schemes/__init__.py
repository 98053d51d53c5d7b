"""Training schemes (``conf/scheme/*.yaml``): how a batch becomes a loss."""

from .base import Scheme, Standard, StepOutput

__all__ = ["Scheme", "Standard", "StepOutput"]
