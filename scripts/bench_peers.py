"""Our attacks vs the libraries a researcher would otherwise use, on the same model, points,
eps and batch: torchattacks, IBM ART (adversarial-robustness-toolbox), adv-lib, foolbox, and
the official AutoAttack code (pyautoattack) called directly.

Attacks (L-inf, inputs in [0, 1], one uniform random start where the attack has one):

- FGSM sweep over the 9 eps of paper auc's grid (``data.eps_grid`` of the digits config);
  robust accuracy is reported at ``--eps``;
- PGD-20, step 2.5 eps / 20 (Madry et al. 2018; our default step);
- CW-PGD-20: PGD-20 on the CW margin loss (kappa 50, as the MAIL/GAIRAT ``cwloss``); only
  adv-lib has an L-inf PGD on a margin loss (``loss_function='dl'``, no kappa);
- APGD-CE, 100 iterations, 1 restart (Croce & Hein 2020, "Reliable evaluation ...",
  arXiv:2003.01690);
- AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square 5000), on ``--aa-n`` points.

Ours = ``robustbench_runner.attacks`` through the evaluation engine
(``evaluate.attack_predictions``: best iterate, fooled points leave the batch; APGD and
AutoAttack are the official pyautoattack code behind thin wrappers).

Two models, both trained by this script through our own pipeline
(``python -m robustbench_runner.run``) on the packaged digits: an undefended one
(``scheme=standard``) and a PGD-AT one (``scheme=pgd_at``, fine-tuned from the undefended
weights with ``init_from``, the training PGD-10 at the same eps). Each table row: seconds,
robust accuracy, the peer's time over ours (``> 1``: ours is faster) and whether ours is no
weaker than the strongest peer (robust accuracy no higher, within two binomial standard
errors).

Peers are imported if present; one that is missing is skipped with the reason. They live in
their own environment (torchattacks pins ``requests~=2.25.1``, so it is never a dependency
of the runner)::

    python scripts/bench_peers.py --setup          # creates .venv-bench (peers, --no-deps)
    .venv-bench/bin/python scripts/bench_peers.py [--n 256] [--device cuda] [--csv peers.csv]
    python scripts/bench_peers.py --tiny           # seconds: proves the script runs

``--profile LABEL`` runs our implementation of one attack under cProfile and prints the top
functions (where the time goes when we are slower).

A library call that fails is printed as a FAILED row (and written to the CSV's ``failed``
column); the other libraries still run; no speed-up is printed against a time that was not
measured (ours failed: '-'); the script then exits 1 naming every failure, so
``gpu_check.sh`` fails loudly. ``RBR_BENCH_FAIL=<attack>/<library>`` makes that call fail
(tests of the failure path).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import math
import os
import pstats
import statistics
import subprocess
import sys
import sysconfig
import time
import types
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # .venv-bench sees the main site-packages through a .pth, but not
    sys.path.insert(0, str(REPO))  # the editable install's own .pth: import this checkout directly
BENCH_VENV = REPO / ".venv-bench"
# adv-lib 0.2.8 needs visdom at import (for its optional VisdomLogger callback); visdom ships
# only as an sdist whose setup.py imports pkg_resources, so it is not installed here.
PEER_PACKAGES = ["torchattacks==3.5.1", "adversarial-robustness-toolbox==1.20.1", "adv-lib==0.2.8"]
ATTACKS = ("FGSM sweep", "PGD-20", "CW-PGD-20", "APGD-CE", "AutoAttack")
# printed next to a peer's row: where its "same" attack is not the same computation
CAVEATS = {
    ("AutoAttack", "torchattacks"): "its version='standard' builds APGD, APGD-T and FAB with their default steps=10 "
    "(AutoAttack standard: 100): fewer iterations, not the same attack",
}
FGSM_GRID = [0.0, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]  # conf/dataset/digits.yaml eps_grid


# -- environment --------------------------------------------------------------------------
def setup_bench_venv() -> None:
    """Create .venv-bench: a venv that sees this interpreter's site-packages through a .pth
    file (torch, our package, pyautoattack, foolbox) and holds the peers, installed with
    --no-deps so none of their pins replaces ours."""
    if not BENCH_VENV.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(BENCH_VENV)], check=True)
    site = BENCH_VENV / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    (site / "_rbr_main.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    *PEER_PACKAGES], check=True)  # fmt: skip
    print(f"peers installed in {site}; run: {BENCH_VENV}/bin/python {Path(__file__).relative_to(REPO)}")


def import_peers() -> tuple[dict, dict]:
    """{name: module} of the peers that import, {name: reason} of those that do not."""
    found, missing = {}, {}
    for name, module in (("torchattacks", "torchattacks"), ("ART", "art"), ("adv-lib", "adv_lib"), ("foolbox", "foolbox")):
        try:
            if module == "adv_lib" and "visdom" not in sys.modules:
                try:
                    import visdom  # noqa: F401
                except ImportError:
                    # adv-lib imports visdom only for its optional plotting callback, which no
                    # attack called here uses: an empty module lets it import
                    sys.modules["visdom"] = types.ModuleType("visdom")
                    sys.modules["visdom"].Visdom = object
            found[name] = __import__(module)
            if module == "adv_lib":
                import adv_lib.attacks  # noqa: F401
            if module == "art":
                import art.attacks.evasion  # noqa: F401
                import art.estimators.classification  # noqa: F401
        except Exception as e:  # ImportError, or a peer that breaks at import with our pins
            missing[name] = f"{type(e).__name__}: {e}".splitlines()[0][:150]
            found.pop(name, None)
    return found, missing


# -- models, through our own pipeline -----------------------------------------------------
def train_models(root: Path, args) -> dict[str, torch.nn.Module]:
    """Train the undefended and the PGD-AT model with rbr-run; reuse finished runs."""
    common = [f"output_root={root}", "progress=false", "attacks=none", f"model={args.model}",
              f"data.image_size={args.image_size}", f"data.eps={args.eps}", f"seed={args.seed}"]  # fmt: skip
    if args.limit_train:
        common.append(f"data.limit_train={args.limit_train}")
    runs = {}
    for key, scheme, epochs, extra in (
        ("undefended", "standard", args.epochs, []),
        ("pgd_at", "pgd_at", args.at_epochs, [f"init_from={root / 'runs' / 'undefended'}"]),
    ):
        run_dir = root / "runs" / key
        if not (run_dir / "ckpt" / "last.pt").exists():
            cmd = [sys.executable, "-m", "robustbench_runner.run", *common, f"scheme={scheme}",
                   f"train.epochs={epochs}", f"eval.grid=[{epochs}]", f"run_name={key}", *extra]  # fmt: skip
            print("+", " ".join(cmd[1:]), flush=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
            print(f"  trained {key} in {time.perf_counter() - t0:.0f} s", flush=True)
        runs[key] = load_run_model(run_dir)
    return runs


def load_run_model(run_dir: Path) -> torch.nn.Module:
    from omegaconf import OmegaConf

    import robustbench_runner.config  # noqa: F401  (resolvers)
    from robustbench_runner.build import build_model
    from robustbench_runner.io import load_checkpoint

    cfg = OmegaConf.load(run_dir / "config.yaml")
    dims = {"num_classes": 10, "in_channels": int(cfg.data.channels), "image_size": int(cfg.data.image_size)}
    model = build_model(cfg.model, dims, 0)
    model.load_state_dict(load_checkpoint(run_dir / "ckpt" / "last.pt")["model"])
    return model.eval().requires_grad_(False)


def test_points(image_size: int):
    from robustbench_runner.data.digits import load_digits

    test = load_digits(image_size=image_size, channels=1).test
    return test.x, test.y


# -- the attacks, per library --------------------------------------------------------------
def batched_preds(fn, x, y, bs):
    """Predictions of ``fn(xb, yb) -> x_adv`` over batches (adversarial outputs judged by the
    same model call for every library)."""
    return torch.cat([fn(x[i : i + bs], y[i : i + bs]) for i in range(0, len(x), bs)])


def ours(model, attack_name, x, y, bs, eps, seed, **kw):
    from robustbench_runner.attacks import create_attack
    from robustbench_runner.evaluate import attack_predictions

    attack = create_attack(attack_name, model, eps=eps, seed=seed, **kw)
    return attack_predictions(model, attack, x, y, y.clone(), batch_size=bs)


def build_suite(model, peers, args, device):
    """{attack label: {library: callable() -> {eps: predictions}}} and skip reasons."""
    eps, bs, seed = args.eps, args.batch, args.seed
    alpha = 2.5 * eps / 20
    predict = lambda xa: model(xa).argmax(1)  # noqa: E731
    table: dict[str, dict] = {"FGSM sweep": {}, "PGD-20": {}, "CW-PGD-20": {}, "APGD-CE": {}, "AutoAttack": {}}
    skips: dict[tuple[str, str], str] = {}

    table["FGSM sweep"]["ours"] = lambda x, y: ours(model, "fgsm", x, y, bs, FGSM_GRID, seed)
    table["PGD-20"]["ours"] = lambda x, y: {eps: ours(model, "pgd", x, y, bs, eps, seed, steps=20)[eps]}
    table["CW-PGD-20"]["ours"] = lambda x, y: {eps: ours(model, "pgd", x, y, bs, eps, seed, steps=20, loss="cw", kappa=50.0)[eps]}
    table["APGD-CE"]["ours"] = lambda x, y: {eps: ours(model, "apgd", x, y, bs, eps, seed)[eps]}
    table["AutoAttack"]["ours"] = lambda x, y: {eps: ours(model, "autoattack", x, y, bs, eps, seed)[eps]}

    # the official code called directly, as its README shows
    from pyautoattack import AutoAttack
    from pyautoattack.autopgd_base import APGDAttack

    def pa_apgd(x, y):
        atk = APGDAttack(model, norm="Linf", eps=eps, n_iter=100, n_restarts=1, loss="ce", seed=seed, device=device)
        return {eps: batched_preds(lambda a, b: predict(atk.perturb(a, b)), x, y, bs)}

    def pa_aa(x, y):
        adv = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, device=device)
        adv.verbose = False
        with contextlib.redirect_stdout(io.StringIO()):
            return {eps: adv.run_standard_evaluation(x, y, batch_size=bs)[1]}

    table["APGD-CE"]["pyautoattack"] = pa_apgd
    table["AutoAttack"]["pyautoattack"] = pa_aa

    if "torchattacks" in peers:
        ta = peers["torchattacks"]
        table["FGSM sweep"]["torchattacks"] = lambda x, y: {
            e: batched_preds(lambda a, b, e=e: predict(ta.FGSM(model, eps=e)(a, b)), x, y, bs) for e in FGSM_GRID
        }
        table["PGD-20"]["torchattacks"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(ta.PGD(model, eps=eps, alpha=alpha, steps=20, random_start=True)(a, b)), x, y, bs)
        }
        table["APGD-CE"]["torchattacks"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(ta.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed)(a, b)), x, y, bs)
        }
        table["AutoAttack"]["torchattacks"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(ta.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=seed)(a, b)), x, y, bs)
        }
        skips[("CW-PGD-20", "torchattacks")] = "no L-inf PGD on a margin loss (its CW is the L2 optimization attack)"

    if "ART" in peers:
        from art.attacks.evasion import (
            AutoProjectedGradientDescent,
            FastGradientMethod,
            ProjectedGradientDescentPyTorch,
        )
        from art.estimators.classification import PyTorchClassifier

        clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(args.shape),
                                nb_classes=10, clip_values=(0.0, 1.0), device_type="gpu" if device.type == "cuda" else "cpu")  # fmt: skip

        def art_run(make):
            def run(x, y):
                xn, yn = x.cpu().numpy(), y.cpu().numpy()
                return torch.from_numpy(make().generate(x=xn, y=yn)).to(device)
            return run

        def art_fgsm(x, y):
            return {e: predict(art_run(lambda e=e: FastGradientMethod(clf, norm=np.inf, eps=e, batch_size=bs))(x, y)) for e in FGSM_GRID}

        table["FGSM sweep"]["ART"] = art_fgsm
        table["PGD-20"]["ART"] = lambda x, y: {eps: predict(art_run(lambda: ProjectedGradientDescentPyTorch(
            clf, norm=np.inf, eps=eps, eps_step=alpha, max_iter=20, num_random_init=1, batch_size=bs, verbose=False))(x, y))}
        table["APGD-CE"]["ART"] = lambda x, y: {eps: predict(art_run(lambda: AutoProjectedGradientDescent(
            clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=100, nb_random_init=1, batch_size=bs,
            loss_type="cross_entropy", verbose=False))(x, y))}
        skips[("CW-PGD-20", "ART")] = "no margin-loss option in its L-inf PGD"
        skips[("AutoAttack", "ART")] = "ART's AutoAttack is another attack set (APGD-CE/DLR x5 restarts, DeepFool, Square x5)"

    if "adv-lib" in peers:
        from adv_lib.attacks import apgd, pgd_linf

        # pgd_linf judges each iterate before its step, never the last one: steps=1 (an FGSM
        # step) returns the clean input, so adv-lib has no FGSM to time
        skips[("FGSM sweep", "adv-lib")] = "no FGSM (pgd_linf(steps=1) judges only the start point)"
        table["PGD-20"]["adv-lib"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(pgd_linf(model, a, b, ε=eps, steps=20, absolute_step_size=alpha)), x, y, bs)
        }
        table["CW-PGD-20"]["adv-lib"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(pgd_linf(model, a, b, ε=eps, steps=20, absolute_step_size=alpha, loss_function="dl")), x, y, bs)
        }
        table["APGD-CE"]["adv-lib"] = lambda x, y: {
            eps: batched_preds(lambda a, b: predict(apgd(model, a, b, eps=eps, norm=float("inf"), n_iter=100, loss_function="ce")), x, y, bs)
        }
        skips[("AutoAttack", "adv-lib")] = "has APGD/APGD-T/FAB pieces but no AutoAttack"

    if "foolbox" in peers:
        fb = peers["foolbox"]
        fmodel = fb.PyTorchModel(model, bounds=(0, 1), device=device)

        def fb_run(attack, epsilons):
            def run(x, y):
                parts = [attack(fmodel, x[i : i + bs], y[i : i + bs], epsilons=epsilons)[1] for i in range(0, len(x), bs)]
                return {e: torch.cat([predict(p[k]) for p in parts]) for k, e in enumerate(epsilons)}
            return run

        table["FGSM sweep"]["foolbox"] = fb_run(fb.attacks.FGSM(), FGSM_GRID)
        table["PGD-20"]["foolbox"] = fb_run(fb.attacks.LinfPGD(abs_stepsize=alpha, steps=20, random_start=True), [eps])
        skips[("CW-PGD-20", "foolbox")] = "no margin-loss option in its L-inf PGD"
        skips[("APGD-CE", "foolbox")] = "no APGD"
        skips[("AutoAttack", "foolbox")] = "no AutoAttack"
    return table, skips


# -- running and reporting -------------------------------------------------------------------
def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def noise(p: float, n: int) -> float:
    """Two binomial standard errors of a robust accuracy p on n points, plus one point."""
    return 2 * math.sqrt(max(p * (1 - p), 0.25 / n) / n) + 1 / n


def injected(attack: str, lib: str) -> None:
    """``RBR_BENCH_FAIL=<attack>/<library>``: make that call fail (tests of the failure path)."""
    if os.environ.get("RBR_BENCH_FAIL") == f"{attack}/{lib}":
        raise RuntimeError("injected failure (RBR_BENCH_FAIL)")


def ratio(sec: float, t_ours: float) -> str:
    """The library's time over ours, or '-' when either was not measured."""
    return f"{sec / t_ours:.2f}x" if math.isfinite(sec) and math.isfinite(t_ours) and t_ours > 0 else "-"


