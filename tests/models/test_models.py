"""Architectures of the five papers: shapes, parameter counts, the features/classifier split,
normalization buffers, configs, and the Keras/torchvision details each module claims."""

from __future__ import annotations

import functools
import math

import hydra.utils
import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn

from rbr_testing import REPO
from robustbench_runner.errors import UserError
from robustbench_runner.models import ImageClassifier, available_models, create_model
from robustbench_runner.models.keras_style import (
    KERAS_BN_EPS,
    KERAS_BN_MOMENTUM,
    Conv2dSame,
    he_normal_,
)
from robustbench_runner.models.wide_resnet import WideResNet

CONF_DIR = REPO / "conf" / "model"

IMAGE_MODELS = [
    "cnn6",
    "vgg16",
    "resnet18_tv",
    "resnet18",
    "preact_resnet18",
    "wrn34_10",
    "wrn28_10",
    "resnet50",
    "lenet",
    "small_cnn",
    "resnet56",
    "fcnet",
    "mlp",
]
TABULAR_MODELS = ["fcnet", "mlp"]
CONV_MODELS = [m for m in IMAGE_MODELS if m not in TABULAR_MODELS]
GRAY32, RGB32, RGB64 = (1, 32), (3, 32), (3, 64)
TABULAR = (58, 0)  # ONP: 58 features, announced as in_channels=D, image_size=0
ALL_IMAGE_SHAPES = (GRAY32, RGB32, RGB64)
# Shapes of the fast suite: each paper's own datasets (MNIST/F-MNIST 1x32, CIFAR 3x32,
# Tiny ImageNet 3x64 for resnet18), kept cheap on a 2-core CPU. The other shapes the
# models also support run under the ``slow`` marker.
FAST_SHAPES = {
    "cnn6": (GRAY32, RGB32, RGB64),
    "vgg16": (GRAY32, RGB32),
    "resnet18_tv": (GRAY32, RGB32),
    "resnet18": (RGB32, RGB64),
    "preact_resnet18": (RGB32,),
    "wrn34_10": (RGB32,),
    "wrn28_10": (RGB32,),
    "resnet50": (RGB32,),
    "lenet": (GRAY32, RGB32, RGB64),
    "small_cnn": (GRAY32, RGB32),
    "resnet56": (RGB32,),
    "fcnet": (RGB32,),
    "mlp": (GRAY32, RGB32, RGB64),
}
HEAVY = {"wrn34_10", "wrn28_10", "resnet50", "fcnet"}  # slowest to build (>20M parameters)


def _cases(shapes=ALL_IMAGE_SHAPES):
    cases = []
    for name in IMAGE_MODELS:
        for shape in shapes:
            marks = [] if shape in FAST_SHAPES[name] else [pytest.mark.slow]
            cases.append(pytest.param(name, shape, marks=marks, id=f"{name}-{shape[0]}x{shape[1]}"))
    for name in TABULAR_MODELS:
        cases.append(pytest.param(name, TABULAR, id=f"{name}-tabular"))
    return cases


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Batch-2 forwards gain nothing from intra-op threads, and on a shared 2-core machine
    two spinning threads made this file ~4x slower; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def built(name: str, shape: tuple[int, int], num_classes: int = 10) -> ImageClassifier:
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, in_channels=shape[0], image_size=shape[1])
    return model.eval()


