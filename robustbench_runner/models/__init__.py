"""Networks of the five papers, built by name: ``create_model("cnn6", num_classes=10)``.

Every model subclasses :class:`ImageClassifier` (normalization buffers inside the model,
``features(x)`` = penultimate activations, ``classifier`` = final linear layer).
Importing this package registers every architecture module listed below.
"""

from . import cnn6  # noqa: F401  (registers "cnn6")
from .base import ImageClassifier
from .registry import available_models, create_model, register_model

__all__ = ["ImageClassifier", "available_models", "create_model", "register_model"]