def bench_model(label, model, x, y, peers, args, device, writer, failures=None):
    """Benchmark one model; appends ``(model, attack, library, reason)`` to ``failures`` for
    every call that failed."""
    failures = [] if failures is None else failures
    table, skips = build_suite(model, peers, args, device)
    print(f"\n== {label}: {len(x)} clean-correct test points ({args.aa_n} for AutoAttack), eps {args.eps:g}, "
          f"batch {args.batch}, device {device}, seconds: median of {args.repeat} round(s)", flush=True)  # fmt: skip
    print(f"{'attack':<12}{'library':<14}{'seconds':>9}{'robust acc':>12}{'x ours':>8}  note")
    verdicts = []
    for attack, libs in table.items():
        if attack not in args.attacks.split(","):
            continue
        xa, ya = (x[: args.aa_n], y[: args.aa_n]) if attack == "AutoAttack" else (x, y)
        results = {}
        if attack != "AutoAttack":  # one untimed call per library first (lazy init, allocator, caches),
            for lib, fn in libs.items():  # so no library pays first-call costs inside its timing
                with contextlib.suppress(Exception), torch.no_grad() if lib == "ours" else contextlib.nullcontext():
                    fn(xa[:4], ya[:4])
        # --repeat rounds, each library once per round, the order rotated from round to round
        # (no library always first); a library's seconds are the median of its rounds
        times: dict[str, list[float]] = {}
        failed: set[str] = set()
        names = list(libs)
        for rnd in range(args.repeat):
            for lib in names[rnd % len(names) :] + names[: rnd % len(names)]:
                if lib in failed:
                    continue
                torch.manual_seed(args.seed)
                try:
                    injected(attack, lib)
                    with torch.no_grad() if lib == "ours" else contextlib.nullcontext():  # the engine's own context
                        sec, preds = timed(lambda fn=libs[lib], xa=xa, ya=ya: fn(xa, ya), device)
                except Exception as e:  # a library failing on this model: report, go on, exit 1 at the end
                    reason = f"{type(e).__name__}: {' '.join(str(e).split())[:150]}"
                    print(f"{attack:<12}{lib:<14}{'-':>9}{'-':>12}{'-':>8}  FAILED {reason}", flush=True)
                    writer.writerow([label, attack, lib, len(ya), "", "", "", "", reason])
                    failures.append((label, attack, lib, reason))
                    failed.add(lib)
                    continue
                times.setdefault(lib, []).append(sec)
                if lib not in results:
                    results[lib] = (sec, (preds[args.eps].to(ya.device) == ya).float().mean().item())
        results = {lib: (statistics.median(times[lib]), acc) for lib, (_, acc) in results.items()}
        measured = "ours" in results
        t_ours, a_ours = results.get("ours", (float("nan"), float("nan")))
        peer_accs = [a for lib, (_, a) in results.items() if lib not in ("ours", "pyautoattack")]
        strongest = min(peer_accs, default=float("nan"))
        no_weaker = not peer_accs or a_ours <= strongest + noise(strongest, len(ya))
        fastest = min((s for lib, (s, _) in results.items() if lib not in ("ours", "pyautoattack")), default=float("nan"))
        for lib, (sec, accuracy) in results.items():
            note = ""
            if lib == "ours":
                note = (f"strongest peer {strongest:.3f}: ours no weaker={no_weaker}; "
                        f"fastest peer {fastest:.2f} s: ours {'no slower' if t_ours <= fastest else 'SLOWER'}") if peer_accs else ""
            elif not measured:
                note = "no speed-up: ours failed"
            note = note or CAVEATS.get((attack, lib), "")
            print(f"{attack:<12}{lib:<14}{sec:>9.2f}{accuracy:>12.3f}{ratio(sec, t_ours):>8}  {note}", flush=True)
            vs_ours = f"{sec / t_ours:.3f}" if measured else ""  # never a number that was not measured
            writer.writerow([label, attack, lib, len(ya), f"{sec:.4f}", f"{accuracy:.4f}", vs_ours, "", ""])
        for lib in ["torchattacks", "ART", "adv-lib", "foolbox"]:
            if (attack, lib) in skips:
                print(f"{attack:<12}{lib:<14}{'-':>9}{'-':>12}{'-':>8}  skipped: {skips[(attack, lib)]}")
                writer.writerow([label, attack, lib, len(ya), "", "", "", skips[(attack, lib)], ""])
        if measured:
            verdicts.append((attack, no_weaker, t_ours <= fastest if peer_accs else True))
    return verdicts


