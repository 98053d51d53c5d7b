"""Paper vir's white-box attack suite (``robustbench_runner/papers/vir/conf/attacks/vir.yaml``: FGSM, PGD-100, CW-20,
FMN-100, AutoAttack standard, MDE) on one checkpoint: our survivor handling vs running each
attack on all points.

- ours: the evaluation engine (``evaluate.attack_predictions``): only clean-correct points
  are attacked; PGD/CW keep the first iterate that fools a point and drop it from the batch;
  AutoAttack and MDE are cascades (each stage on the points still robust);
- all points: every attack's ``perturb`` on every point (clean-misclassified ones too) to the
  last iterate; AutoAttack as ``run_standard_evaluation_individual`` (each of its four
  attacks on all points) and MDE as each of its four components on all points.

Per attack: seconds of both, robust accuracy of both, the time ratio (all points s / ours s),
and the images that went through the model in each (every forward call, backward passes
included in those calls' forwards: the work, free of this machine's timing noise) with
their ratio. Ours draws random starts for the clean-correct points only, so the two runs start PGD/CW
from different points and their robust accuracies agree within noise (from the same start,
best iterate is never higher than last iterate: tests/attacks/test_attacks.py). The model is a run directory's
``ckpt/last.pt`` (``--run``; default: the PGD-AT run of ``scripts/bench_peers.py``, trained
through the pipeline if missing).

    python scripts/bench_suite.py [--run outputs/bench_peers/runs/pgd_at] [--n 64]
    python scripts/bench_suite.py --tiny     # smoke-size attacks, seconds: proves it runs
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

import robustbench_runner.config  # noqa: F401  (resolvers)
from robustbench_runner import bundles
from robustbench_runner.build import build_attacks
from robustbench_runner.evaluate import attack_predictions, frozen_eval
from robustbench_runner.paths import conf_dir

REPO = Path(__file__).resolve().parents[1]
bundles.attach()  # attacks=vir is paper vir's suite, in its bundle's conf/
# --tiny: the suite's shape with a few iterations per attack (the smoke-scale idea)
TINY = ["++attacks.pgd100.steps=3", "++attacks.cw.steps=3", "++attacks.fmn.steps=3", "++attacks.aa.n_iter=2",
        "++attacks.aa.n_target_classes=1", "++attacks.aa.fab_n_iter=2", "++attacks.aa.n_queries=5",
        "++attacks.mde.apgd_n_iter=2", "++attacks.mde.md_steps=3", "++attacks.mde.md_change_point=1",
        "++attacks.mde.n_target_classes=1", "++attacks.mde.fab_n_iter=2"]  # fmt: skip


def peers_module():
    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "scripts" / "bench_peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def suite(model, eps: float, tiny: bool):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose("config", overrides=["attacks=vir", f"data.eps={eps}", *(TINY if tiny else [])])
    return build_attacks(cfg.attacks, model)


def all_points(attack, x, y, bs):
    """Predictions when ``attack`` runs on every point to its last iterate."""
    eps = attack.eps_list[0]
    if type(attack).__name__ == "AutoAttackStandard":
        from pyautoattack import AutoAttack

        adv = AutoAttack(attack.model, norm="Linf", eps=eps, version="standard", seed=attack.seed, device=x.device)
        attack._shrink(adv)
        adv.verbose = False
        with contextlib.redirect_stdout(io.StringIO()):
            out = adv.run_standard_evaluation_individual(x, y, batch_size=bs)  # {attack name: x_adv}, every point
        robust = torch.ones_like(y, dtype=torch.bool)
        preds = y.clone()
        for x_adv in out.values():  # pyautoattack 0.2.0 gives (x_adv, y_adv) per attack
            p = x_adv[1].to(y.device) if isinstance(x_adv, tuple) else batched_predict(attack.model, x_adv, bs)
            hit = robust & (p != y)
            preds[hit], robust = p[hit], robust & ~hit
        return {eps: preds}
    parts = getattr(attack, "components", [attack])
    robust, preds = torch.ones_like(y, dtype=torch.bool), y.clone()
    for part in parts:
        part.reset_rng(x.device)
        p = torch.cat([part._predict(part.perturb(x[i : i + bs], y[i : i + bs], eps)) for i in range(0, len(x), bs)])
        hit = robust & (p != y)
        preds[hit], robust = p[hit], robust & ~hit
    return {eps: preds}


@torch.no_grad()
def batched_predict(model, x, bs):
    return torch.cat([model(x[i : i + bs]).argmax(1) for i in range(0, len(x), bs)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default=None, help="run directory whose ckpt/last.pt is attacked")
    p.add_argument("--n", type=int, default=64, help="test points (clean-correct or not: all are passed)")
    p.add_argument("--eps", type=float, default=8 / 255,
                   help="paper vir's eps (8/255), which its absolute step sizes (1/255) are set for")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=1, help="timed rounds per attack (orders alternating; median seconds)")
    p.add_argument("--tiny", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    peers = peers_module()
    if args.run is None:  # the PGD-AT model of bench_peers (trained if missing)
        pargs = argparse.Namespace(
            model="lenet" if args.tiny else "cnn6", image_size=16 if args.tiny else 32, eps=0.1, seed=0,
            limit_train=300 if args.tiny else None, epochs=4 if args.tiny else 8, at_epochs=1 if args.tiny else 4)  # fmt: skip
        root = REPO / "outputs" / ("bench_peers_tiny" if args.tiny else "bench_peers")
        peers.train_models(root, pargs)
        args.run = str(root / "runs" / "pgd_at")
    model = peers.load_run_model(Path(args.run))
    cfg_size = int(model_image_size(Path(args.run)))
    x_all, y_all = peers.test_points(cfg_size)
    x, y = x_all[: args.n], y_all[: args.n]
    attacks = suite(model, args.eps, args.tiny)
    print(f"paper vir suite on {args.run} ckpt/last.pt: {len(x)} test points, eps {args.eps:g}, batch {args.batch}, "
          f"threads {torch.get_num_threads()}, seconds: median of {args.repeat} round(s){' (tiny: smoke-size attacks)' if args.tiny else ''}", flush=True)  # fmt: skip
    print(f"{'attack':<10}{'ours s':>9}{'all-points s':>14}{'ratio':>8}{'robust ours':>13}{'robust all':>12}"
          f"{'rows ours':>12}{'rows all':>11}{'ratio':>8}")  # fmt: skip
    tot_o = tot_a = 0.0
    tot_ro = tot_ra = 0
    rows: list[int] = []  # the batch size of every forward call: the work, free of timing noise
    model.register_forward_hook(lambda _m, inp, _out: rows.append(inp[0].shape[0]))
    with frozen_eval(model):
        t0 = time.perf_counter()
        clean = batched_predict(model, x, args.batch)
        t_clean = time.perf_counter() - t0
        tot_o += t_clean
        for attack in attacks.values():
            eps = attack.eps_list[0] if len(attack.eps_list) == 1 else args.eps
            # --repeat rounds, the two orders alternating; seconds are the medians
            t_os, t_as = [], []
            for rnd in range(args.repeat):
                for which in ("ours", "all") if rnd % 2 == 0 else ("all", "ours"):
                    rows.clear()
                    if which == "ours":
                        t0 = time.perf_counter()
                        ours = attack_predictions(model, attack, x, y, clean, batch_size=args.batch)
                        t_os.append(time.perf_counter() - t0)
                        r_ours = sum(rows)
                    else:
                        attack.reset_rng(x.device)
                        torch.manual_seed(0)
                        t0 = time.perf_counter()
                        naive = all_points(attack, x, y, args.batch)
                        t_as.append(time.perf_counter() - t0)
                        r_all = sum(rows)
            t_o, t_a = statistics.median(t_os), statistics.median(t_as)
            tot_o, tot_a = tot_o + t_o, tot_a + t_a
            tot_ro, tot_ra = tot_ro + r_ours, tot_ra + r_all
            r_o = (ours[eps] == y).float().mean().item()
            r_a = (naive[attack.eps_list[0]] == y).float().mean().item()
            print(f"{attack.name:<10}{t_o:>9.2f}{t_a:>14.2f}{t_a / t_o:>7.2f}x{r_o:>13.3f}{r_a:>12.3f}"
                  f"{r_ours:>12,}{r_all:>11,}{r_all / max(r_ours, 1):>7.2f}x", flush=True)  # fmt: skip
    print(f"{'suite':<10}{tot_o:>9.2f}{tot_a:>14.2f}{tot_a / tot_o:>7.2f}x{'':>25}{tot_ro:>12,}{tot_ra:>11,}{tot_ra / max(tot_ro, 1):>7.2f}x"
          f"   (ours includes {t_clean:.2f} s of clean predictions; rows: images through the model, all forward calls)")  # fmt: skip
    return 0


def model_image_size(run_dir: Path) -> int:
    from omegaconf import OmegaConf

    return OmegaConf.load(run_dir / "config.yaml").data.image_size


if __name__ == "__main__":
    sys.exit(main())
