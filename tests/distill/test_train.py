"""Knowledge distillation: the loss against a scipy oracle, the teacher's view of a batch, one tiny training run
through ``yolo-probs distill`` (1 epoch on 30 images), and the bad inputs of issue 12."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import rel_entr

from tests.conftest import DEVICE, ROOT, example
from yolo_probs.cli import main
from yolo_probs.distill import DistillationLoss, Teacher, check_distill_data, distillation_loss
from yolo_probs.errors import ConfigError, ModelError, SourceError


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def oracle(student: np.ndarray, teacher: np.ndarray, labels: np.ndarray, t: float, alpha: float) -> float:
    """The loss of issue 12 with scipy, in float64: alpha * T^2 * KL(p_t || p_s) + (1 - alpha) * CE."""
    log_p, log_q = scipy_log_softmax(teacher / t, axis=1), scipy_log_softmax(student / t, axis=1)
    p = np.exp(log_p)
    q = np.exp(log_q)
    if np.all(q > 0):  # scipy's own KL term, where q has not underflowed
        kl = rel_entr(p, q).sum(axis=1).mean()
    else:  # in log space: p * (log p - log q), 0 where p is 0
        kl = np.where(p > 0, p * (log_p - log_q), 0.0).sum(axis=1).mean()
    ce = -scipy_log_softmax(student, axis=1)[np.arange(len(labels)), labels].mean()
    return float(alpha * t * t * kl + (1 - alpha) * ce)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    c=st.integers(2, 12),
    t=st.floats(0.1, 20.0),
    alpha=st.floats(0.0, 1.0),
    scale=st.floats(0.1, 30.0),
)
def test_loss_matches_scipy_oracle(seed, n, c, t, alpha, scale):
    rng = np.random.default_rng(seed)
    s, te = rng.standard_normal((n, c)) * scale, rng.standard_normal((n, c)) * scale
    y = rng.integers(0, c, n)
    total, parts = distillation_loss(
        torch.tensor(s, dtype=torch.float32), torch.tensor(te), torch.tensor(y), temperature=t, alpha=alpha
    )
    expected = oracle(s.astype(np.float32).astype(np.float64), te, y, t, alpha)
    assert torch.isfinite(total)
    assert float(total) == pytest.approx(expected, rel=2e-4, abs=2e-4)
    parts_sum = alpha * float(parts["kd"]) + (1 - alpha) * float(parts["ce"])
    assert float(parts["loss"]) == pytest.approx(parts_sum, rel=1e-5, abs=1e-5)


def test_loss_edges_and_gradient():
    s = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], requires_grad=True)
    te = torch.tensor([[3.0, 2.0, 1.0], [0.0, 0.0, 5.0]])
    y = torch.tensor([2, 0])
    # alpha 0 is exactly the cross-entropy Ultralytics uses; alpha 1 ignores the labels
    ce, _ = distillation_loss(s, te, y, temperature=4.0, alpha=0.0)
    assert float(ce.detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(s.detach(), y)), abs=1e-6)
    soft, parts = distillation_loss(s, te, y, temperature=4.0, alpha=1.0)
    assert float(soft.detach()) == pytest.approx(float(parts["kd"]))
    other_labels, _ = distillation_loss(s, te, torch.tensor([0, 1]), temperature=4.0, alpha=1.0)
    assert float(other_labels.detach()) == pytest.approx(float(soft.detach()))
    # a student equal to the teacher has no soft loss; gradients reach the student only
    zero, _ = distillation_loss(te.clone().requires_grad_(), te, y, temperature=2.0, alpha=1.0)
    assert abs(float(zero.detach())) < 1e-6
    soft.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    # an export's underflowed probability (logit -inf) counts as 0, not NaN
    inf_teacher = torch.tensor([[5.0, -float("inf"), 0.0], [0.0, 1.0, 2.0]])
    total, _ = distillation_loss(s.detach(), inf_teacher, y, temperature=3.0, alpha=0.7)
    assert torch.isfinite(total)


@pytest.mark.parametrize(("t", "alpha"), [(0.0, 0.5), (-1.0, 0.5), (float("nan"), 0.5), (4.0, -0.1), (4.0, 1.5)])
def test_loss_rejects_bad_settings(t, alpha):
    with pytest.raises(ConfigError):
        DistillationLoss(t, alpha)


def test_criterion_reads_eval_tuple_and_needs_teacher_logits():
    crit = DistillationLoss(2.0, 0.5)
    logits = torch.randn(3, 4)
    batch = {"cls": torch.tensor([0, 1, 2]), "teacher_logits": torch.randn(3, 4)}
    a, _ = crit(logits, batch)
    b, _ = crit((logits.softmax(1), logits), batch)  # Ultralytics' eval-mode output
    assert float(a) == pytest.approx(float(b))
    with pytest.raises(ModelError, match="teacher_logits"):
        crit(logits, {"cls": batch["cls"]})


def test_teacher_sees_what_predict_sees(model_path, image_paths):
    """On a batch built like Ultralytics' classify transforms, the teacher's logits are predict's logits."""
    from ultralytics.data.augment import classify_transforms

    from yolo_probs import YoloProbs

    teacher = Teacher(model_path, device=DEVICE)
    assert teacher.imgsz == 64 and teacher.names == tuple(str(i) for i in range(10))
    from PIL import Image

    tf = classify_transforms(64)
    batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in image_paths])
    got = teacher.logits(batch)
    assert got.shape == (len(image_paths), 10) and not got.requires_grad
    with YoloProbs(model_path, device=DEVICE) as clf:
        expected = np.stack([p.logits for p in clf.predict([str(p) for p in image_paths])])
    np.testing.assert_allclose(got.cpu().numpy(), expected, atol=1e-4)
    # a student batch at 32 px is resized to the teacher's 64 px: same classes, one row each
    small = torch.nn.functional.interpolate(batch, size=(32, 32), mode="bilinear", antialias=True)
    assert teacher.logits(small).argmax(1).tolist()[:5] == got.argmax(1).tolist()[:5]
    teacher.close()


