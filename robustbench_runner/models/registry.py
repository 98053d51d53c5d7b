"""Model registry: ``create_model(name, **kw)`` (timm style), one small module per network."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..registry import Registry

#: the networks by name (:class:`~robustbench_runner.registry.Registry`)
MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(name: str):
    """Decorator registering a builder ``f(num_classes, in_channels, image_size, **options)``."""
    return MODELS.register(name)


def available_models() -> list[str]:
    return MODELS.names()


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    **options,
) -> nn.Module:
    """Build a registered network.

    ``options`` are the model's own knobs (e.g. ``dropout``, ``batch_norm`` for CNN-6) plus
    ``mean``/``std`` for the normalization buffers (identity when omitted).
    """
    return MODELS.get(name)(
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options
    )
