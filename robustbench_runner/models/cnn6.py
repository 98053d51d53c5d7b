"""CNN-6 of the PRS paper (Table 1; robustbench_runner/papers/prs/README.md).

Features: conv 32, conv 64 + maxpool, conv 128, conv 128 + maxpool, conv 64 + maxpool,
conv 64 - all 3x3, padding 1, ReLU. Classifier: flatten -> Linear 512 -> ReLU ->
Linear 128 -> ReLU -> Linear num_classes. The penultimate layer (PRS) is the 128-d ReLU.
Options for paper prs's ablations: ``dropout`` p before each hidden linear layer of the
classifier head, ``batch_norm`` after each convolution.
"""

from __future__ import annotations

from torch import nn

from .base import ImageClassifier
from .registry import register_model

# (out_channels, maxpool after) per conv layer, Table 1 of paper prs.
CNN6_CONVS: tuple[tuple[int, bool], ...] = (
    (32, False),
    (64, True),
    (128, False),
    (128, True),
    (64, True),
    (64, False),
)


def conv_stack(in_channels: int, batch_norm: bool) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    c = in_channels
    n_pools = 0
    for out, pool in CNN6_CONVS:
        layers.append(nn.Conv2d(c, out, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU())
        if pool:
            layers.append(nn.MaxPool2d(2))
            n_pools += 1
        c = out
    return nn.Sequential(*layers), n_pools


def cnn6_head(in_features: int, num_classes: int, dropout: float) -> tuple[nn.Sequential, nn.Linear]:
    """The CNN-6 classifier head, split into hidden part (-> 128-d) and final linear layer.

    Reused by VGG-16 and ResNet-18 of paper prs ("CNN-6 classifier in place of theirs")."""
    hidden: list[nn.Module] = [nn.Flatten()]
    for width in (512, 128):
        if dropout > 0:
            hidden.append(nn.Dropout(dropout))
        hidden.append(nn.Linear(in_features, width))
        hidden.append(nn.ReLU())
        in_features = width
    return nn.Sequential(*hidden), nn.Linear(128, num_classes)


class CNN6(ImageClassifier):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        dropout: float = 0.0,
        batch_norm: bool = False,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        convs, n_pools = conv_stack(in_channels, batch_norm)
        side = image_size // (2**n_pools)
        if side < 1:
            raise ValueError(f"image_size {image_size} too small for CNN-6's {n_pools} pools")
        hidden, self.classifier = cnn6_head(CNN6_CONVS[-1][0] * side * side, num_classes, dropout)
        self.body = nn.Sequential(convs, hidden)


@register_model("cnn6")
def cnn6(num_classes=10, in_channels=3, image_size=32, **options) -> CNN6:
    return CNN6(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options)
