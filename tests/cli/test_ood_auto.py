"""``calibrate --ood-score auto --ood-data DIR``: the CV table, the choice in the profile, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_decisions import COMMON, run
from tests.conftest import IMAGES, MODEL, example
from yolo_probs import YoloProbs
from yolo_probs.api.profile import load_profile
from yolo_probs.decisions.ood import OOD_SCORES


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ood-score", "auto"], "--ood-score auto needs --ood-data DIR"),
        (
            ["--ood-score", "auto", "--ood-data", "EMPTY"],
            "holds no images; pass a folder of images of no trained class",
        ),
        (["--ood-score", "auto", "--ood-data", "MISSING"], "no such folder"),
        (["--ood-score", "knn", "--ood-data", "EMPTY"], "--ood-data is what --ood-score auto chooses on"),
    ],
)
def test_auto_bad_input_is_one_line_and_exit_2(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "EMPTY" / "sub").mkdir(parents=True)
    (tmp_path / "EMPTY" / "notes.txt").write_text("no image here")
    flags = [str(tmp_path / f) if f in ("EMPTY", "MISSING") else f for f in flags]
    out = tmp_path / "p.yaml"
    code, _, err = run(["calibrate", str(tmp_path / "data"), "-m", str(MODEL), "-o", str(out), "--ood-tpr", "0.95",
                        *flags], capsys)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_ood_data_without_ood_tpr_is_an_orphan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["calibrate", str(tmp_path), "-m", str(MODEL), "-o", str(tmp_path / "p.yaml"), "--ood-data",
                        str(tmp_path)], capsys)  # fmt: skip
    assert code == 2 and "--ood-data DIR needs --ood-tpr" in err


def test_auto_prints_its_cv_table_and_stores_the_choice(
    tmp_path: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknowns = tmp_path / "unknowns"
    example("make_unknowns").write_unknowns(unknowns, count=40)
    out = tmp_path / "auto.yaml"
    code, stdout, err = run(["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(out), "--ood-tpr", "0.95",
                             "--ood-score", "auto", "--ood-data", str(unknowns), *COMMON], capsys)  # fmt: skip
    assert code == 0, err
    entry = load_profile(out).decisions["ood"]
    table = entry["auto"]["table"]
    assert entry["score"] in OOD_SCORES and table[0]["chosen"] and entry["auto"]["n_unknown"] == 40
    assert {r["score"] for r in table} >= {"knn", "energy", "gen", "vim", "react"}
    assert "5-fold CV on 359 calibration images and 40 example unknowns" in stdout and "chosen" in stdout
    code, stdout, err = run(["predict", str(unknowns), "--profile", str(out), "-f", "jsonl", *COMMON], capsys)
    assert code == 0, err
    assert stdout.count('"unknown": true') >= 20  # most of the 40 photo crops are called unknown


@pytest.mark.parametrize("score", ["vim", "react"])
def test_vim_and_react_profiles_predict_what_their_stored_arrays_give(
    score: str, tmp_path: Path, digits_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The subspace / final layer goes beside the profile (float16) and predict scores with it."""
    out = tmp_path / f"{score}.yaml"
    code, _, err = run(["calibrate", str(digits_data), "-m", str(MODEL), "-o", str(out), "--ood-tpr", "0.95",
                        "--ood-score", score, *COMMON], capsys)  # fmt: skip
    assert code == 0, err
    entry = load_profile(out).decisions["ood"]
    array = np.load(entry["bank"]).astype(np.float64)
    code, stdout, err = run(["predict", str(IMAGES), "--profile", str(out), "-f", "jsonl", *COMMON], capsys)
    assert code == 0, err
    got = {r["source"]: r["ood_score"] for r in map(json.loads, stdout.splitlines())}
    with YoloProbs(MODEL, device="cpu") as clf:
        preds = list(clf.predict_each(str(IMAGES), features=True))
    for p in preds:
        f, z = p.features.astype(np.float64), p.logits.astype(np.float64)
        if score == "vim":  # logsumexp(z) - alpha |x - P^T P x|, x = f - origin, written out by hand
            x = f - array[0]
            resid = x - array[1:].T @ (array[1:] @ x)
            expected = np.log(np.exp(z - z.max()).sum()) + z.max() - entry["alpha"] * np.sqrt(resid @ resid)
        else:  # T logsumexp(z' / T), z' = W min(f, clip) + b
            t = entry["calibrator"]["temperature"]
            zc = array[:, :-1] @ np.minimum(f, entry["clip"]) + array[:, -1]
            expected = t * np.log(np.exp((zc - zc.max()) / t).sum()) + zc.max()
        assert got[p.source] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    # The drift monitor's reference holds the scores the threshold was set from (vim's cross-fitted ones):
    # its share below the threshold is the fitted 5%, not the near 0% of the subspace's own images.
    monitor = load_profile(out).decisions["monitor"]
    below = np.mean(np.asarray(monitor["unknown_scores"]) < monitor["unknown_threshold"])
    assert below == pytest.approx(0.05, abs=0.03)
