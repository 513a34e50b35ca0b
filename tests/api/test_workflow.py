"""calibrate() and evaluate() read and score labelled images the same way (one shared block in the workflow)."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import shutil
from pathlib import Path

import pytest

from yolo_probs import YoloProbs
from yolo_probs.api.workflow import calibrate, collect_logits, evaluate
from yolo_probs.calibration import TemperatureScaling
from yolo_probs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
IMAGES = {"digit_0": "0", "digit_3": "3", "digit_5": "5", "digit_7": "7", "digit_8": "8", "hard_3": "8"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six labelled digits (one of them mislabelled, so a temperature can be fitted) and an empty file."""
    root = tmp_path_factory.mktemp("labelled")
    for image, label in IMAGES.items():
        (root / label).mkdir(exist_ok=True)
        shutil.copy(ROOT / "examples" / "images" / f"{image}.png", root / label)
    (root / "3" / "empty.png").write_bytes(b"")
    return root


def test_calibrate_and_evaluate_score_the_same_images_the_same_way(folder: Path) -> None:
    with YoloProbs(MODEL, device="cpu") as clf:
        fitted = calibrate(clf, folder)
        clf.calibrator = fitted.calibrator
        scored = evaluate(clf, folder)
    assert scored.calibrator is fitted.calibrator and scored.collected.files == fitted.collected.files
    assert scored.before == fitted.before and scored.after == fitted.after
    skipped = "1 of 7 images could not be read and were skipped"
    assert fitted.warnings[0] == scored.warnings[0] == skipped
    # the fit's own warnings (too few samples) are the calibration's only
    assert any(w.startswith("only 6 labelled samples") for w in fitted.warnings)
    assert not any(w.startswith("only 6") for w in scored.warnings)
    assert fitted.details == {} and scored.details == {}


def test_evaluate_scores_the_classifiers_calibrator_against_t_1(folder: Path) -> None:
    with YoloProbs(MODEL, device="cpu", calibrator=TemperatureScaling(2.0)) as clf:
        result = evaluate(clf, folder)
    assert result.before.temperature == 1.0 and result.after.temperature == 2.0
    assert result.after.accuracy == result.before.accuracy  # one temperature never changes the ranking
    assert result.collected.labels.size == 6 and len(result.collected.failures) == 1


# -- bad arguments: refused before any image is read, naming the argument (issue 24) --


class _Spy:
    """Looks like a classifier; fails the test if the workflow starts reading images."""

    names = ("0", "3", "5", "7", "8")
    wants_features = False

    def predict_each(self, *args, **kwargs):
        raise AssertionError("the images were read before the arguments were checked")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f: calibrate(None, f), "classifier must be a yolo_probs.YoloProbs"),
        (lambda f: calibrate("model.pt", f), "classifier must be"),
        (lambda f: calibrate(_Spy(), 5), "data must be the path of a labelled folder"),
        (lambda f: calibrate(_Spy(), None), "data must be"),
        (lambda f: calibrate(_Spy(), f, split=5), "split must be text"),
        (lambda f: calibrate(_Spy(), f, method="x"), "unknown calibration method 'x'"),
        (lambda f: calibrate(_Spy(), f, method=["auto"]), "method must be text"),
        (lambda f: calibrate(_Spy(), f, bins=0), "bins: the number of bins"),
        (lambda f: calibrate(_Spy(), f, decisions="x"), "decisions must be a mapping"),
        (lambda f: calibrate(_Spy(), f, decisions={"ood": 5}), r"decisions\['ood'\] must be a mapping"),
        (lambda f: calibrate(_Spy(), f, decisions={"nope": {}}), "unknown decisions nope"),
        (lambda f: calibrate(_Spy(), f, progress=5), "progress must be a function"),
        (lambda f: evaluate(None, f), "classifier must be"),
        (lambda f: evaluate(_Spy(), 5), "data must be"),
        (lambda f: evaluate(_Spy(), f, split=None), "split must be text"),
        (lambda f: evaluate(_Spy(), f, bins="x"), "bins: the number of bins"),
        (lambda f: evaluate(_Spy(), f, profile="p.yaml"), "profile must be a Profile"),
        (lambda f: evaluate(_Spy(), f, options="x"), "options must be a mapping"),
        (lambda f: evaluate(_Spy(), f, options={"ood": {}}), "the profile has no ood entry"),
        (lambda f: evaluate(_Spy(), f, progress="x"), "progress must be a function"),
        (lambda f: collect_logits(None, f), "model must be a yolo_probs.YoloProbs"),
        (lambda f: collect_logits(_Spy(), 5), "folder must be a labelled folder's path"),
        (lambda f: collect_logits(_Spy(), f, split=5), "split must be"),
    ],
)
def test_bad_arguments_are_refused_before_reading_images(call, match: str, folder: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        call(folder)


def test_to_profile_names_a_bad_model_or_name(folder: Path) -> None:
    with YoloProbs(MODEL, device="cpu") as clf:
        fitted = calibrate(clf, folder)
    with pytest.raises(ConfigError, match="model must be the path of the model file") as caught:
        fitted.to_profile(5)  # type: ignore[arg-type]
    assert caught.value.option == "model"
    with pytest.raises(ConfigError, match="name must be text"):
        fitted.to_profile(MODEL, name=None)  # type: ignore[arg-type]
    assert fitted.to_profile(MODEL, name="ok").name == "ok"
