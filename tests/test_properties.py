"""Property-based tests (hypothesis) of the readers, the prediction writer and the metric:
random bytes, random shapes and random edits of valid files raise the module's typed error
naming the file, or read back exactly right; never another exception, a warning, or a wrong
result.

Typed errors: :class:`spectramind.io.DataError` (data files), :class:`spectramind.metric.MetricError`
(metric inputs), :class:`spectramind.predict.PredictionError` (predictions),
:class:`spectramind.submission.SubmissionError` (submission files),
:class:`spectramind.model.checkpoint.CheckpointError` (checkpoints).
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spectramind import io, metric, predict, submission
from spectramind.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spectramind.model.models.spectra_model import SpectraModel
from spectramind.workflow_io import score_predictions
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]
ARIEL = REPO / "resources" / "ariel"
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FEW = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

DTYPES = [np.uint16, np.int16, np.int32, np.uint8, np.float32, np.float64, np.bool_]


def _names_file(exc: io.DataError, path: Path) -> None:
    assert Path(exc.path) == path and str(path) in str(exc)


def _table(arr: np.ndarray) -> pa.Table:
    return pa.table([pa.array(c) for c in arr.T], names=io.column_names(arr.shape[1]))


# --------------------------------------------------------------------------- parquet readers
@functools.cache
def _valid_maps() -> dict[str, bytes]:
    """Bytes of valid FGS1 calibration maps (zeros, a flat of ones)."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for m in io.CALIBRATION_MAPS:
            arr = np.zeros(
                (6 * 32 if m == "linear_corr" else 32, 32), bool if m == "dead" else np.float64
            )
            pq.write_table(_table(arr + 1.0 if m == "flat" else arr), Path(d) / m)
            out[m] = (Path(d) / m).read_bytes()
    return out


@SETTINGS
@given(
    data=st.binary(max_size=2048),
    name=st.sampled_from(["dark", "dead", "flat", "read", "linear_corr"]),
)
def test_calibration_map_random_bytes(tmp_path: Path, data: bytes, name: str) -> None:
    cal = tmp_path / "FGS1_calibration_0"
    cal.mkdir(exist_ok=True)
    for m, valid in _valid_maps().items():  # the other maps valid, so the broken one is reached
        (cal / f"{m}.parquet").write_bytes(valid)
    path = cal / f"{name}.parquet"
    path.write_bytes(data)
    with pytest.raises(io.DataError) as exc:
        io.read_calibration(cal, "FGS1")
    _names_file(exc.value, path)


