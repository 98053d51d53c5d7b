"""Model registry: ``create_model(name, **kw)`` (timm style), one small module per network."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import UserError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator registering a builder ``f(num_classes, in_channels, image_size, **options)``."""

    def deco(fn):
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = fn
        return fn

    return deco


def available_models() -> list[str]:
    return sorted(_MODELS)


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
    if name not in _MODELS:
        raise UserError(
            f"unknown model {name!r}",
            fix=f"use one of: {', '.join(available_models())}",
        )
    return _MODELS[name](
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options
    )
