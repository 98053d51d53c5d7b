"""Pre-activation ResNet-18 (He et al., 2016b), as in kuangliu/pytorch-cifar.

Paper vir discusses PreActResNet-18 results of Xu et al. (2021); this is that
network: 3x3 stride-1 stem conv (no BN/ReLU after it, no max-pool), PreActBlock x [2, 2, 2, 2]
with 64/128/256/512 planes, 1x1-conv projection shortcuts (no BN) taken from the
pre-activated input, global average pooling, one linear layer; 11,171,146 parameters for
10 classes and 3 channels. PyTorch's default initialization.

Like the reference code there is no BN-ReLU after the last block (some AT code bases add one,
+1,024 parameters); the penultimate features are the pooled output of the last block.
*Choice:* ``AdaptiveAvgPool2d(1)`` in place of ``avg_pool2d(out, 4)`` (identical on 32x32,
global on 64x64), as in :mod:`.resnet`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import ImageClassifier
from .registry import register_model
from .shapes import require_image_input


class PreActBlock(nn.Module):
    """``conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut``, shortcut of ``relu(bn1(x))``
    when it is a projection, of ``x`` otherwise."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + residual


class PreActResNet18(ImageClassifier):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, mean=None, std=None):
        super().__init__(in_channels, mean, std)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)]
        in_planes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            for i in range(2):
                layers.append(PreActBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)


@register_model("preact_resnet18")
def preact_resnet18(
    num_classes=10, in_channels=3, image_size=32, mean=None, std=None
) -> PreActResNet18:
    require_image_input("preact_resnet18", in_channels, image_size)
    return PreActResNet18(num_classes, in_channels, mean, std)