@SETTINGS
@given(
    rows=st.integers(0, 40),
    cols=st.integers(0, 40),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_read_map_random_shapes_and_dtypes(
    tmp_path: Path, rows: int, cols: int, dtype: type, seed: int
) -> None:
    """A map of any shape and dtype: exactly the array written, or a DataError naming the file."""
    rng = np.random.default_rng(seed)
    arr = (rng.random((rows, cols)) * 100).astype(dtype)
    path = tmp_path / "dark.parquet"
    pq.write_table(_table(arr) if cols else pa.table({}), path)
    want_shape, want_dtype = (32, 32), np.dtype(np.float64)
    try:
        got = io.read_map(path, want_shape, want_dtype)
    except io.DataError as exc:
        _names_file(exc, path)
        assert (rows, cols) != want_shape or np.dtype(dtype) != want_dtype
    else:
        assert (rows, cols) == want_shape and np.dtype(dtype) == want_dtype
        assert got.dtype == want_dtype
        np.testing.assert_array_equal(got, arr)


@FEW
@given(
    n_rows=st.integers(0, 6),
    n_cols=st.sampled_from([0, 1, 31, 1023, 1024, 1025, 2048]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_read_signal_random_shapes_and_dtypes(
    tmp_path: Path, n_rows: int, n_cols: int, dtype: type, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 2**16, (n_rows, n_cols)).astype(dtype)
    path = tmp_path / "FGS1_signal_0.parquet"
    pq.write_table(_table(arr) if n_cols else pa.table({}), path)
    valid = n_cols == 1024 and n_rows > 0 and n_rows % 2 == 0 and np.dtype(dtype) == np.uint16
    try:
        frames = io.read_signal(path, "FGS1")
    except io.DataError as exc:
        _names_file(exc, path)
        assert not valid
    else:
        assert valid
        np.testing.assert_array_equal(frames, arr.reshape(n_rows, 32, 32))


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_axis_info_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "axis_info.parquet"
    path.write_bytes(data)
    with pytest.raises(io.DataError) as exc:
        io.read_axis_info(path)
    _names_file(exc.value, path)


# --------------------------------------------------------------------------- CSV readers
CSV_READERS = {
    "labels": io.read_labels,
    "star_info": io.read_star_info,
    "wavelengths": io.read_wavelengths,
    "adc_info": io.read_adc_info,
}


@SETTINGS
@given(data=st.binary(max_size=2048), reader=st.sampled_from(sorted(CSV_READERS)))
def test_csv_readers_random_bytes(tmp_path: Path, data: bytes, reader: str) -> None:
    path = tmp_path / f"{reader}.csv"
    path.write_bytes(data)
    try:
        CSV_READERS[reader](path)
    except io.DataError as exc:
        _names_file(exc, path)
    else:  # random bytes are never a valid table of these
        raise AssertionError(f"{reader} accepted {data!r}")


@functools.cache
def _labels_text() -> str:
    return pd.read_csv(ARIEL / "2024" / "train_labels.csv", nrows=3).to_csv(index=False)


@functools.cache
def _stars_text() -> str:
    return pd.read_csv(ARIEL / "2025" / "train_star_info.csv", nrows=3).to_csv(index=False)


CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-1",
            "0",
            "x",
            "1.5",
            "True",
            '"',
            "1,2",
            "NA",
            "9" * 30,
            "0x1F",
            " 7 ",
            "\x00",
            "é",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


def _edit_cells(text: str, edits: list[tuple[int, int, str]]) -> str:
    lines = [line.split(",") for line in text.splitlines()]
    for r, c, value in edits:
        row = lines[r % len(lines)]
        row[c % len(row)] = value
    return "\n".join(",".join(line) for line in lines) + "\n"


def _check_labels(df: pd.DataFrame) -> None:
    assert list(df.columns) == io.WL_COLUMNS and df.index.name == "planet_id"
    assert df.index.dtype == np.int64 and df.index.is_unique and (df.index >= 0).all()
    assert np.isfinite(df.to_numpy(dtype=float)).all()


def _check_stars(df: pd.DataFrame) -> None:
    assert (
        list(df.columns) == io.STAR_COLUMNS[1:]
        and df.index.dtype == np.int64
        and df.index.is_unique
    )
    assert np.isfinite(df.to_numpy(dtype=float)).all()


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 300), CELLS), min_size=1, max_size=4
    ),
    which=st.sampled_from(["labels", "star_info"]),
)
@example(
    edits=[(1, 0, "9.223372036854776e+18")], which="labels"
)  # found by fuzzing: overflowed int64
@example(edits=[(2, 0, "9007199254740993")], which="star_info")  # 2**53 + 1: not exact as float64
def test_edited_tables_read_valid_or_raise(tmp_path: Path, edits: list, which: str) -> None:
    """Random cell edits of a valid labels / star table (header included): a DataError naming
    the file, or a table that satisfies every promise of the reader."""
    text = _labels_text() if which == "labels" else _stars_text()
    path = tmp_path / f"{which}.csv"
    path.write_bytes(_edit_cells(text, edits).encode("utf-8", "surrogatepass"))
    try:
        df = io.read_labels(path) if which == "labels" else io.read_star_info(path)
    except io.DataError as exc:
        _names_file(exc, path)
    else:
        (_check_labels if which == "labels" else _check_stars)(df)


# --------------------------------------------------------------------------- predictions, submission
ARRAY_SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    st.tuples(st.integers(0, 3), st.sampled_from([282, 283, 284])),
)


