"""WideResNet (Zagoruyko & Komodakis, 2016) as written in the TRADES / MART code.

Used by papers irat and vir (WRN-34-10, CIFAR-10/100) and the EDM experiment of paper vir
(WRN-28-10). Depth d gives n = (d - 4) / 6 pre-activation blocks per stage; widths
16 -> 16k, 32k, 64k (k = widen factor 10), strides 1, 2, 2; final BN + ReLU, global average
pool, linear. Parameters for 10 classes, 3 channels: WRN-34-10 46,160,474; WRN-28-10
36,479,194.

Faithful details of that code: a block whose width changes pre-activates its input and feeds
the *activated* input to the 1x1 projection shortcut; dropout (``dropRate``, 0 by default)
sits between the two convs; convs are initialized N(0, sqrt(2 / (k*k*out_channels))), BN
weight 1 / bias 0, linear bias 0. The TRADES file also builds an unused ``sub_block1`` that
its ``forward`` never calls; it is left out (the published counts above exclude it), so
loading a TRADES checkpoint would need a key mapping (our layers live in ``body``) that
drops its ``sub_block1.*`` entries.
``depth`` / ``widen_factor`` of the registered builders exist only to shrink smoke-scale
reproductions on a CPU (e.g. WRN-10-1); paper configs keep 34/28 and 10.
*Choice:* ``AdaptiveAvgPool2d(1)`` in place of ``avg_pool2d(out, 8)`` (identical on 32x32).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .base import ImageClassifier
from .registry import register_model
from .shapes import require_image_input


class WideBasicBlock(nn.Module):
    """TRADES ``BasicBlock``: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.equal_in_out = in_planes == out_planes
        self.conv_shortcut: nn.Module | None = None
        if not self.equal_in_out:
            self.conv_shortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(activated)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(out)
        if self.conv_shortcut is None:
            return x + out
        return self.conv_shortcut(activated) + out


class WideResNet(ImageClassifier):
    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
        for stage, stride in enumerate((1, 2, 2)):
            for i in range(n):
                in_planes = widths[stage] if i == 0 else widths[stage + 1]
                layers.append(
                    WideBasicBlock(in_planes, widths[stage + 1], stride if i == 0 else 1, dropout)
                )
        layers += [
            nn.BatchNorm2d(widths[3]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)


@register_model("wrn34_10")
def wrn34_10(
    num_classes=10, in_channels=3, image_size=32, dropout=0.0, mean=None, std=None,
    depth=34, widen_factor=10,
) -> WideResNet:
    """WRN-34-10; ``dropout`` is TRADES' ``dropRate``."""
    require_image_input("wrn34_10", in_channels, image_size)
    return WideResNet(int(depth), int(widen_factor), num_classes, in_channels, dropout, mean, std)


@register_model("wrn28_10")
def wrn28_10(
    num_classes=10, in_channels=3, image_size=32, dropout=0.0, mean=None, std=None,
    depth=28, widen_factor=10,
) -> WideResNet:
    """WRN-28-10; ``dropout`` is TRADES' ``dropRate``."""
    require_image_input("wrn28_10", in_channels, image_size)
    return WideResNet(int(depth), int(widen_factor), num_classes, in_channels, dropout, mean, std)
