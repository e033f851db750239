"""Ablation of the model on one held-out simulated test split, with timings and memory.

Needs a finished workflow run (cubes, physics fits, constant/physics predictions), e.g. the
science config::

    snakemake --cores all --configfile config/science.yaml
    python benchmarks/bench_model.py --workdir . --configfile config/science.yaml [--fresh DIR]

Every row is trained on the same train planets (same seed, same validation part) and scored
on the same test planets with the challenge metric (naive statistics of the train labels).
``--fresh DIR``: also score on a second, test-only split (a workdir whose results/ holds its
cubes and physics fits and whose results/simulated holds test_truth.csv), e.g. one simulated
with another seed after the model was designed. Each model variant runs in its own
process, so its peak RSS is its own. Prints a Markdown table and writes it as CSV.

Variants: ``constant`` and ``physics`` (the workflow's predictions), ``model`` (full),
``no_physics`` (model without physics inputs), ``no_symbolic`` (all symbolic loss weights 0),
``prior_only`` (the spectral prior layer with learned scales, no encoders),
``no_wavelength_head`` (the encoders through the pooled embedding alone, no per-wavelength
tokens: the format-1 architecture), ``gnn`` (AIRS
GNN instead of the CNN), ``concat`` (concat fusion instead of cross-attention) and
``single`` (one model with a ``val_fraction`` split instead of the K-fold ensemble of
``model.training.folds`` members) and ``no_recalibration`` (the ensemble without the
recalibration fitted on its out-of-fold predictions). ``best_epoch`` lists each member's kept epoch and
``at_init`` how many members are at initialisation (the prior layer alone).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from spectramind import io, metric

REPO = Path(__file__).resolve().parents[1]
MODEL_VARIANTS = (
    "model",
    "no_physics",
    "no_symbolic",
    "prior_only",
    "no_wavelength_head",
    "gnn",
    "concat",
    "single",
    "no_recalibration",
)
DEFAULT_VARIANTS = (
    "constant",
    "physics",
    "model",
    "no_physics",
    "no_symbolic",
    "prior_only",
    "no_recalibration",
)


def load_config(configfiles: list[Path]) -> dict:
    """config/config.yaml updated (recursively) by each ``--configfile``, like Snakemake."""

    def update(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = (
                update(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
            )
        return a

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for f in configfiles:
        update(cfg, yaml.safe_load(Path(f).read_text()))
    return cfg


def _root(workdir: Path, cfg: dict) -> Path:
    return (
        workdir / cfg["simulation"]["out"]
        if cfg["data"]["root"] is None
        else Path(cfg["data"]["root"])
    )


def _ids(root: Path, split: str) -> list[int]:
    return sorted(pd.read_csv(root / f"{split}_star_info.csv")["planet_id"].astype(int).tolist())


def _files(workdir: Path, ids: list[int]) -> tuple[list[Path], list[Path]]:
    return (
        [workdir / "results" / "cubes" / f"{p}.nc" for p in ids],
        [workdir / "results" / "physics" / f"{p}.nc" for p in ids],
    )


def _score(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, naive: tuple[float, float]) -> dict:
    rep = metric.score_report(y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1])
    return {
        k: rep[k]
        for k in ("score", "rmse_fgs_ppm", "rmse_airs_ppm", "coverage_1sigma", "coverage_2sigma")
    }


def _test_sets(workdir: Path, cfg: dict, fresh: Path | None) -> dict[str, tuple[Path, Path]]:
    """{split name: (workdir holding its cubes/physics, data root holding test_truth.csv)}."""
    sets = {"test": (workdir, _root(workdir, cfg))}
    if fresh is not None:
        sets["fresh_test"] = (fresh, fresh / "results" / "simulated")
    return sets


def _run_variant(
    name: str, workdir: str, cfg: dict, threads: int, tests: dict, queue: mp.Queue
) -> None:
    """Child process: train one variant, predict every test set, report scores and costs."""
    import torch

    from spectramind.model.data import load_planets
    from spectramind.model.pipeline import configs_from_params
    from spectramind.model.train import apply_recalibration, fit_model, predict
    from spectramind.workflow_io import truth_for

    wd = Path(workdir)
    root = _root(wd, cfg)
    arch, tc, lc = configs_from_params(cfg["model"], cfg["loss"], threads=threads)
    arch = {
        "model": arch,
        "no_physics": replace(arch, use_physics=False),
        "no_symbolic": arch,
        "prior_only": replace(arch, use_encoders=False),
        "no_wavelength_head": replace(arch, wavelength_head=False),
        "gnn": replace(arch, airs_encoder="gnn"),
        "concat": replace(arch, fusion="concat"),
        "single": arch,
        "no_recalibration": arch,
    }[name]
    if name == "single":
        tc = replace(tc, folds=1)
    if name == "no_recalibration":
        tc = replace(tc, recalibrate=False)
    if name == "no_symbolic":
        lc = lc.symbolic_off()
    kw = {"fgs_time_bin": arch.fgs_time_bin, "airs_wavelength_bins": arch.airs_wavelength_bins}
    train = load_planets(*_files(wd, _ids(root, "train")), **kw)
    y_train = truth_for(root, "train", train.planet_ids)
    naive = metric.naive_stats(y_train)
    t0 = time.perf_counter()
    res = fit_model(
        train, y_train, model_config=arch, loss_config=lc, train_config=tc, progress=lambda s: None
    )
    t_train = time.perf_counter() - t0
    common = {
        "variant": name,
        "train_s": t_train,
        "best_epoch": "/".join(str(m["best_epoch"]) for m in res.info["members"])
        if "members" in res.info
        else str(res.info["best_epoch"]),
        "epochs": res.info["epochs_run"],
        "at_init": sum(
            bool(m.get("at_initialisation")) for m in res.info.get("members", [res.info])
        ),
        "val_score": res.info.get("val_score", float("nan")),
        "n_params": sum(p.numel() for p in res.model.parameters()),
    }
    rows = []
    for split, (twd, troot) in tests.items():
        t0 = time.perf_counter()
        test = load_planets(*_files(Path(twd), _ids(Path(troot), "test")), **kw)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        mu, sigma = apply_recalibration(res.info, *predict(res.model, test))
        t_inf = time.perf_counter() - t0
        y_test = truth_for(troot, "test", test.planet_ids)
        rows.append(
            {
                **common,
                "split": split,
                "n_planets": len(test),
                **_score(y_test, mu, sigma, naive),
                "load_ms_per_planet": 1e3 * t_load / len(test),
                "infer_ms_per_planet": 1e3 * t_inf / len(test),
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put([{**r, "peak_rss_mb": peak, "torch_threads": torch.get_num_threads()} for r in rows])


def baseline_rows(workdir: Path, cfg: dict, names: list[str], tests: dict) -> list[dict]:
    """constant (train-label mean and rms) and physics (fits + the train-split recalibration)."""
    from spectramind.predict import Recalibration, constant_baseline
    from spectramind.workflow_io import load_physics, load_physics_features, truth_for

    root = _root(workdir, cfg)
    train = io.read_labels(root / "train.csv").to_numpy(dtype=float)
    naive = metric.naive_stats(train)
    recal_file = workdir / "results" / "recalibration" / "physics.json"
    recal = Recalibration.from_json(recal_file) if recal_file.is_file() else None
    rows = []
    for split, (twd, troot) in tests.items():
        ids = _ids(Path(troot), "test")
        y = truth_for(troot, "test", ids)
        for name in names:
            if name == "constant":
                mu, sigma = constant_baseline(train, len(ids))
            else:
                fits = _files(Path(twd), ids)[1]
                _, mu, sigma = load_physics(fits)
                if recal is not None:  # the fits' features, as rule predict_physics applies it
                    mu, sigma = recal.apply(mu, sigma, load_physics_features(fits))
            rows.append(
                {
                    "variant": name,
                    "split": split,
                    "n_planets": len(ids),
                    **_score(y, mu, sigma, naive),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--workdir", type=Path, default=Path("."), help="folder holding results/ of a finished run"
    )
    ap.add_argument(
        "--configfile", type=Path, action="append", default=[], help="config used for that run"
    )
    ap.add_argument(
        "--fresh",
        type=Path,
        default=None,
        help="optional second workdir with a test-only split (cubes, physics fits, test_truth.csv)",
    )
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--out", type=Path, default=None, help="CSV (default: WORKDIR/results/ablation.csv)"
    )
    args = ap.parse_args(argv)
    cfg = load_config(args.configfile)
    cfg.setdefault("data", {}).setdefault("root", None)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    tests = _test_sets(args.workdir, cfg, args.fresh)
    rows = baseline_rows(
        args.workdir, cfg, [n for n in names if n in ("constant", "physics")], tests
    )
    ctx = mp.get_context("spawn")
    for name in (n for n in names if n in MODEL_VARIANTS):
        q: mp.Queue = ctx.Queue()
        p = ctx.Process(
            target=_run_variant,
            args=(
                name,
                str(args.workdir),
                cfg,
                args.threads,
                {k: (str(a), str(b)) for k, (a, b) in tests.items()},
                q,
            ),
        )
        t0 = time.perf_counter()
        p.start()
        got = q.get()
        p.join()
        for row in got:
            row["wall_s"] = time.perf_counter() - t0
            print(
                f"{name} on {row['split']}: score {row['score']:.4f}, coverage {row['coverage_1sigma']:.3f}, "
                f"train {row['train_s']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        rows += got
    table = pd.DataFrame(rows).sort_values(["split"], kind="stable").reset_index(drop=True)
    out = args.out or args.workdir / "results" / "ablation.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    cols = [
        c
        for c in (
            "split",
            "variant",
            "n_planets",
            "score",
            "coverage_1sigma",
            "coverage_2sigma",
            "rmse_fgs_ppm",
            "rmse_airs_ppm",
            "train_s",
            "best_epoch",
            "at_init",
            "peak_rss_mb",
            "infer_ms_per_planet",
        )
        if c in table
    ]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main()
