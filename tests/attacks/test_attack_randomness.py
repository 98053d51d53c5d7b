"""Device- and batch-independent attack randomness (robustbench_runner/attacks/randomness.py,
library_rng.py): every random number an evaluation attack draws for a point is a function of
(seed, attack, the point, which draw), drawn on a CPU generator; so the evaluation engine
gives the same predictions for any batch size and after an out-of-memory retry."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from robustbench_runner.attacks import create_attack
from robustbench_runner.attacks.library_rng import PointKeyedAPGD, PointKeyedAPGDT, PointKeyedSquare
from robustbench_runner.attacks.randomness import PointRandom, point_keys, unpack_signs
from robustbench_runner.evaluate import attack_predictions

EPS = 0.12
# every attack that draws random numbers, with cheap settings (the defaults are paper-scale)
RANDOM_ATTACKS = {
    "pgd": {"steps": 8},
    "pgd-restarts-last": {"steps": 5, "restarts": 2, "iterate": "last"},
    "pgd-normal-start": {"steps": 5, "start": "normal", "clamp_start": False, "loss": "cw"},
    "md": {"steps": 10, "change_point": 4},
    "md_mt": {"steps": 8, "change_point": 3, "n_target_classes": 2},
    "spsa": {"iterations": 6, "samples": 16, "lr": 0.03, "batch_size": 64},
    "apgd": {"n_iter": 8, "n_restarts": 2},
    "apgd_t": {"n_iter": 5, "n_target_classes": 2},
    "square": {"n_queries": 60},
    "autoattack": {"n_iter": 4, "n_target_classes": 2, "fab_n_iter": 4, "n_queries": 40},
    "mde": {"apgd_n_iter": 5, "md_steps": 8, "md_change_point": 3, "n_target_classes": 2, "fab_n_iter": 4},
}


@pytest.fixture(scope="module")
def tiny():
    """An MLP on 8x8 digits trained for a second, and 24 held-out points (some clean errors)."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).div(16).unsqueeze(1)
    y = torch.tensor(d.target)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(60):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[:1000]), y[:1000]).backward()
            opt.step()
    model.eval().requires_grad_(False)
    return model, x[1200:1224], y[1200:1224]


def build(key, model):
    name = key.split("-")[0]
    return create_attack(name, model, eps=EPS, seed=5, **RANDOM_ATTACKS[key])


class OOMAbove(nn.Module):
    """The model, raising CUDA's out-of-memory error for batches above ``rows`` until it has
    raised ``times`` times (a simulated OOM that the engine's retry gets past)."""

    def __init__(self, model, rows: int, times: int):
        super().__init__()
        self.model, self.rows, self.times, self.raised = model, rows, times, 0

    def forward(self, x):
        if len(x) > self.rows and self.raised < self.times:
            self.raised += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.model(x)


@pytest.mark.parametrize("key", sorted(RANDOM_ATTACKS))
def test_same_predictions_for_three_batch_sizes_and_after_an_oom_retry(tiny, key):
    model, x, y = tiny
    clean = model(x).argmax(1)
    runs = {bs: attack_predictions(model, build(key, model), x, y, clean, batch_size=bs)[EPS] for bs in (24, 7, 5)}
    assert 0 < int((runs[24] != y).sum()) < len(y), "the attack fools some points and not others"
    assert torch.equal(runs[24], runs[7]) and torch.equal(runs[24], runs[5])
    flaky = OOMAbove(model, rows=9, times=1)  # the first batch of 24 runs out of memory once
    after_oom = attack_predictions(flaky, build(key, flaky), x, y, clean, batch_size=24)[EPS]
    assert flaky.raised == 1
    assert torch.equal(after_oom, runs[24])


def test_spsa_halves_its_query_batch_on_out_of_memory_and_gets_the_same_answer(tiny, capsys):
    """SPSA stacks the probes of many points into forward passes of up to ``batch_size`` rows;
    on out-of-memory it halves them (down to what fits) and redoes the estimate: the
    per-point directions make the answer that of an unconstrained run."""
    model, x, y = tiny

    class OOMOver(nn.Module):
        def forward(self, inp):
            if len(inp) > 40:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return model(inp)

    kw = {"eps": EPS, "seed": 5, "iterations": 4, "samples": 16, "lr": 0.03, "batch_size": 256}
    free = create_attack("spsa", model, **kw).predictions(x[:8], y[:8])[EPS]
    capsys.readouterr()
    tight = create_attack("spsa", OOMOver(), **kw)
    got = tight.predictions(x[:8], y[:8])[EPS]
    assert torch.equal(got, free)
    assert tight._rows == 32 and tight.batch_size == 256  # 256 -> 128 -> 64 -> 32 rows; the config's value kept
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and "out of memory with 256 query rows per forward pass; retrying with 128" in lines[0]


def test_other_seed_other_starts_and_per_point_starts_do_not_move_with_the_batch(tiny):
    model, x, y = tiny
    a, b = (create_attack("pgd", model, eps=EPS, seed=s) for s in (5, 6))
    start = a._start(x, EPS, y)
    assert not torch.equal(start, b._start(x, EPS, y))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a._start(x[perm], EPS, y[perm]), start[perm])  # the start follows the point
    assert torch.equal(a._start(x[:3], EPS, y[:3]), start[:3])
    assert not torch.equal(a._start(x, EPS, y, restart=1), start)  # another restart, another draw