def test_data_checks(tmp_path):
    root = tmp_path / "d"
    for split, classes in (("train", ["a", "b"]), ("val", ["a"])):
        for c in classes:
            (root / split / c).mkdir(parents=True)
    assert check_distill_data(root, ["a", "b"]) == (root / "train", root / "val")
    with pytest.raises(SourceError, match="sorted folder name"):
        check_distill_data(root, ["b", "a"])  # the student would not keep the teacher's order
    with pytest.raises(SourceError, match="missing: c"):
        check_distill_data(root, ["a", "b", "c"])
    with pytest.raises(SourceError, match="not classes of the teacher: b"):
        check_distill_data(root, ["a"])
    shutil.rmtree(root / "val")
    with pytest.raises(SourceError, match="has no val/ split"):
        check_distill_data(root, ["a", "b"])


# -- one tiny training run, shared by the tests below --
def _tiny_digits(root: Path, train: int = 3, val: int = 1) -> Path:
    """train/<digit>/ and val/<digit>/ with a few of scikit-learn's digits as 64 px PNGs."""
    import cv2
    from sklearn.datasets import load_digits

    digit_to_image = example("train_digits").digit_to_image
    digits = load_digits()
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        for split, members in (("train", idx[:train]), ("val", idx[train : train + val])):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in members:
                cv2.imwrite(str(folder / f"{i:04d}.png"), digit_to_image(digits.images[i]))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_digits(tmp_path_factory.mktemp("tiny") / "digits")


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """``yolo-probs distill`` for 1 epoch at imgsz 32 on 30 images: (checkpoint, stdout, stderr)."""
    out = tmp_path_factory.mktemp("student") / "student.pt"
    model = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
    capture = pytest.MonkeyPatch()
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    try:
        code = main(
            ["distill", str(tiny), "--teacher", str(model), "--student", "yolo26n-cls.yaml", "-t", "4",
             "--alpha", "0.7", "--epochs", "1", "--imgsz", "32", "--batch", "16", "--device", DEVICE,
             "--train-arg", "fliplr=0", "--train-arg", "workers=0", "-o", str(out)]
        )  # fmt: skip
    finally:
        capture.undo()
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def test_distill_reports_the_distillation_loss(trained):
    _, out, err = trained
    epoch = re.search(r"epoch 1/1\s+loss ([\d.]+)\s+kd ([\d.]+)\s+ce ([\d.]+)", err)
    assert epoch, err
    loss, kd, ce = map(float, epoch.groups())
    assert kd > 0 and ce > 0 and loss == pytest.approx(0.7 * kd + 0.3 * ce, abs=2e-3)  # the loss Ultralytics used
    assert "yolo-probs: wrote" in err and "teacher at 64" in err and "T=4" in err and "alpha=0.7" in err
    assert "wrote" not in out  # stdout is for results; what was written goes to stderr


def test_student_loads_in_yoloprobs_and_ultralytics(trained, image_paths):
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    path, _, _ = trained
    yolo = YOLO(str(path))
    assert yolo.task == "classify" and list(yolo.names.values()) == [str(i) for i in range(10)]
    assert yolo.overrides.get("imgsz") == 32
    with YoloProbs(path, device=DEVICE, temperature=2.0) as clf:
        (p,) = clf.predict(str(image_paths[0]))
    assert clf.names == tuple(str(i) for i in range(10)) and abs(float(p.probs.sum()) - 1) < 1e-5
    # an ordinary checkpoint: nothing of yolo-probs pickled inside (the loss is stripped on save)
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert not any(b"yolo_probs" in z.read(n) for n in z.namelist() if n.endswith(".pkl"))


def test_student_pt_with_teacher_classes_is_accepted(trained, tiny, tmp_path):
    """A .pt student with the teacher's classes passes the checks (training it again is not needed here)."""
    from yolo_probs.distill.train import _check_student

    path, _, _ = trained
    _check_student(str(path), tuple(str(i) for i in range(10)))
    with pytest.raises(ModelError, match="differ from the teacher's"):
        _check_student(str(path), tuple("abcdefghij"))