def batch(shape: tuple[int, int], n: int = 2, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c, size = shape
    if size == 0:
        return torch.rand(n, c, generator=g)
    return torch.rand(n, c, size, size, generator=g)


def test_registry_holds_every_architecture():
    assert set(available_models()) == set(IMAGE_MODELS)


def test_unknown_model_raises_user_error():
    with pytest.raises(UserError, match="unknown model 'nope'"):
        create_model("nope")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", 11_173_962),
        ("preact_resnet18", 11_171_146),
        ("wrn34_10", 46_160_474),
        ("wrn28_10", 36_479_194),
        ("resnet50", 23_520_842),
        # torchvision vgg16 features 14,714,688 + CNN-6 head (512*512+512)+(512*128+128)+1290
        ("vgg16", 15_044_298),
        # torchvision resnet18 11,689,512 - fc 513,000 + the same CNN-6 head 329,610
        ("resnet18_tv", 11_506_122),
        # (3*25*6+6) + (6*25*16+16) + (400*120+120) + (120*84+84) + (84*10+10)
        ("lenet", 62_006),
        # 3072*7500 + 7500 + 7500*10 + 10
        ("fcnet", 23_122_510),
        # Keras' model.summary() of the cifar10_cnn example
        ("small_cnn", 1_250_858),
        # Keras' "trainable params" of resnet_v1 with depth 56
        ("resnet56", 857_706),
    ],
)
def test_parameter_counts_match_published(name, expected):
    model = built(name, RGB32)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_torchvision_feature_extractors_keep_their_structure():
    tv = torchvision.models.resnet18(weights=None)
    ours = built("resnet18_tv", RGB32).body[0]
    tv_convs = [tuple(m.weight.shape) for m in tv.modules() if isinstance(m, nn.Conv2d)]
    our_convs = [tuple(m.weight.shape) for m in ours.modules() if isinstance(m, nn.Conv2d)]
    assert our_convs == tv_convs
    assert any(isinstance(m, nn.MaxPool2d) for m in ours.modules())  # ImageNet stem kept

    vgg = built("vgg16", RGB32).body[0]
    widths = [m.out_channels for m in vgg if isinstance(m, nn.Conv2d)]
    assert widths == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]  # "D"
    assert sum(isinstance(m, nn.MaxPool2d) for m in vgg) == 5
    assert built("vgg16", RGB32).classifier.in_features == 128  # CNN-6 head
    assert built("vgg16", RGB64).body[1][1].in_features == 512 * 2 * 2  # measured, not assumed