@SETTINGS
@given(data=st.data())
def test_submission_frame_random_arrays(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 3))
    ids = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 5)), label="ids")
    shape = data.draw(st.just((n, io.N_BINS)) | ARRAY_SHAPES, label="shape")
    mu = data.draw(
        hnp.arrays(np.float64, shape, elements=st.floats(-1, 1) | st.just(np.nan)), label="mu"
    )
    sigma = data.draw(
        hnp.arrays(np.float64, shape, elements=st.floats(-1, 1) | st.just(np.inf)), label="sigma"
    )
    try:
        df = predict.submission_frame(ids, mu, sigma)
    except predict.PredictionError:
        ok = (
            mu.shape == sigma.shape == (n, io.N_BINS)
            and np.isfinite(mu).all()
            and np.isfinite(sigma).all()
            and (mu >= 0).all()
            and (sigma >= 0).all()
            and len(set(ids.tolist())) == n
        )
        assert not ok
    else:
        values = df.iloc[:, 1:].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
        np.testing.assert_array_equal(df[io.WL_COLUMNS].to_numpy(), mu)
        np.testing.assert_array_equal(df[io.SIGMA_COLUMNS].to_numpy(), sigma)


@FEW
@given(data=st.binary(max_size=2048))
def test_validate_submission_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "submission.csv"
    path.write_bytes(data)
    with pytest.raises(submission.SubmissionError) as exc:
        submission.validate_submission(path, REPO / "schemas" / "submission.schema.json")
    assert str(path) in str(exc.value)


# --------------------------------------------------------------------------- metric from files
@functools.cache
def _truth_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="spectramind-props-"))
    rng = np.random.default_rng(0)
    labels = pd.DataFrame(
        0.0147 + 0.002 * rng.standard_normal((3, io.N_BINS)), columns=io.WL_COLUMNS
    )
    labels.insert(0, "planet_id", [10, 20, 30])
    labels.to_csv(root / "train.csv", index=False)
    return root


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_score_predictions_random_bytes(tmp_path: Path, data: bytes) -> None:
    """rule score: a predictions file of random bytes is a typed error naming it."""
    path = tmp_path / "predictions.csv"
    path.write_bytes(data)
    root = _truth_root()
    with pytest.raises((io.DataError, metric.MetricError)) as exc:
        score_predictions(path, root / "train.csv", "train", root / "train.csv")
    assert str(path) in str(exc.value)


@FEW
@given(
    edits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 600), CELLS), min_size=1, max_size=4)
)
def test_score_predictions_edited_file(tmp_path: Path, edits: list) -> None:
    """A valid predictions file with random cell edits: a score in [0, 1] or a typed error."""
    root = _truth_root()
    labels = pd.read_csv(root / "train.csv")
    good = predict.submission_frame(
        labels["planet_id"], labels[io.WL_COLUMNS].to_numpy(), np.full((3, io.N_BINS), 1e-4)
    )
    path = tmp_path / "predictions.csv"
    path.write_bytes(_edit_cells(good.to_csv(index=False), edits).encode("utf-8", "surrogatepass"))
    try:
        report = score_predictions(path, root / "train.csv", "train", root / "train.csv")
    except (io.DataError, metric.MetricError) as exc:
        assert str(path) in str(exc)
    else:
        assert 0.0 <= report["score"] <= 1.0


