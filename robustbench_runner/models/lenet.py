"""LeNet of paper auc (Sec. 3.1: "LeNet (LeCun et al., 1989)", 32x32x3 input).

Paper auc names the network and nothing else. We use the LeNet-5 layout of the standard
PyTorch CIFAR implementation (kuangliu/pytorch-cifar): conv 6@5x5 -> pool 2 -> conv 16@5x5
-> pool 2 -> flatten (16x5x5 = 400 for 32x32) -> fc 120 -> fc 84 -> fc classes, valid
convolutions, PyTorch default init; 62,006 parameters for 3x32x32 input and 10 classes.
*Choice (options):* ``activation`` (``relu`` as in that code; ``tanh`` as in LeCun et al.)
and ``pool`` (``max`` as in that code; ``avg`` for the original subsampling).
Penultimate features: the 84-d activation (input of the final linear layer).
"""

from __future__ import annotations

from torch import nn

from ..errors import UserError
from .base import ImageClassifier
from .registry import register_model
from .shapes import flat_output_size, require_image_input

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet(ImageClassifier):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        activation: str = "relu",
        pool: str = "max",
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        if activation not in ACTIVATIONS:
            raise UserError(
                f"unknown LeNet activation {activation!r}", fix=f"use one of {sorted(ACTIVATIONS)}"
            )
        if pool not in POOLS:
            raise UserError(f"unknown LeNet pool {pool!r}", fix=f"use one of {sorted(POOLS)}")
        act, pool_cls = ACTIVATIONS[activation], POOLS[pool]
        convs = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            act(),
            pool_cls(2),
            nn.Conv2d(6, 16, 5),
            act(),
            pool_cls(2),
            nn.Flatten(),
        )
        width = flat_output_size(convs, in_channels, image_size, "lenet")
        self.body = nn.Sequential(convs, nn.Linear(width, 120), act(), nn.Linear(120, 84), act())
        self.classifier = nn.Linear(84, num_classes)


@register_model("lenet")
def lenet(
    num_classes=10,
    in_channels=3,
    image_size=32,
    activation="relu",
    pool="max",
    mean=None,
    std=None,
) -> LeNet:
    require_image_input("lenet", in_channels, image_size)
    return LeNet(num_classes, in_channels, image_size, activation, pool, mean, std)