def profile_ours(model, x, y, args, label):
    """cProfile of our implementation of one attack: the top 15 functions by own time."""
    kw = {"PGD-20": ("pgd", {"steps": 20}), "CW-PGD-20": ("pgd", {"steps": 20, "loss": "cw", "kappa": 50.0}),
          "APGD-CE": ("apgd", {}), "FGSM sweep": ("fgsm", {}), "AutoAttack": ("autoattack", {})}[label]  # fmt: skip
    eps = FGSM_GRID if label == "FGSM sweep" else args.eps
    prof = cProfile.Profile()
    prof.enable()
    ours(model, kw[0], x, y, args.batch, eps, args.seed, **kw[1])
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    print(f"\n-- cProfile of ours, {label}:\n" + "\n".join(buf.getvalue().splitlines()[:40]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setup", action="store_true", help="create .venv-bench with the peers and exit")
    p.add_argument("--tiny", action="store_true", help="seconds-long run (tests): few points, eps 0.3, 1 epoch")
    p.add_argument("--n", type=int, default=256, help="clean-correct test points per model")
    p.add_argument("--aa-n", type=int, default=64, help="points for AutoAttack")
    p.add_argument("--eps", type=float, default=0.1, help="the digits config's eps (data.eps)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--model", default="cnn6")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=8, help="undefended training epochs")
    p.add_argument("--at-epochs", type=int, default=4, help="PGD-AT fine-tuning epochs")
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--models", default="undefended,pgd_at")
    p.add_argument("--attacks", default=",".join(ATTACKS), help="comma list of attack labels to run")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="timed rounds per attack (order rotated; median seconds)")
    p.add_argument("--root", default=str(REPO / "outputs" / "bench_peers"), help="where the two training runs go")
    p.add_argument("--csv", default=None)
    p.add_argument("--profile", default=None, help="attack label to profile (ours), e.g. APGD-CE")
    args = p.parse_args(argv)
    if args.setup:
        setup_bench_venv()
        return 0
    if args.tiny:
        args.n, args.aa_n, args.eps, args.batch = 12, 6, 0.3, 12
        args.model, args.image_size, args.epochs, args.at_epochs, args.limit_train = "lenet", 16, 4, 1, 300
        # AutoAttack's cascade runs in full on any point still robust (tens of seconds even on a
        # few points): the tiny run leaves it out
        args.attacks = ",".join(a for a in ATTACKS if a != "AutoAttack")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peers, missing = import_peers()
    for name, why in missing.items():
        print(f"peer {name} skipped: not importable here ({why}); `python {Path(__file__).name} --setup` "
              f"then run with {BENCH_VENV.name}/bin/python")  # fmt: skip
    print("peers: " + ", ".join(f"{k} {getattr(v, '__version__', '?')}" for k, v in peers.items()) + f"; torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}", flush=True)  # fmt: skip

    models = train_models(Path(args.root), args)
    x_all, y_all = test_points(args.image_size)
    args.shape = tuple(x_all.shape[1:])
    out = open(args.csv, "w", newline="") if args.csv else io.StringIO()  # noqa: SIM115
    writer = csv.writer(out)
    writer.writerow(["model", "attack", "library", "n", "seconds", "robust_acc", "time_vs_ours", "skipped", "failed"])
    summary, failures = [], []
    for label in args.models.split(","):
        model = models[label].to(device)
        with torch.no_grad():
            correct = (model(x_all.to(device)).argmax(1).cpu() == y_all).nonzero().squeeze(1)
        print(f"{label}: clean accuracy {len(correct) / len(y_all):.3f} on {len(y_all)} test points")
        idx = correct[: args.n]
        x, y = x_all[idx].to(device), y_all[idx].to(device)
        summary += [(label, *v) for v in bench_model(label, model, x, y, peers, args, device, writer, failures)]
        if args.profile:
            profile_ours(model, x, y, args, args.profile)
    out.close()
    print("\nsummary (ours vs the peers with the same attack):")
    for label, attack, no_weaker, no_slower in summary:
        print(f"  {label:<11}{attack:<12} no weaker: {no_weaker}   no slower than the fastest peer: {no_slower}")
    if args.csv:
        print(f"wrote {args.csv}")
    return report_failures(failures)


def report_failures(failures: list[tuple[str, str, str, str]]) -> int:
    """Name every failed call on stderr; 1 when there was any (the GPU check fails), else 0."""
    for label, attack, lib, reason in failures:
        print(f"bench_peers: FAILED {label} / {attack} / {lib}: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