@FEW
@given(data=st.data())
def test_align_and_score_mutated_frames(data: st.DataObject) -> None:
    """metric.align + challenge_score on a valid truth / prediction pair with random columns
    dropped or added, random cells and random planet ids: MetricError, or a score in [0, 1]
    of the rows matched by planet id."""
    n = data.draw(st.integers(1, 3), label="n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    y = 0.0147 + 0.002 * rng.standard_normal((n, io.N_BINS))
    truth = pd.DataFrame(y, columns=io.WL_COLUMNS)
    truth.insert(0, "planet_id", np.arange(n) * 10)
    pred = predict.submission_frame(
        truth["planet_id"], np.abs(y + 1e-4), np.full((n, io.N_BINS), 2e-4)
    )
    pred = pred.sample(frac=1, random_state=int(rng.integers(1000))).reset_index(drop=True)
    for col in data.draw(st.lists(st.sampled_from(list(pred.columns)), max_size=2), label="drop"):
        pred = pred.drop(columns=col, errors="ignore")
    if data.draw(st.booleans(), label="extra column"):
        pred = pd.concat([pred, pd.DataFrame({"extra": [1.0] * n})], axis=1)
    values = (
        st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 3) | st.text(max_size=2)
    )
    for _ in range(data.draw(st.integers(0, 3), label="n edits")):
        col = data.draw(st.sampled_from(list(pred.columns)), label="column")
        pred = pred.astype({col: object})
        pred.loc[data.draw(st.integers(0, n - 1), label="row"), col] = data.draw(
            values, label="value"
        )
    try:
        a = metric.align(truth, pred)
        score = metric.challenge_score(
            a.y_true, a.mu, a.sigma, naive_mean=0.0147, naive_sigma=0.011
        )
    except metric.MetricError:
        return
    assert a.planet_ids.tolist() == truth["planet_id"].tolist()
    rows = pd.Index(pd.to_numeric(pred["planet_id"])).get_indexer(a.planet_ids)
    np.testing.assert_array_equal(a.mu, pred[io.WL_COLUMNS].to_numpy(dtype=float)[rows])
    assert 0.0 <= score <= 1.0


# --------------------------------------------------------------------------- checkpoints
@functools.cache
def _checkpoint_bytes() -> tuple[bytes, str]:
    with tempfile.TemporaryDirectory() as d:
        pt, js = Path(d) / "model.pt", Path(d) / "model_config.json"
        save_checkpoint(SpectraModel(config=TINY), pt, js)
        return pt.read_bytes(), js.read_text()


@FEW
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.floats(0.0, 1.0),
    random=st.binary(max_size=512),
    use_random=st.booleans(),
)
def test_checkpoint_random_or_damaged_weights(
    tmp_path: Path, edits: list, cut: float, random: bytes, use_random: bool
) -> None:
    pt_bytes, config = _checkpoint_bytes()
    data = bytearray(pt_bytes)
    for pos, value in edits:
        data[int(pos * len(data))] = value
    data = data[: max(1, int(cut * len(data)))]
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    pt.write_bytes(random if use_random else bytes(data))
    js.write_text(config)
    assume(pt.read_bytes() != pt_bytes)
    try:
        load_checkpoint(pt, js)
    except CheckpointError as exc:
        assert str(pt) in str(exc) or str(js) in str(exc)
    # a damaged byte in a tensor's payload still loads (zip CRCs are not checked on read): that
    # is a valid state_dict of the right shapes, and the prediction writer checks its output


@FEW
@given(
    data=st.text(max_size=300).map(str.encode)
    | st.binary(max_size=300)
    | st.sampled_from([b"0", b"[]", b"null", b'"x"', b"{}", b'{"format": "spectramind-model"}'])
)
def test_checkpoint_random_config(tmp_path: Path, data: bytes) -> None:
    pt_bytes, _ = _checkpoint_bytes()
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    pt.write_bytes(pt_bytes)
    js.write_bytes(data)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(pt, js)
    assert str(js) in str(exc.value)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edit=st.dictionaries(
        st.sampled_from(
            ["d_model", "n_heads", "airs_encoder", "spectral_rank", "d_state", "fusion", "bogus"]
        ),
        st.integers(-2, 40) | st.sampled_from(["cnn", "gnn", "concat", "x", None]),
        min_size=1,
        max_size=3,
    )
)
def test_checkpoint_config_edits(tmp_path: Path, edit: dict) -> None:
    """Random edits of the model section: loads (the edit kept the network) or CheckpointError."""
    pt_bytes, config = _checkpoint_bytes()
    doc = json.loads(config)
    assume(any(doc["model"].get(k, object()) != v for k, v in edit.items()))
    doc["model"].update(edit)
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    pt.write_bytes(pt_bytes)
    js.write_text(json.dumps(doc))
    try:
        model, _ = load_checkpoint(pt, js)
    except CheckpointError as exc:
        assert str(js) in str(exc)
    else:
        assert model.config.to_dict() == {k: v for k, v in doc["model"].items()}
