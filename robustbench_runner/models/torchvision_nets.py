"""VGG-16 and ResNet-18 of the PRS paper (Appendix A; robustbench_runner/papers/prs/README.md).

"For VGG-16 and ResNet-18, we maintain the original structure for the feature extraction
and replace the classifier as same as CNN-6." So the convolutional part is torchvision's,
unchanged, randomly initialized (no pretrained weights), and the head is
:func:`~robustbench_runner.models.cnn6.cnn6_head` (Linear 512 -> ReLU -> Linear 128 -> ReLU
-> Linear classes; the 128-d ReLU is the penultimate layer used by the PRS analysis).

- ``vgg16``: ``torchvision.models.vgg16().features`` (13 convs, 5 max-pools). torchvision's
  ``AdaptiveAvgPool2d((7, 7))`` belongs to the ImageNet classifier we replace and is dropped;
  the flattened size is measured by a dummy forward (512 for 32x32, 2048 for 64x64).
  ``batch_norm=True`` gives the ``vgg16_bn`` feature extractor.
- ``resnet18_tv``: ``torchvision.models.resnet18()`` up to and including its global
  average pool (7x7 stride-2 stem and max-pool kept), 512 features.

For 1-channel input the first convolution is rebuilt with ``in_channels`` inputs (same
kernel, stride, padding) and initialized as torchvision initializes it.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers as vgg_make_layers

from .base import ImageClassifier
from .cnn6 import cnn6_head
from .registry import register_model
from .shapes import flat_output_size, require_image_input


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def _replace_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv``'s geometry reading ``in_channels`` channels (fresh weights)."""
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )


def vgg16_features(in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """torchvision's VGG-16 (configuration "D") feature extractor, torchvision's conv init."""
    features = vgg_make_layers(vgg_cfgs["D"], batch_norm=batch_norm)
    if in_channels != 3:
        features[0] = _replace_first_conv(features[0], in_channels)
    # torchvision VGG.__init__(init_weights=True), restricted to the feature extractor.
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return features


def resnet18_tv_features(in_channels: int = 3) -> nn.Sequential:
    """torchvision's ResNet-18 from the stem to the global average pool, flattened to 512."""
    net = tv_resnet18(weights=None)
    if in_channels != 3:
        net.conv1 = _replace_first_conv(net.conv1, in_channels)
        # torchvision ResNet.__init__ initializes every conv this way.
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(
        net.conv1,
        net.bn1,
        net.relu,
        net.maxpool,
        net.layer1,
        net.layer2,
        net.layer3,
        net.layer4,
        net.avgpool,
        nn.Flatten(),
    )


class TorchvisionWithCNN6Head(ImageClassifier):
    """A torchvision feature extractor followed by the CNN-6 classifier head."""

    def __init__(
        self,
        extractor: nn.Module,
        model_name: str,
        num_classes: int,
        in_channels: int,
        image_size: int,
        dropout: float,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        width = flat_output_size(extractor, in_channels, image_size, model_name)
        hidden, self.classifier = cnn6_head(width, num_classes, dropout)
        self.body = nn.Sequential(extractor, hidden)


@register_model("vgg16")
def vgg16(
    num_classes=10,
    in_channels=3,
    image_size=32,
    dropout=0.0,
    batch_norm=False,
    mean=None,
    std=None,
) -> TorchvisionWithCNN6Head:
    require_image_input("vgg16", in_channels, image_size)
    _check_dropout(dropout)
    extractor = vgg16_features(in_channels, batch_norm=batch_norm)
    return TorchvisionWithCNN6Head(
        extractor, "vgg16", num_classes, in_channels, image_size, dropout, mean, std
    )


@register_model("resnet18_tv")
def resnet18_tv(
    num_classes=10, in_channels=3, image_size=32, dropout=0.0, mean=None, std=None
) -> TorchvisionWithCNN6Head:
    require_image_input("resnet18_tv", in_channels, image_size)
    _check_dropout(dropout)
    extractor = resnet18_tv_features(in_channels)
    return TorchvisionWithCNN6Head(
        extractor, "resnet18_tv", num_classes, in_channels, image_size, dropout, mean, std
    )
