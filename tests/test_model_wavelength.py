"""The wavelength head, the minimum validation size of early stopping, and checkpoint versions."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spectramind.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spectramind.model.data import wavelength_groups
from spectramind.model.losses import LossConfig, LossContext, compute_loss
from spectramind.model.models.spectra_model import to_tensors
from spectramind.model.modules.spectral_head import WavelengthHead
from spectramind.model.pipeline import _summary
from spectramind.model.train import kfold_split, predict, split_train_val
from test_model import FAST, make_dataset, tiny_model, train_tiny
from tiny import TINY


# --------------------------------------------------------------------------- wavelength head
def test_wavelength_groups_are_contiguous_near_equal() -> None:
    groups = wavelength_groups(10, 3)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ValueError, match="airs_wavelength_bins must be in \\[1, 10\\]"):
        wavelength_groups(10, 11)


def test_wavelength_head_maps_each_token_to_its_groups_bins() -> None:
    """11 bins: FGS1 + 10 AIRS bins in groups of 4, 3, 3 (width 4). A head whose first output
    of every bin position reads the token's value puts token g's value on exactly group g's
    bins (and nothing on the FGS1 bin); the sigma outputs read it twice."""
    head = WavelengthHead(d_in=1, n_bins=11, n_groups=3)
    assert head.width == 4
    with torch.no_grad():
        head.proj.weight[:4, 0] = 1.0  # mean shift of every bin position = the token
        head.proj.weight[4:, 0] = 2.0  # log sigma = twice the token
    tokens = torch.tensor([[[1.0], [2.0], [3.0]]])  # (1 planet, 3 groups, 1 feature)
    delta, log_sigma = head(tokens, torch.zeros(1, 3, 2))
    expect = torch.tensor([[0.0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]], dtype=torch.float64)
    assert torch.equal(delta, expect)
    assert torch.equal(log_sigma, 2 * expect)


def test_wavelength_head_group_features_known_values() -> None:
    head = WavelengthHead(d_in=1, n_bins=11, n_groups=3)
    post_mean = torch.full((1, 11), 0.01, dtype=torch.float64)
    post_var = torch.full((1, 11), 1e-8, dtype=torch.float64)  # sd 1e-4
    depth = post_mean.clone()
    depth[0, 1:5] += 2e-4  # group 0: +2 sd
    depth[0, 5] -= 3e-4  # one bin of group 1: -3 sd, group mean -1
    depth[0, 8] = float("nan")  # counts as 0
    sigma = torch.full((1, 11), 1e-4 * np.e, dtype=torch.float64)  # log(sigma / sd) = 1
    f = head.group_features(post_mean, post_var, depth, sigma)
    assert f.shape == (1, 3, 2)
    assert torch.allclose(f[0, :, 0], torch.tensor([2.0, -1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(f[0, :, 1], torch.ones(3, dtype=torch.float64))
    assert torch.equal(head.group_features(post_mean, post_var), torch.zeros(1, 3, 2))


def test_untrained_wavelength_head_is_the_prior_layer_and_can_learn() -> None:
    """Zero-initialised: the untrained model is the prior posterior, equal to the model
    without the head; the loss gradient reaches the head's weights (it is not a dead branch),
    and after moving them the per-bin correction differs between the bins of one group."""
    feats, y = make_dataset(4)
    torch.manual_seed(0)
    model = tiny_model(feats, y)
    torch.manual_seed(0)
    pooled = tiny_model(feats, y, replace(TINY, wavelength_head=False))
    batch = to_tensors(feats)
    out, out_pooled = model(batch), pooled(batch)
    assert torch.equal(out["mu"], out["post_mean"])
    assert torch.equal(out["mu"], out_pooled["mu"])
    assert torch.equal(out["sigma"], out_pooled["sigma"])
    ctx = LossContext(naive_mean=0.01, naive_sigma=0.005, prior=model.prior)
    loss, _ = compute_loss(out, torch.as_tensor(y), ctx, LossConfig())
    loss.backward()
    assert model.wavelength_head is not None and pooled.wavelength_head is None
    grad = model.wavelength_head.proj.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    with torch.no_grad():
        model.wavelength_head.proj.weight -= 0.1 * grad.sign()
        moved = model(batch)
    shift = (moved["mu"] - moved["post_mean"])[:, 1:]
    group0 = wavelength_groups(282, TINY.airs_wavelength_bins)[0]
    assert float(shift[:, group0].std()) > 0  # per bin, not one value per group


# --------------------------------------------------------------------------- minimum validation size
def test_split_train_val_respects_the_minimum() -> None:
    fit, val = split_train_val(25, 0.2, seed=1, min_val=10)  # 5 raised to 10
    assert len(val) == 10 and len(fit) == 15 and not set(fit) & set(val)
    assert split_train_val(15, 0.2, seed=1, min_val=10)[1].size == 0  # 10 would leave 5
    assert len(split_train_val(100, 0.2, seed=1, min_val=10)[1]) == 20
    assert len(split_train_val(10, 0.2, seed=1, min_val=1)[1]) == 2  # the old rule


def test_kfold_split_folds_hold_the_minimum() -> None:
    splits = kfold_split(30, 5, seed=0, min_val=10)
    assert len(splits) == 3 and all(len(held) == 10 for _, held in splits)
    assert len(kfold_split(150, 5, seed=0, min_val=10)) == 5
    # too few planets for two folds of 10: half the planets caps K (folds of 2)
    small = kfold_split(6, 5, seed=0, min_val=10)
    assert [len(held) for _, held in small] == [2, 2, 2]


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_members_on_small_folds_are_not_early_stopped(caplog) -> None:
    """6 planets, 3 folds of 2 < min_val_planets 10: no member is kept at initialisation by a
    choice on 2 planets -- each keeps its last epoch and its last prior step, and says so."""
    feats, y = make_dataset(6, seed=2)
    tc = replace(FAST, folds=3, max_epochs=3, prior_steps=4, min_val_planets=10)
    log = logging.getLogger("test.small_folds")
    with caplog.at_level(logging.INFO, logger="test.small_folds"):
        res = train_tiny_logged(feats, y, tc, log)
    members = res.info["members"]
    assert [m["best_epoch"] for m in members] == [3, 3, 3]
    assert [m["prior_step"] for m in members] == [4, 4, 4]
    assert not any(m["at_initialisation"] or m["early_stopped"] for m in members)
    assert res.info["members_at_initialisation"] == 0
    lines = _log_lines(caplog)
    assert (
        sum("2 validation planets < min_val_planets 10: no early stopping" in s for s in lines) == 3
    )
    assert "0 at initialisation" in _summary(res.info)


def test_a_member_at_initialisation_is_logged_and_recorded(caplog, tmp_path: Path) -> None:
    """Enough validation planets (2 folds of 5 >= 5) but no epoch to train: the choice is
    epoch 0, logged as a fall-back to the prior layer and recorded in the checkpoint."""
    feats, y = make_dataset(10, seed=3)
    tc = replace(FAST, folds=2, max_epochs=0, prior_steps=0, min_val_planets=5)
    log = logging.getLogger("test.at_init")
    with caplog.at_level(logging.INFO, logger="test.at_init"):
        res = train_tiny_logged(feats, y, tc, log)
    assert [m["at_initialisation"] for m in res.info["members"]] == [True, True]
    assert [m["early_stopped"] for m in res.info["members"]] == [True, True]
    lines = _log_lines(caplog)
    assert sum("falls back to the prior layer" in s for s in lines) == 2
    assert any("members [1, 2] of 2 are at initialisation" in s for s in lines)
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    save_checkpoint(res.model, pt, js, info=res.info)
    doc = json.loads(js.read_text())
    assert [m["at_initialisation"] for m in doc["training"]["members"]] == [True, True]
    assert [m["best_epoch"] for m in doc["training"]["members"]] == [0, 0]


def train_tiny_logged(feats, y, tc, log: logging.Logger):
    from spectramind.model.train import fit_model

    return fit_model(
        feats, y, model_config=TINY, loss_config=LossConfig(), train_config=tc, progress=log.info
    )


# --------------------------------------------------------------------------- checkpoint versions
def test_version_1_checkpoint_loads_as_the_pooled_network(tmp_path: Path) -> None:
    """A format-1 checkpoint (no wavelength head, no ``wavelength_head`` key) still loads, as
    the network it was trained as, and predicts what it predicted; other versions are refused."""
    feats, y = make_dataset(6)
    res = train_tiny(feats, y, replace(FAST, max_epochs=2))
    pooled = tiny_model(feats, y, replace(TINY, wavelength_head=False))
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    save_checkpoint(pooled, pt, js)
    doc = json.loads(js.read_text())
    assert doc["format_version"] == 2 and doc["model"]["wavelength_head"] is False
    doc["format_version"] = 1
    del doc["model"]["wavelength_head"]
    js.write_text(json.dumps(doc))
    loaded, got = load_checkpoint(pt, js)
    assert loaded.config.wavelength_head is False and got["format_version"] == 1
    a, b = predict(pooled, feats), predict(loaded, feats)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    doc["format_version"] = 3
    js.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="version v1 or v2.*version 3"):
        load_checkpoint(pt, js)
    # a v2 checkpoint of the wavelength-head network keeps the head
    save_checkpoint(res.model, pt, js)
    loaded, _ = load_checkpoint(pt, js)
    assert loaded.config.wavelength_head is True
    a, b = predict(res.model, feats), predict(loaded, feats)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