@pytest.mark.parametrize("name", ["vgg16", "resnet18_tv"])
def test_one_channel_input_rebuilds_first_conv(name):
    first = next(m for m in built(name, GRAY32).modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1


@functools.cache
def forward_record(name: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    """One ``model(x)`` with a hook on ``classifier`` plus one ``features(x)``, shared by the
    tests below so that every large network runs only twice."""
    model = built(name, shape)
    x = batch(shape)
    seen: dict[str, torch.Tensor] = {}
    handle = model.classifier.register_forward_hook(
        lambda mod, inputs, output: seen.update(hook_input=inputs[0], hook_output=output)
    )
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    with torch.no_grad():
        features = model.features(x)
    return {"logits": logits, "features": features, **seen}


@pytest.mark.parametrize("name, shape", _cases())
def test_output_shape(name, shape):
    assert forward_record(name, shape)["logits"].shape == (2, 10)


@pytest.mark.parametrize("name, shape", _cases(shapes=(RGB32,)))
def test_classifier_of_features_is_the_model(name, shape):
    model, record = built(name, shape), forward_record(name, shape)
    assert isinstance(model.classifier, nn.Linear)
    with torch.no_grad():
        recomposed = model.classifier(record["features"])
    assert torch.allclose(recomposed, record["logits"], atol=1e-6)


@pytest.mark.parametrize("name, shape", _cases(shapes=(RGB32,)))
def test_features_are_the_input_of_the_final_linear_layer(name, shape):
    model, record = built(name, shape), forward_record(name, shape)
    assert record["features"].shape == (2, model.classifier.in_features)
    assert torch.equal(record["hook_input"], record["features"])
    assert torch.equal(record["hook_output"], record["logits"])  # nothing runs after it


def _norm_cases():
    cases = []
    for name in IMAGE_MODELS:
        marks = [pytest.mark.slow] if name in HEAVY else []
        shape = FAST_SHAPES[name][0]
        cases.append(pytest.param(name, shape, marks=marks, id=f"{name}-{shape[0]}x{shape[1]}"))
    cases.append(pytest.param("mlp", TABULAR, id="mlp-tabular"))
    return cases


@pytest.mark.parametrize("name, shape", _norm_cases())
def test_normalization_buffers_normalize_the_input(name, shape):
    c, size = shape
    mean = [0.1 + 0.2 * i / c for i in range(c)]
    std = [0.2 + 0.1 * i / c for i in range(c)]
    plain = built(name, shape)
    normed = create_model(name, in_channels=c, image_size=size, mean=mean, std=std).eval()
    missing, unexpected = normed.load_state_dict(
        {k: v for k, v in plain.state_dict().items() if k not in ("mean", "std")}, strict=False
    )
    assert sorted(missing) == ["mean", "std"] and not unexpected
    x = batch(shape)
    view = (1, c) if size == 0 else (1, c, 1, 1)
    x_normalized = (x - torch.tensor(mean).view(view)) / torch.tensor(std).view(view)
    assert torch.allclose(normed(x), plain(x_normalized), atol=1e-5)
    assert not torch.allclose(normed(x), plain(x), atol=1e-3)


@pytest.mark.parametrize("name", TABULAR_MODELS)
def test_tabular_classification_and_regression(name):
    clf = built(name, TABULAR, num_classes=2)
    assert clf(batch(TABULAR, n=3)).shape == (3, 2)
    assert clf.body[1].in_features == 58
    reg = built(name, TABULAR, num_classes=1)
    assert reg(batch(TABULAR, n=3)).shape == (3, 1)


def test_mlp_hidden_widths_option():
    model = create_model("mlp", num_classes=1, in_channels=10, image_size=0, hidden=[32, 16, 8])
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [32, 16, 8, 1]
    linear = create_model("mlp", num_classes=3, in_channels=10, image_size=0, hidden=[])
    assert linear.features(batch((10, 0))).shape == (2, 10)
    with pytest.raises(UserError, match="list of layer widths"):
        create_model("mlp", in_channels=10, image_size=0, hidden=64)


# cnn6 (not part of this module set) raises ValueError("image_size 0 too small") instead.
@pytest.mark.parametrize("name", [m for m in CONV_MODELS if m != "cnn6"])
def test_conv_models_reject_tabular_input(name):
    with pytest.raises(UserError, match="needs image input"):
        create_model(name, in_channels=58, image_size=0)


def test_too_small_images_raise_user_error():
    with pytest.raises(UserError, match="too small"):
        create_model("lenet", in_channels=1, image_size=8)
    with pytest.raises(UserError, match="too small"):
        create_model("vgg16", in_channels=3, image_size=16)  # 5 pools need >= 32


def test_vgg16_batch_norm_option_is_vgg16_bn():
    model = create_model("vgg16", batch_norm=True)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 13
    # vgg16 + gamma/beta for 2*64 + 2*128 + 3*256 + 6*512 = 4,224 channels
    assert sum(p.numel() for p in model.parameters()) == 15_044_298 + 2 * 4_224


def test_lenet_options():
    model = create_model("lenet", activation="tanh", pool="avg")
    assert any(isinstance(m, nn.Tanh) for m in model.modules())
    assert any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert not any(isinstance(m, (nn.ReLU, nn.MaxPool2d)) for m in model.modules())
    with pytest.raises(UserError, match="activation"):
        create_model("lenet", activation="gelu")


def test_small_cnn_follows_the_keras_example():
    model = built("small_cnn", RGB32)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.padding) for m in convs] == [
        (32, (1, 1)),  # 'same'
        (32, (0, 0)),  # 'valid'
        (64, (1, 1)),
        (64, (0, 0)),
    ]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.25, 0.5]
    assert model.body[1].in_features == 64 * 6 * 6  # 32 -> 30 -> 15 -> 13 -> 6
    for m in [*convs, model.classifier]:  # glorot_uniform kernels, zero biases
        fan_in, fan_out = m.weight[0].numel(), m.weight[:, 0].numel()
        assert m.weight.abs().max() <= math.sqrt(6.0 / (fan_in + fan_out))
        assert torch.count_nonzero(m.bias) == 0