def test_point_keys_follow_content_not_position_layout_or_label_dtype():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 4, 4, generator=g)
    y = torch.tensor([0, 1, 2, 1, 0])
    keys = point_keys(x, y)
    assert len(set(keys.tolist())) == 5 and keys.dtype == torch.int64 and (keys >= 0).all()
    assert torch.equal(point_keys(x.contiguous(memory_format=torch.channels_last), y), keys)
    assert torch.equal(point_keys(x[[4, 0]], y[[4, 0]]), keys[[4, 0]])
    other = y.clone()
    other[0] = 9
    assert point_keys(x, other)[0] != keys[0] and torch.equal(point_keys(x, other)[1:], keys[1:])
    nudged = x.clone()
    nudged[2, 0, 0, 0] = torch.nextafter(nudged[2, 0, 0, 0], torch.tensor(2.0))
    assert point_keys(nudged, y)[2] != keys[2]  # one ulp of one pixel is another point


def test_packed_signs_are_the_drawn_bits():
    keys = torch.tensor([3, 11])
    packed = PointRandom(0, "t").sign_bits(keys, 20, 1, 2)
    assert packed.shape == (2, 3) and packed.dtype == torch.uint8
    signs = unpack_signs(packed, 20)
    for r in range(2):
        bits = [(int(packed[r, i // 8]) >> (i % 8)) & 1 for i in range(20)]
        assert signs[r].tolist() == [1.0 if b else -1.0 for b in bits]
    assert torch.equal(PointRandom(0, "t").sign_bits(keys, 20, 1, 2), packed)
    assert not torch.equal(PointRandom(0, "t").sign_bits(keys, 20, 1, 3), packed)
    assert 0.3 < (unpack_signs(PointRandom(0, "t").sign_bits(keys, 4000, 0), 4000) > 0).float().mean() < 0.7


def test_training_attacks_keep_the_sequential_cpu_stream(tiny):
    """Schemes switch their attack to ``stream``: the start is the next draw of one CPU
    generator seeded with the attack's seed (what training always drew), batch after batch."""
    model, x, y = tiny
    pgd = create_attack("pgd", model, eps=EPS, seed=5, steps=1)
    pgd.use_stream()
    gen = torch.Generator().manual_seed(5)
    for part in (x[:10], x[10:]):
        expected = (part + EPS * (torch.rand(part.shape, generator=gen) * 2 - 1)).clamp(0, 1)
        assert torch.equal(pgd._start(part, EPS), torch.max(torch.min(expected, part + EPS), part - EPS).clamp(0, 1))


# -- the official code: only the random source changes ----------------------------------------


def _global_uniform(self, x, y, *counters, row_shape=None):
    """What the library draws instead: the next numbers of the global RNG."""
    shape = tuple(x.shape[1:]) if row_shape is None else tuple(row_shape)
    return torch.rand((len(x), *shape)).to(x.device)


@pytest.mark.parametrize("cls", [PointKeyedAPGD, PointKeyedAPGDT])
def test_keyed_apgd_is_the_library_with_another_start(tiny, cls, monkeypatch):
    """With its per-point uniform replaced by the library's own draw (the global RNG right
    after the library reseeds it), the keyed APGD / APGD-T gives exactly the library's output:
    the start is the only thing we change."""
    model, x, y = tiny
    base = next(c for c in cls.__mro__ if c.__module__.startswith("pyautoattack"))  # the library class
    kw = {"n_iter": 6, "norm": "Linf", "eps": EPS, "seed": 3, "device": "cpu"}
    if cls is PointKeyedAPGDT:
        kw["n_target_classes"] = 1  # one single run: the library draws once
    with torch.random.fork_rng():
        direct = base(model, **kw).perturb(x, y)
        keyed = cls(model, **kw).rbr_configure(3, "t").perturb(x, y)
        monkeypatch.setattr(cls, "rbr_point_uniform", _global_uniform)
        emulated = cls(model, **kw).rbr_configure(3, "t").perturb(x, y)
    assert torch.equal(emulated, direct)
    assert not torch.equal(keyed, direct)


def test_keyed_square_is_the_library_with_another_random_source(tiny, monkeypatch):
    from pyautoattack.square import SquareAttack

    from robustbench_runner.attacks.blackbox import QueryModel

    model, x, y = tiny
    kw = {"norm": "Linf", "n_queries": 40, "eps": EPS, "p_init": 0.8, "seed": 2, "device": "cpu"}
    with torch.random.fork_rng():
        direct = SquareAttack(QueryModel(model), **kw).perturb(x, y)
        monkeypatch.setattr(PointKeyedSquare, "rbr_point_uniform", _global_uniform)
        monkeypatch.setattr(PointKeyedSquare, "rbr_shared_generator", lambda self, restart: None)
        emulated = PointKeyedSquare(QueryModel(model), **kw).rbr_configure(2, "t").perturb(x, y)
    assert torch.equal(emulated, direct)
