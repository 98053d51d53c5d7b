"""``rbr-samplerob prepare | neighbors | select-best`` (paper samplerob).

    # R within x and t of MNIST at 28x28, subsets named as in paper samplerob (table 10)
    rbr-samplerob prepare --out outputs/sweeps/samplerob_paper \\
        --like mnist --scale paper -- dataset=mnist data.image_size=28 data.root=data
    # table 5: 1-NN of each training subset on each test subset
    rbr-samplerob neighbors knn \\
        --study outputs/sweeps/samplerob_paper/cifar10-robustness --out outputs/sweeps/samplerob_paper --k 1
    # tables 8-9: random forests, 1..9 trees, MAE and MSE, 25 seeds
    rbr-samplerob neighbors rf --study .../onp-robustness --out ... \\
        --trees 1-9 --criteria mae,mse --seeds 0-24
    # ResNet-56: lowest-loss epoch of the first step -> ckpt/best_t_loss.pt
    rbr-samplerob select-best outputs/sweeps/samplerob_paper

Arguments after ``--`` of ``prepare`` are rbr-run overrides that choose the dataset. Errors
the user can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from ...errors import UserError

PROG = "rbr-samplerob"


def int_list(text: str) -> list[int]:
    """``"1-15"``, ``"0,2,5"`` or a mix (``"1-3,7"``) -> sorted unique integers."""
    out: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of integers like 1-15 or 0,1,2"
        ) from None
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return sorted(out)


def name_list(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    prep = sub.add_parser(
        "prepare", help="sample robustness, subset index files, class distributions of one dataset"
    )
    prep.add_argument(
        "--out", required=True, help="folder receiving <dataset>-robustness/ (the sweep folder)"
    )
    prep.add_argument(
        "--like",
        type=name_list,
        default=None,
        help="paper samplerob subset scheme(s): cifar10, mnist, onp (comma list; default: the dataset's name)",
    )
    prep.add_argument(
        "--scale",
        default="smoke",
        choices=["smoke", "paper"],
        help="size preset recorded for the tables (trimming)",
    )
    prep.add_argument(
        "--below", type=float, default=0.65, help="count R below this value (appendix E.1: 0.65)"
    )
    prep.add_argument(
        "--device", default="auto", help="torch device for the distance tiles (auto, cpu, cuda)"
    )
    prep.add_argument("--overwrite", action="store_true", help="replace a study of another config")
    prep.add_argument(
        "overrides",
        nargs="*",
        help="rbr-run overrides choosing the dataset (after --), e.g. dataset=cifar10 data.root=data",
    )

    nb = sub.add_parser(
        "neighbors",
        help="scikit-learn KNN / random forest on each training subset, scored on each test subset",
    )
    nb.add_argument(
        "model",
        choices=["knn", "rf"],
        help="knn: KNeighborsClassifier/Regressor (by the study's task); rf: RandomForestRegressor",
    )
    nb.add_argument(
        "--study", required=True, help="a folder written by prepare (<out>/<dataset>-robustness)"
    )
    nb.add_argument(
        "--out", required=True, help="folder receiving the run folders (the sweep folder)"
    )
    nb.add_argument(
        "--k",
        type=int_list,
        default=[1],
        help="KNN neighbour counts (default 1; paper samplerob ONP: 1-15)",
    )
    nb.add_argument(
        "--weights",
        type=name_list,
        default=["uniform", "distance"],
        help="KNN weights: uniform, distance",
    )
    nb.add_argument(
        "--trees", type=int_list, default=list(range(1, 10)), help="forest sizes (paper samplerob: 1-9)"
    )
    nb.add_argument(
        "--criteria", type=name_list, default=["mae", "mse"], help="forest criteria: mae, mse"
    )
    nb.add_argument(
        "--seeds", type=int_list, default=[0], help="forest seeds (paper samplerob: 25 runs, e.g. 0-24)"
    )
    nb.add_argument(
        "--train-subsets",
        type=name_list,
        default=None,
        help="training (sub)sets (default: the paper's)",
    )
    nb.add_argument(
        "--test-subsets", type=name_list, default=None, help="test (sub)sets (default: the paper's)"
    )
    nb.add_argument("--scale", default="smoke", choices=["smoke", "paper"])
    nb.add_argument(
        "--jobs", type=int, default=None, help="forest n_jobs (does not change results)"
    )
    nb.add_argument("--overwrite", action="store_true")

    sel = sub.add_parser(
        "select-best", help="ResNet-56 first step: lowest-loss epoch on t -> ckpt/best_t_loss.pt"
    )
    sel.add_argument(
        "root", help="folder holding the samplerob/resnet56_select runs (the sweep folder)"
    )
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.command == "prepare":
        from .prepare import prepare

        overrides = list(args.overrides)
        like = args.like
        if like is None:
            names = [o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")]
            like = names[-1:] or ["cifar10"]
        prepare(
            args.out,
            overrides,
            like,
            scale=args.scale,
            below=args.below,
            device=args.device,
            overwrite=args.overwrite,
        )
    elif args.command == "neighbors":
        from . import neighbors

        common = {
            "train_subsets": args.train_subsets,
            "test_subsets": args.test_subsets,
            "scale": args.scale,
            "overwrite": args.overwrite,
        }
        if args.model == "knn":
            neighbors.knn(args.study, args.out, args.k, args.weights, **common)
        else:
            neighbors.random_forest(
                args.study,
                args.out,
                args.trees,
                args.criteria,
                args.seeds,
                jobs=args.jobs,
                **common,
            )
    else:
        from .select_best import select_best

        select_best(args.root)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sys.exit(run(args))
    except UserError as e:
        if args.verbose:
            raise
        sys.stderr.write(f"{PROG}: error: {e.one_line()}\n")
        sys.exit(2)
