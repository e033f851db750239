"""Ablation of the model on one held-out simulated test split, with timings and memory.

Needs a finished workflow run (cubes, physics fits, constant/physics predictions), e.g. the
science config::

    snakemake --cores all --configfile config/science.yaml
    python benchmarks/bench_model.py --workdir . --configfile config/science.yaml

Every row is trained on the same train planets (same seed, same validation part) and scored
on the same test planets with the challenge metric. Each model variant runs in its own
process, so its peak RSS is its own. Prints a Markdown table and writes it as CSV.

Variants: ``constant`` and ``physics`` (the workflow's predictions), ``model`` (full),
``no_physics`` (model without physics inputs), ``no_symbolic`` (all symbolic loss weights 0),
``prior_only`` (the spectral prior layer with learned scales, no encoders), ``gnn`` (AIRS
GNN instead of the CNN) and ``concat`` (concat fusion instead of cross-attention).
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
MODEL_VARIANTS = ("model", "no_physics", "no_symbolic", "prior_only", "gnn", "concat")
DEFAULT_VARIANTS = ("constant", "physics", "model", "no_physics", "no_symbolic", "prior_only")


def load_config(configfiles: list[Path]) -> dict:
    """config/config.yaml updated (recursively) by each ``--configfile``, like Snakemake."""
    def update(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = update(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return a

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for f in configfiles:
        update(cfg, yaml.safe_load(Path(f).read_text()))
    return cfg


def _ids(root: Path, split: str) -> list[int]:
    return sorted(pd.read_csv(root / f"{split}_star_info.csv")["planet_id"].astype(int).tolist())


def _score(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, naive: tuple[float, float]) -> dict:
    rep = metric.score_report(y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1])
    return {k: rep[k] for k in ("score", "rmse_fgs_ppm", "rmse_airs_ppm", "coverage_1sigma", "coverage_2sigma")}


def _run_variant(name: str, workdir: str, cfg: dict, threads: int, queue: mp.Queue) -> None:
    """Child process: train one variant, predict the test split, report scores and costs."""
    import torch

    from spectramind.model.data import load_planets
    from spectramind.model.pipeline import configs_from_params
    from spectramind.model.train import fit_model, predict
    from spectramind.workflow_io import truth_for

    wd = Path(workdir)
    root = wd / cfg["simulation"]["out"] if cfg["data"]["root"] is None else Path(cfg["data"]["root"])
    arch, tc, lc = configs_from_params(cfg["model"], cfg["loss"], threads=threads)
    arch = {
        "model": arch, "no_physics": replace(arch, use_physics=False), "no_symbolic": arch,
        "prior_only": replace(arch, use_encoders=False), "gnn": replace(arch, airs_encoder="gnn"),
        "concat": replace(arch, fusion="concat"),
    }[name]
    if name == "no_symbolic":
        lc = lc.symbolic_off()
    files = {s: ([wd / "results" / "cubes" / f"{p}.nc" for p in _ids(root, s)],
                 [wd / "results" / "physics" / f"{p}.nc" for p in _ids(root, s)]) for s in ("train", "test")}
    kw = {"fgs_time_bin": arch.fgs_time_bin, "airs_wavelength_bins": arch.airs_wavelength_bins}
    train = load_planets(*files["train"], **kw)
    y_train = truth_for(root, "train", train.planet_ids)
    t0 = time.perf_counter()
    res = fit_model(train, y_train, model_config=arch, loss_config=lc, train_config=tc, progress=lambda s: None)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = load_planets(*files["test"], **kw)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    mu, sigma = predict(res.model, test)
    t_inf = time.perf_counter() - t0
    y_test = truth_for(root, "test", test.planet_ids)
    row = {"variant": name, **_score(y_test, mu, sigma, metric.naive_stats(y_train)),
           "train_s": t_train, "best_epoch": res.info["best_epoch"], "epochs": res.info["epochs_run"],
           "val_score": res.info.get("val_score", float("nan")),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "load_ms_per_planet": 1e3 * t_load / len(test), "infer_ms_per_planet": 1e3 * t_inf / len(test),
           "n_params": sum(p.numel() for p in res.model.parameters()), "torch_threads": torch.get_num_threads()}
    queue.put(row)


def baseline_rows(workdir: Path, cfg: dict, names: list[str]) -> list[dict]:
    root = workdir / cfg["simulation"]["out"] if cfg["data"]["root"] is None else Path(cfg["data"]["root"])
    train = io.read_labels(root / "train.csv").to_numpy(dtype=float)
    truth = io.read_labels(root / "test_truth.csv")
    naive = metric.naive_stats(train)
    rows = []
    for name in names:
        pred = pd.read_csv(workdir / "results" / "predictions" / name / "test.csv")
        a = metric.align(truth.reset_index(), pred)
        rows.append({"variant": name, **_score(a.y_true, a.mu, a.sigma, naive)})
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("."), help="folder holding results/ of a finished run")
    ap.add_argument("--configfile", type=Path, action="append", default=[], help="config used for that run")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="CSV (default: WORKDIR/results/ablation.csv)")
    args = ap.parse_args(argv)
    cfg = load_config(args.configfile)
    cfg.setdefault("data", {}).setdefault("root", None)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows = baseline_rows(args.workdir, cfg, [n for n in names if n in ("constant", "physics")])
    ctx = mp.get_context("spawn")
    for name in (n for n in names if n in MODEL_VARIANTS):
        q: mp.Queue = ctx.Queue()
        p = ctx.Process(target=_run_variant, args=(name, str(args.workdir), cfg, args.threads, q))
        t0 = time.perf_counter()
        p.start()
        row = q.get()
        p.join()
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        print(f"{name}: score {row['score']:.4f}, coverage {row['coverage_1sigma']:.3f}, "
              f"train {row['train_s']:.0f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    out = args.out or args.workdir / "results" / "ablation.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else table.to_string(index=False))
    return table


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
