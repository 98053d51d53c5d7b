"""ResNet-56 of paper samplerob (App. C.1): ``resnet_v1`` of the Keras ``cifar10_resnet.py``
example with n = 9 (depth 6n + 2 = 56), He et al. (2016) Sec. 4.2.

Stem conv 3x3 16 -> BN -> ReLU; three stages of n blocks with 16/32/64 filters (strides 1,
2, 2); block = conv3x3-BN-ReLU-conv3x3-BN, added to the shortcut, then ReLU; the first block
of stages 2 and 3 projects its shortcut with a strided 1x1 conv (bias, no BN); global
average pool (Keras ``AveragePooling2D(8)`` on the 8x8 map; adaptive here so 64x64 input also
works) -> dense classes (softmax in the loss). Keras convs carry biases even before BN.
Parameters (3x32x32, 10 classes): 857,706 (weights, biases, BN gamma/beta), Keras'
"trainable params"; Keras' "total params" adds the 4,064 BN moving means/variances
(861,770), which are buffers here. The Keras example's docstring rounds this to "0.85M".

``depth`` (default 56) must be 6n + 2. ``keras_defaults`` (default true): he_normal
kernels, Keras BatchNormalization momentum/epsilon and TF's asymmetric 'same' padding for
the strided convs (see :mod:`.keras_style`). The example's ``l2(1e-4)`` kernel regularizer is
a training choice (a loss term), not part of the architecture.
Penultimate features: the pooled 64-d map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError
from .base import ImageClassifier
from .keras_style import batch_norm, he_normal_, same_conv
from .registry import register_model
from .shapes import require_image_input


class KerasResNetV1Block(nn.Module):
    """Two ``resnet_layer`` calls (conv-BN-ReLU, conv-BN), shortcut add, ReLU."""

    def __init__(self, in_filters: int, filters: int, stride: int, keras_defaults: bool):
        super().__init__()
        self.conv1 = same_conv(in_filters, filters, 3, stride, keras_defaults)
        self.bn1 = batch_norm(filters, keras_defaults)
        self.conv2 = same_conv(filters, filters, 3, 1, keras_defaults)
        self.bn2 = batch_norm(filters, keras_defaults)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_filters != filters:
            self.shortcut = same_conv(in_filters, filters, 1, stride, keras_defaults)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        residual = x if self.shortcut is None else self.shortcut(x)
        return F.relu(residual + y)


class KerasResNetV1(ImageClassifier):
    def __init__(
        self,
        depth: int = 56,
        num_classes: int = 10,
        in_channels: int = 3,
        keras_defaults: bool = True,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        if depth < 8 or (depth - 2) % 6 != 0:
            raise UserError(
                f"Keras ResNet v1 depth must be 6n + 2 (20, 32, 44, 56, 110...), got {depth}",
                fix="set model.depth=56 (paper samplerob uses n = 9)",
            )
        n = (depth - 2) // 6
        layers: list[nn.Module] = [
            same_conv(in_channels, 16, 3, 1, keras_defaults),
            batch_norm(16, keras_defaults),
            nn.ReLU(),
        ]
        filters = 16
        for stage in range(3):
            for block in range(n):
                stride = 2 if stage > 0 and block == 0 else 1
                in_filters = filters // 2 if stage > 0 and block == 0 else filters
                layers.append(KerasResNetV1Block(in_filters, filters, stride, keras_defaults))
            filters *= 2
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(filters // 2, num_classes)
        if keras_defaults:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    he_normal_(m)  # every Conv2D and the final Dense use 'he_normal'


@register_model("resnet56")
def resnet56(
    num_classes=10,
    in_channels=3,
    image_size=32,
    depth=56,
    keras_defaults=True,
    mean=None,
    std=None,
) -> KerasResNetV1:
    require_image_input("resnet56", in_channels, image_size)
    return KerasResNetV1(depth, num_classes, in_channels, keras_defaults, mean, std)