@pytest.fixture(scope="module")
def wide_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .pt classifier with 1000 classes (yolo26n-cls.yaml's default), saved without training."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("wide") / "wide.pt"
    YOLO("yolo26n-cls.yaml").save(str(path))
    return path


@pytest.mark.parametrize(
    ("case", "change", "needle"),
    [
        ("teacher is not a classifier", {"--teacher": "yolo26n.yaml"}, "not a classifier"),
        ("teacher missing", {"--teacher": "{tmp}/none.pt"}, "not found"),
        ("different class counts", {"--student": "{wide}"}, "has 1000 classes but the teacher has 10"),
        ("T = 0", {"-t": "0"}, "temperature must be a finite number > 0"),
        ("T < 0", {"-t": "-3"}, "temperature must be a finite number > 0"),
        ("alpha > 1", {"--alpha": "1.5"}, "must be in [0, 1]"),
        ("alpha < 0", {"--alpha": "-0.1"}, "must be in [0, 1]"),
        ("DATA without val", {"DATA": "{noval}"}, "has no val/ split"),
        ("DATA without train", {"DATA": "{notrain}"}, "has no train/ split"),
        ("DATA missing", {"DATA": "{tmp}/nowhere"}, "no such folder"),
        ("unwritable -o", {"-o": "/proc/no/student.pt"}, "cannot write"),
        ("-o not .pt", {"-o": "{tmp}/student.onnx"}, "must end in .pt"),
        ("-o is the teacher", {"-o": "{teacher}"}, "is also an input of this run"),
        ("bad train arg", {"--train-arg": "nosuchkey=1"}, "Ultralytics rejected the training arguments"),
        ("two devices", {"--device": "0,1"}, "one device"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, tiny, wide_student, model_path, case, change, needle):
    teacher = tmp_path / "teacher.pt"
    shutil.copy(model_path, teacher)
    noval = tmp_path / "noval"
    shutil.copytree(tiny / "train", noval / "train")
    notrain = tmp_path / "notrain"
    shutil.copytree(tiny / "val", notrain / "val")
    values = {"DATA": str(tiny), "--teacher": str(teacher), "--student": "yolo26n-cls.yaml", "-t": "4",
              "--epochs": "1", "--imgsz": "32", "--device": DEVICE, "-o": str(tmp_path / "out.pt")}  # fmt: skip
    fill = {"tmp": tmp_path, "wide": wide_student, "noval": noval, "notrain": notrain, "teacher": teacher}
    values.update({k: v.format(**fill) for k, v in change.items()})
    args = ["distill", values.pop("DATA")] + [x for kv in values.items() for x in kv]
    before = teacher.read_bytes()
    code, _, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (case, err)
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, (case, err)
    assert not (tmp_path / "out.pt").exists(), case  # nothing left behind
    assert teacher.read_bytes() == before


def test_help(capsys):
    code, out, _ = run(capsys, "distill", "--help")
    assert code == 0 and "--teacher" in out and "--alpha" in out and "--train-arg" in out


def test_python_distill_is_quiet_and_reports_each_epoch_once(tiny, tmp_path, capfd, monkeypatch):
    """distill() from Python: no Ultralytics log on stdout or stderr, one progress call per epoch (issue 18)."""
    import logging

    import ultralytics.utils

    from yolo_probs.distill import distill

    # as in a Python session without YOLO_VERBOSE=False (the test session imported the CLI, which sets it)
    monkeypatch.setattr(ultralytics.utils, "VERBOSE", True)
    monkeypatch.setattr(ultralytics.utils.LOGGER, "level", logging.INFO)
    for handler in ultralytics.utils.LOGGER.handlers:
        if type(handler) is not logging.StreamHandler:  # Ultralytics' own, not pytest's log capture
            continue
        monkeypatch.setattr(handler, "level", logging.INFO)
        monkeypatch.setattr(handler, "stream", sys.stdout)  # capfd's stdout, not the one at import
    seen = []
    result = distill(
        tiny, teacher=ROOT / "examples" / "models" / "digits-yolo26n-cls.pt", student="yolo26n-cls.yaml",
        output=tmp_path / "s.pt", temperature=4, epochs=1, imgsz=32, batch=16, device=DEVICE, workers=0,
        progress=seen.append,
    )  # fmt: skip
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert [(e.epoch, e.epochs, sorted(e.losses)) for e in seen] == [(1, 1, ["ce", "kd", "loss"])]
    assert "metrics/accuracy_top1" in result.metrics  # the best checkpoint's validation, reported once, here


def test_ultralytics_log_is_restored_and_verbose_keeps_it(monkeypatch):
    import logging

    from ultralytics.utils import LOGGER

    from yolo_probs.distill.train import _ultralytics_log

    monkeypatch.setattr(LOGGER, "level", logging.INFO)
    with _ultralytics_log(verbose=False):
        assert LOGGER.getEffectiveLevel() == logging.WARNING
    assert LOGGER.level == logging.INFO
    with _ultralytics_log(verbose=True):
        assert LOGGER.getEffectiveLevel() == logging.INFO
