"""Networks of the five papers, built by name: ``create_model("cnn6", num_classes=10)``.

Every model subclasses :class:`ImageClassifier` (normalization buffers inside the model,
``features(x)`` = penultimate activations, ``classifier`` = final linear layer).
Importing this package registers every architecture module listed below.

Input convention: images ``(B, C, H, W)`` with ``in_channels=C, image_size=H``; tabular
rows ``(B, D)`` with ``in_channels=D, image_size=0`` (``fcnet`` and ``mlp`` only).
"""

from . import (
    cnn6,  # noqa: F401  (registers "cnn6")
    lenet,  # noqa: F401  (registers "lenet")
    mlp,  # noqa: F401  (registers "fcnet", "mlp")
    preact_resnet,  # noqa: F401  (registers "preact_resnet18")
    resnet,  # noqa: F401  (registers "resnet18", "resnet50")
    resnet56,  # noqa: F401  (registers "resnet56")
    small_cnn,  # noqa: F401  (registers "small_cnn")
    torchvision_nets,  # noqa: F401  (registers "vgg16", "resnet18_tv")
    wide_resnet,  # noqa: F401  (registers "wrn34_10", "wrn28_10")
)
from .base import ImageClassifier
from .registry import available_models, create_model, register_model

__all__ = ["ImageClassifier", "available_models", "create_model", "register_model"]
