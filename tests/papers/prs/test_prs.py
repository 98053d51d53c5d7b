"""Paper prs analysis (PRS ratio, IR, groups, sparsity, CS, denseness) on hand-built networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from robustbench_runner.analysis.features import PackedPatterns, extract
from robustbench_runner.data.base import ArraySplit
from robustbench_runner.errors import UserError
from robustbench_runner.models.base import ImageClassifier
from robustbench_runner.papers.prs.denseness import denseness, training_denseness
from robustbench_runner.papers.prs.metrics import (
    activation_patterns,
    cosine_similarity_final_layer,
    inclusion_exclusion_groups,
    inclusion_mask,
    inclusion_ratio,
    layer_sparsity,
    prs_metrics,
    prs_ratio,
    sparsity,
)

# Hidden layer h = relu(W1 x) with W1 rows (1, 0), (0, 1), (-1, -1): h = (x1, x2, -(x1 + x2))+.
W1 = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
# Training inputs and their patterns worked out by hand.
TRAIN_X = [
    (1.0, 1.0),  # (1, 1, 0)      -> 110
    (2.0, 3.0),  # (2, 3, 0)      -> 110
    (1.0, -2.0),  # (1, 0, 1)     -> 101
    (-1.0, 2.0),  # (0, 2, 0)     -> 010
    (-1.0, -1.0),  # (0, 0, 2)    -> 001
    (3.0, -1.0),  # (3, 0, 0)     -> 100
    (0.5, 0.5),  # (.5, .5, 0)    -> 110
    (2.0, -5.0),  # (2, 0, 3)     -> 101
]
TRAIN_PATTERNS = ["110", "110", "101", "010", "001", "100", "110", "101"]  # 5 distinct / 8
TEST_X = [(4.0, 4.0), (-3.0, 1.0), (0.0, 0.0), (5.0, -1.0)]  # 110 in, 011 out, 000 out, 100 in
TEST_PATTERNS = ["110", "011", "000", "100"]


class HandNet(ImageClassifier):
    """Tabular input (no normalization) -> chosen linear layers with nn.ReLU -> classifier."""

    def __init__(self, hidden: list[nn.Module], width: int, classes: torch.Tensor):
        super().__init__(in_channels=1)
        self.body = nn.Sequential(*hidden)
        self.classifier = nn.Linear(width, classes.shape[0], bias=False)
        with torch.no_grad():
            self.classifier.weight.copy_(classes)


def linear(weight, bias=None) -> nn.Linear:
    w = torch.tensor(weight)
    layer = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(torch.zeros(w.shape[0]) if bias is None else torch.tensor(bias))
    return layer


def one_layer_net() -> HandNet:
    return HandNet([linear(W1), nn.ReLU()], 3, torch.eye(3))


def two_layer_net() -> HandNet:
    # Second layer: (h_0, -h_2)+ = (h_0, 0): its second unit is always zero.
    return HandNet(
        [linear(W1), nn.ReLU(), linear([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), nn.ReLU()],
        2,
        torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
    )


def bits(strings: list[str]) -> np.ndarray:
    return np.array([[c == "1" for c in s] for s in strings])


def test_patterns_match_hand_computation():
    p = activation_patterns(one_layer_net(), torch.tensor(TRAIN_X), batch_size=3)
    assert p.n_units == 3 and len(p) == 8
    np.testing.assert_array_equal(p.unpack(), bits(TRAIN_PATTERNS))


def test_prs_ratio_and_inclusion_by_hand():
    net = one_layer_net()
    train = activation_patterns(net, torch.tensor(TRAIN_X))
    test = activation_patterns(net, torch.tensor(TEST_X))
    np.testing.assert_array_equal(test.unpack(), bits(TEST_PATTERNS))
    assert prs_ratio(train) == pytest.approx(5 / 8)
    np.testing.assert_array_equal(inclusion_mask(train, test), [True, False, False, True])
    assert inclusion_ratio(train, test) == pytest.approx(2 / 4)
    assert prs_ratio(test) == 1.0


def test_prs_ratio_extremes():
    same = PackedPatterns.from_binary(np.ones((7, 130), dtype=bool))
    assert prs_ratio(same) == pytest.approx(1 / 7)
    all_distinct = PackedPatterns.from_binary(np.eye(9, 130, dtype=bool))
    assert prs_ratio(all_distinct) == 1.0


@pytest.mark.parametrize("units", [128, 130, 5])
def test_packing_round_trip_and_keys(units):
    rng = np.random.default_rng(units)
    binary = rng.random((40, units)) > 0.5
    binary[10] = binary[3]  # a duplicate pattern
    binary[11] = binary[3]
    binary[11, -1] = ~binary[3, -1]  # differs only in the last unit (a padded byte)
    packed = PackedPatterns.from_binary(binary)
    assert packed.bits.dtype == np.uint8
    assert packed.bits.shape == (40, math.ceil(units / 8))
    np.testing.assert_array_equal(packed.unpack(), binary)
    keys = packed.keys()
    assert keys[10] == keys[3] and keys[11] != keys[3]
    assert packed.row_bytes(10) == packed.row_bytes(3) != packed.row_bytes(11)
    n_distinct = len({row.tobytes() for row in binary})
    assert len(packed.distinct()) == n_distinct
    assert prs_ratio(packed) == pytest.approx(n_distinct / 40)
    # torch input and features > 0 give the same packing.
    feats = torch.tensor(np.where(binary, 0.5, 0.0), dtype=torch.float32)
    np.testing.assert_array_equal(PackedPatterns.from_features(feats).bits, packed.bits)


def test_inclusion_mask_rejects_different_widths():
    a = PackedPatterns.from_binary(np.ones((2, 8), dtype=bool))
    b = PackedPatterns.from_binary(np.ones((2, 9), dtype=bool))
    with pytest.raises(ValueError, match="units"):
        inclusion_mask(a, b)


def test_inclusion_exclusion_groups():
    train = PackedPatterns.from_binary(bits(["1100", "0011"]))
    test_strings = ["1100", "0011", "1111", "0000", "1100", "1010", "0011", "0001"]
    test = PackedPatterns.from_binary(bits(test_strings))
    correct = np.array([True, True, True, False, False, True, True, True])
    # in PRS & correct: 0, 1, 6; not in PRS & correct: 2, 5, 7
    g = inclusion_exclusion_groups(train, test, correct, n=2, seed=3)
    assert g.n_inclusion_available == 3 and g.n_exclusion_available == 3
    assert len(g.inclusion) == 2 and set(g.inclusion) <= {0, 1, 6}
    assert len(g.exclusion) == 2 and set(g.exclusion) <= {2, 5, 7}
    again = inclusion_exclusion_groups(train, test, torch.tensor(correct), n=2, seed=3)
    np.testing.assert_array_equal(g.inclusion, again.inclusion)
    np.testing.assert_array_equal(g.exclusion, again.exclusion)
    everything = inclusion_exclusion_groups(train, test, correct, n=1000)
    np.testing.assert_array_equal(everything.inclusion, [0, 1, 6])
    np.testing.assert_array_equal(everything.exclusion, [2, 5, 7])
    with pytest.raises(ValueError, match="shape"):
        inclusion_exclusion_groups(train, test, correct[:-1])


def test_sparsity_two_layers_by_hand():
    net = two_layer_net()
    x = torch.tensor(TRAIN_X)
    # Layer 1 zeros: 1+1+1+2+2+2+1+1 = 11 of 24. Layer 2: h_0 = 0 for 2 samples, second unit
    # always 0 -> 10 of 16. Equal-weight mean over layers.
    expected = (11 / 24 + 10 / 16) / 2
    per_layer = layer_sparsity(net, x)
    assert list(per_layer) == ["body.1", "body.3"]
    assert per_layer["body.1"] == pytest.approx(11 / 24)
    assert per_layer["body.3"] == pytest.approx(10 / 16)
    for batch_size in (1, 3, 100):  # accumulation across batches
        assert sparsity(net, x, batch_size=batch_size) == pytest.approx(expected)
    ext = extract(net, x, batch_size=3)
    assert sparsity(ext) == pytest.approx(expected)


class ReusedRelu(ImageClassifier):
    """One nn.ReLU module applied twice per forward (as torchvision's BasicBlock does)."""

    def __init__(self):
        super().__init__(in_channels=1)
        self.first = linear(W1)
        self.second = linear([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
        self.relu = nn.ReLU(inplace=True)
        self.body = nn.Identity()
        self.classifier = nn.Linear(2, 2)

    def features(self, x):
        return self.relu(self.second(self.relu(self.first(x))))


def test_reused_relu_counts_one_layer_per_call():
    per_layer = layer_sparsity(ReusedRelu(), torch.tensor(TRAIN_X), batch_size=3)
    assert per_layer == pytest.approx({"relu": 11 / 24, "relu#1": 10 / 16})


class FunctionalRelu(ImageClassifier):
    def __init__(self):
        super().__init__(in_channels=1)
        self.body = linear(W1)
        self.classifier = nn.Linear(3, 2)

    def features(self, x):
        return torch.relu(self.body(x))


def test_functional_relu_has_no_sparsity_but_patterns_work():
    net = FunctionalRelu()
    with pytest.raises(UserError, match="nn.ReLU"):
        sparsity(net, torch.tensor(TRAIN_X))
    p = activation_patterns(net, torch.tensor(TRAIN_X))
    np.testing.assert_array_equal(p.unpack(), bits(TRAIN_PATTERNS))


def test_extract_one_pass_contents_and_mode_restored():
    net = two_layer_net()
    net.train()
    x = torch.tensor(TRAIN_X)
    labels = torch.tensor([0, 0, 0, 1, 1, 0, 0, 0])
    ext = extract(net, ArraySplit(x, labels), batch_size=5)
    assert net.training  # restored
    with torch.no_grad():
        feats = net.features(x)
        preds = net(x).argmax(1)
    torch.testing.assert_close(ext.features, feats)
    assert torch.equal(ext.predictions, preds)
    assert torch.equal(ext.labels, labels)
    assert ext.accuracy == pytest.approx(float((preds == labels).float().mean()))
    np.testing.assert_array_equal(ext.patterns.unpack(), (feats > 0).numpy())
    light = extract(net, x, keep_features=False, track_sparsity=False)
    assert light.features is None and light.layer_zero_counts == {}
    with pytest.raises(UserError, match="labels"):
        _ = light.correct


def test_extract_rejects_models_without_penultimate_split():
    with pytest.raises(UserError, match="classifier"):
        extract(nn.Sequential(nn.Linear(2, 2)), torch.zeros(3, 2))


def test_cosine_similarity_known_values():
    assert cosine_similarity_final_layer(torch.eye(4)) == pytest.approx(0.0, abs=1e-15)
    assert cosine_similarity_final_layer(torch.tensor([[1.0, 2.0]] * 3)) == pytest.approx(1.0)
    # rows (1,0), (0,1), (2,2): pair cosines 0, 1/sqrt2, 1/sqrt2 -> mean sqrt(2)/3.
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    assert cosine_similarity_final_layer(w) == pytest.approx(math.sqrt(2) / 3)
    # opposite rows -> -1; read from a model's classifier.
    net = HandNet([nn.ReLU()], 2, torch.tensor([[1.0, -1.0], [-3.0, 3.0]]))
    assert cosine_similarity_final_layer(net) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="zero"):
        cosine_similarity_final_layer(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_prs_metrics_reads_the_extractions():
    net = two_layer_net()
    train = extract(net, torch.tensor(TRAIN_X), labels=torch.zeros(8, dtype=torch.long))
    test = extract(net, torch.tensor(TEST_X), labels=torch.zeros(4, dtype=torch.long))
    m = prs_metrics(net, train, test)
    assert m["prs_ratio"] == pytest.approx(prs_ratio(train.patterns))
    assert m["inclusion_ratio"] == pytest.approx(inclusion_ratio(train.patterns, test.patterns))
    assert m["sparsity"] == pytest.approx((11 / 24 + 10 / 16) / 2)
    assert m["cosine_similarity"] == pytest.approx(0.0)
    assert set(m) == {
        "prs_ratio",
        "inclusion_ratio",
        "sparsity",
        "cosine_similarity",
        "train_accuracy",
        "test_accuracy",
    }


# --- denseness -------------------------------------------------------------------------


def brute_force_denseness(train, y_train, query, y_query, ks, exclude_self):
    out = {}
    for k in ks:
        total = 0
        for i in range(len(query)):
            d = [float(np.sum((query[i] - train[j]) ** 2)) for j in range(len(train))]
            order = [j for j in np.argsort(d, kind="stable") if not (exclude_self and j == i)]
            total += sum(int(y_train[j] == y_query[i]) for j in order[:k])
        out[k] = total / (len(query) * k)
    return out


def test_denseness_by_hand_1d():
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    y = torch.tensor([0, 0, 1, 1])
    # Self excluded: nearest neighbour always same label; 2 NN: one same, one other; 3 NN: 1/3.
    assert denseness(x, y, ks=(1, 2, 3)) == pytest.approx({1: 1.0, 2: 0.5, 3: 1 / 3})
    # Counting the query itself (explicit queries, exclude_self False) inflates it.
    assert denseness(x, y, x, y, ks=(1, 2)) == pytest.approx({1: 1.0, 2: 1.0})
    with pytest.raises(UserError, match="exceeds"):
        denseness(x, y, ks=(4,))


@pytest.mark.parametrize("block_bytes", [1, 2**20])
def test_denseness_matches_brute_force(block_bytes):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 5)).astype(np.float32)
    y_train = rng.integers(0, 3, size=60)
    train[:20] += 2.0 * y_train[:20, None]  # some structure so values are not all ~1/3
    query = rng.normal(size=(17, 5)).astype(np.float32)
    y_query = rng.integers(0, 3, size=17)
    ks = (1, 3, 10, 25)
    got = denseness(torch.tensor(train), torch.tensor(y_train), ks=ks, block_bytes=block_bytes)
    assert got == pytest.approx(
        brute_force_denseness(train, y_train, train, y_train, ks, True), abs=1e-12
    )
    got_q = denseness(
        torch.tensor(train),
        torch.tensor(y_train),
        torch.tensor(query),
        torch.tensor(y_query),
        ks=ks,
        block_bytes=block_bytes,
    )
    assert got_q == pytest.approx(
        brute_force_denseness(train, y_train, query, y_query, ks, False), abs=1e-12
    )


def test_training_denseness_from_extraction():
    net = one_layer_net()
    # Random inputs: the hand-picked ones have tied distances (neighbour choice arbitrary).
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    labels = (x[:, 0] > 0).long()
    ext = extract(net, x, labels=labels)
    feats = net.features(x).detach().numpy()
    ks = (1, 2, 5)
    assert training_denseness(ext, ks=ks) == pytest.approx(
        brute_force_denseness(feats, labels.numpy(), feats, labels.numpy(), ks, True), abs=1e-12
    )
    with pytest.raises(UserError, match="features"):
        training_denseness(extract(net, x, labels=labels, keep_features=False), ks=ks)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_extract_and_denseness_on_cuda_match_cpu():
    net = two_layer_net()
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    labels = (x[:, 1] > 0).long()
    cpu = extract(net, x, labels=labels)
    gpu = extract(two_layer_net(), x, labels=labels, device="cuda")
    np.testing.assert_array_equal(gpu.patterns.bits, cpu.patterns.bits)
    assert gpu.layer_zero_counts == cpu.layer_zero_counts
    assert denseness(gpu.features, labels, ks=(1, 5), device="cuda") == pytest.approx(
        denseness(cpu.features, labels, ks=(1, 5)), abs=1e-12
    )
