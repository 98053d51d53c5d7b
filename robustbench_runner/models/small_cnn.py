"""The "small CNN" of paper samplerob (App. C.1): the Keras ``cifar10_cnn.py`` example.

Two blocks of [conv 3x3 'same' -> ReLU -> conv 3x3 'valid' -> ReLU -> maxpool 2 -> dropout
0.25] with 32 then 64 filters, then flatten -> dense 512 -> ReLU -> dropout 0.5 -> dense
classes (the softmax lives in the loss). On 3x32x32: 32 -> 30 -> 15 -> 15 -> 13 -> 6, so the
flattened map is 64x6x6 = 2304 and the network has 1,250,858 parameters, Keras' summary for
that example. Keras flattens channels-last, we flatten channels-first: a fixed permutation of
the dense-512 weight rows, no change to the function class.

Penultimate features: the 512-d ReLU after its dropout (identity in eval mode), i.e. exactly
the input of the final linear layer. ``keras_defaults`` (default true): Keras initializers
(glorot_uniform kernels, zero biases), see :mod:`.keras_style`; false keeps PyTorch's.
"""

from __future__ import annotations

from torch import nn

from .base import ImageClassifier
from .keras_style import glorot_uniform_
from .registry import register_model
from .shapes import flat_output_size, require_image_input


def _check_p(name: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")


class SmallCNN(ImageClassifier):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        conv_dropout: float = 0.25,
        dense_dropout: float = 0.5,
        keras_defaults: bool = True,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        _check_p("conv_dropout", conv_dropout)
        _check_p("dense_dropout", dense_dropout)
        blocks: list[nn.Module] = []
        c = in_channels
        for filters in (32, 64):
            blocks += [
                nn.Conv2d(c, filters, 3, padding=1),  # Keras padding='same' (stride 1)
                nn.ReLU(),
                nn.Conv2d(filters, filters, 3),  # Keras default padding='valid'
                nn.ReLU(),
                nn.MaxPool2d(2),  # Keras MaxPooling2D: 'valid', floor
                nn.Dropout(conv_dropout),
            ]
            c = filters
        convs = nn.Sequential(*blocks, nn.Flatten())
        width = flat_output_size(convs, in_channels, image_size, "small_cnn")
        self.body = nn.Sequential(
            convs, nn.Linear(width, 512), nn.ReLU(), nn.Dropout(dense_dropout)
        )
        self.classifier = nn.Linear(512, num_classes)
        if keras_defaults:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    glorot_uniform_(m)


@register_model("small_cnn")
def small_cnn(
    num_classes=10,
    in_channels=3,
    image_size=32,
    conv_dropout=0.25,
    dense_dropout=0.5,
    keras_defaults=True,
    mean=None,
    std=None,
) -> SmallCNN:
    require_image_input("small_cnn", in_channels, image_size)
    return SmallCNN(
        num_classes, in_channels, image_size, conv_dropout, dense_dropout, keras_defaults, mean, std
    )
