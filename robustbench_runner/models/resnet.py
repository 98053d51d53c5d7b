"""CIFAR-style ResNet-18 and ResNet-50 (He et al., 2016), as in kuangliu/pytorch-cifar.

This is the ResNet-18 of the GAIRAT / MAIL code that papers irat and vir
build on, and the ResNet50 of paper auc: a 3x3 stride-1 stem without max-pool,
four stages of 64/128/256/512 planes (strides 1, 2, 2, 2), 1x1-conv + BN projection
shortcuts where the shape changes, global average pooling, one linear layer. PyTorch's
default initialization (that code sets none).

- ``resnet18``: BasicBlock x [2, 2, 2, 2]; 11,173,962 parameters (10 classes, 3 channels).
- ``resnet50``: Bottleneck (expansion 4) x [3, 4, 6, 3]; 23,520,842 parameters.

*Choice:* the reference code pools with ``avg_pool2d(out, 4)``, i.e. global pooling on
32x32 input; we use ``AdaptiveAvgPool2d(1)``, identical there, so that 64x64 Tiny ImageNet
(paper vir) also ends in 512 (2048) features instead of a shape error.
Penultimate features = the pooled, flattened map (input of ``classifier``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import ImageClassifier
from .registry import register_model
from .shapes import require_image_input


def projection_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """Identity, or 1x1 conv + BN when stride or width change."""
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convs; ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = projection_shortcut(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand by 4; residual add, ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = projection_shortcut(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)


class CifarResNet(ImageClassifier):
    """3x3 stem conv + BN + ReLU, four residual stages, global average pool, linear."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, int, int, int],
        num_classes: int = 10,
        in_channels: int = 3,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        ]
        in_planes = 64
        for planes, stride, n in zip(STAGE_PLANES, STAGE_STRIDES, num_blocks, strict=True):
            for i in range(n):
                layers.append(block(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes * block.expansion
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_planes, num_classes)


@register_model("resnet18")
def resnet18(num_classes=10, in_channels=3, image_size=32, mean=None, std=None) -> CifarResNet:
    require_image_input("resnet18", in_channels, image_size)
    return CifarResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, mean, std)


@register_model("resnet50")
def resnet50(num_classes=10, in_channels=3, image_size=32, mean=None, std=None) -> CifarResNet:
    require_image_input("resnet50", in_channels, image_size)
    return CifarResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, mean, std)