def test_resnet56_depth_and_keras_batch_norm():
    model = create_model("resnet56", depth=20)  # Keras ResNet20 v1
    assert sum(p.numel() for p in model.parameters()) == 273_066
    stats = sum(b.numel() for n, b in model.named_buffers() if "running_" in n)
    assert stats == 1_376  # Keras' non-trainable params: 274,442 total - 273,066
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 9
    assert all(m.eps == KERAS_BN_EPS and m.momentum == KERAS_BN_MOMENTUM for m in bns)
    plain = create_model("resnet56", depth=20, keras_defaults=False)
    assert all(m.eps == 1e-5 for m in plain.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(UserError, match="6n \\+ 2"):
        create_model("resnet56", depth=55)


def test_conv2d_same_pads_like_tensorflow():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 32, 32)
    strided = Conv2dSame(2, 3, 3, stride=2)
    reference = nn.functional.conv2d(
        nn.functional.pad(x, (0, 1, 0, 1)), strided.weight, strided.bias, stride=2
    )
    out = strided(x)
    assert out.shape == (1, 3, 16, 16)  # ceil(32 / 2)
    assert torch.allclose(out, reference, atol=1e-6)
    symmetric = nn.functional.conv2d(x, strided.weight, strided.bias, stride=2, padding=1)
    assert not torch.allclose(out, symmetric, atol=1e-3)
    plain = Conv2dSame(2, 3, 3, stride=1)
    expected = nn.functional.conv2d(x, plain.weight, plain.bias, padding=1)
    assert torch.allclose(plain(x), expected, atol=1e-6)
    one_by_one = Conv2dSame(2, 3, 1, stride=2)  # TF pads nothing here
    expected = nn.functional.conv2d(x, one_by_one.weight, one_by_one.bias, stride=2)
    assert torch.allclose(one_by_one(x), expected, atol=1e-6)


def test_he_normal_is_truncated_with_keras_std():
    torch.manual_seed(0)
    layer = nn.Conv2d(64, 256, 3)
    he_normal_(layer)
    fan_in = 64 * 9
    target = math.sqrt(2.0 / fan_in)  # the variance he_normal preserves
    assert layer.weight.std().item() == pytest.approx(target, rel=0.02)
    assert layer.weight.abs().max().item() <= 2 * target / 0.87962566103423978 + 1e-7
    assert torch.count_nonzero(layer.bias) == 0


def test_wide_resnet_dropout_option():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    net = WideResNet(depth=10, widen_factor=1, dropout=0.5).train()
    assert not torch.allclose(net(x), net(x))
    net.eval()
    assert torch.allclose(net(x), net(x))
    deterministic = WideResNet(depth=10, widen_factor=1, dropout=0.0).train()
    assert torch.allclose(deterministic(x), deterministic(x))


# conf/model/custom.yaml is the user's own class (model=custom, tests/test_byo.py), not a
# registered architecture.
#: conf/model files of rbr's registry; custom (your class) and the by-name groups (timm,
#: torchvision: models/by_name.py, tested in tests/test_first_hour.py) build other libraries' models
REGISTERED_CONFIGS = sorted(p for p in CONF_DIR.glob("*.yaml") if p.stem not in ("custom", "timm", "torchvision"))


def test_model_configs_cover_the_registry():
    assert {p.stem for p in REGISTERED_CONFIGS} == set(available_models())
    assert (CONF_DIR / "custom.yaml").exists() and "custom" not in available_models()


@pytest.mark.parametrize("path", REGISTERED_CONFIGS, ids=lambda p: p.stem)
def test_model_config_instantiates(path):
    cfg = OmegaConf.create({"model": OmegaConf.load(path)}).model
    assert cfg.name == path.stem and cfg.mean is None and cfg.std is None
    model = hydra.utils.instantiate(cfg, num_classes=10, in_channels=3, image_size=32)
    assert isinstance(model, ImageClassifier)
    assert model.classifier.out_features == 10
    reference = built(path.stem, RGB32)
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )


@pytest.mark.parametrize("name", ["wrn28_10", "wrn34_10"])
def test_wide_resnet_shrinks_only_at_smoke_scale(name):
    """scale=smoke builds WRN-10-2 so CPU smoke reproductions finish (conf/scale/smoke/model/);
    every other preset keeps the paper's depth and width."""
    from rbr_testing import compose_cfg

    paper = compose_cfg([f"model={name}", "scale=paper"]).model
    smoke = compose_cfg([f"model={name}", "scale=smoke"]).model
    assert (paper.depth, paper.widen_factor) == (int(name[3:5]), 10)
    assert (smoke.depth, smoke.widen_factor) == (10, 2)
    model = hydra.utils.instantiate(smoke, num_classes=10, in_channels=3, image_size=32)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(c.out_channels for c in convs) == 64 * 2  # 16, 32, 64 times k = 2
