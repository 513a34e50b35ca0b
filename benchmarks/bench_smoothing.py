"""Temporal smoothing on made-up videos: fewer spurious label switches, same accuracy, little lag.

Each clip shows one handwritten digit at a time (scikit-learn's digits, the shipped model's test split,
upscaled to 64x64) for 2 to 4 seconds, then another digit of another class: a real change. Every frame
is a fresh look at the digit: Gaussian noise, a random blur, and a small shift that wanders frame to
frame. The clip is sampled at 5, 30 and 60 fps (the same seconds, so the same changes), classified
once with the shipped digits model at a temperature fitted on a separate clip, then smoothed with
:class:`~yolo_probs.decisions.smoothing.TemporalSmoother` at several half-lives, averaging
log-probabilities or probabilities, and with a sticky-transition HMM filter for comparison.

Per setting: label switches per minute (and spurious ones: beyond the real changes), accuracy and
ECE (15 bins) of the output, and the lag from a real change until the output first shows the new
class (median). Goal at the default half-life: >= 60% fewer spurious switches than the raw frames,
accuracy not lower, lag < 0.5 s.

Run from the repository root (about a minute on one core); --plot and --table write the docs' figures:
    OMP_NUM_THREADS=1 YOLO_OFFLINE=1 python benchmarks/bench_smoothing.py \\
        --plot docs/img/smoothing_clip.png --table docs/img/smoothing_table.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_probs.api.model import YoloProbs  # noqa: E402
from yolo_probs.calibration import TemperatureScaling  # noqa: E402
from yolo_probs.core.metrics import ece  # noqa: E402
from yolo_probs.core.prediction import Prediction  # noqa: E402
from yolo_probs.decisions.smoothing import DEFAULT_HALF_LIFE, TemporalSmoother  # noqa: E402

MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
SIZE = 64
HALF_LIVES = (0.1, DEFAULT_HALF_LIFE, 0.3, 1.0)
FPS = (5, 30, 60)


def test_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The shipped model's test split (as examples/train_digits.py makes it): 8x8 images and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    keep = []
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        rng.shuffle(idx)
        keep += list(idx[round(len(idx) * 0.6) + round(len(idx) * 0.2) :])
    keep_arr = np.array(sorted(keep))
    return digits.images[keep_arr], digits.target[keep_arr]


def to_image(pixels: np.ndarray, paper: float = 255.0) -> np.ndarray:
    """One 8x8 digit as a 64x64 grey image, dark ink on paper of this grey level (white: as the model was trained)."""
    grey = (paper * (1 - pixels.astype(np.float32) / 16.0)).clip(0, 255)
    return cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


@dataclass
class Clip:
    """A clip's script in seconds: which digit is on screen when; frames are drawn at any rate from it."""

    starts: np.ndarray  # segment start times
    digits: list[np.ndarray]  # the 64x64 grey image of each segment
    labels: np.ndarray  # its class
    duration: float

    @classmethod
    def make(cls, images: np.ndarray, labels: np.ndarray, duration: float, seed: int, shots: bool = False) -> Clip:
        """A script; ``shots``: each new digit is a new shot (a paper of another grey), else the same paper."""
        rng = np.random.default_rng(seed)
        starts, chosen, classes, t, last = [], [], [], 0.0, -1
        paper = 255.0
        while t < duration:
            i = int(rng.integers(len(images)))
            while labels[i] == last:
                i = int(rng.integers(len(images)))
            if shots:  # another paper, at least 50 grey levels away from the last one
                paper = float(rng.choice([p for p in np.arange(185.0, 256.0, 10.0) if abs(p - paper) >= 50]))
            starts.append(t)
            chosen.append(to_image(images[i], paper))
            classes.append(int(labels[i]))
            last = int(labels[i])
            t += float(rng.uniform(2.0, 4.0))
        return cls(np.array(starts), chosen, np.array(classes), duration)

    def frames(self, fps: float, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """The frames at ``fps`` (BGR uint8), their times and true labels."""
        rng = np.random.default_rng(seed)
        times = np.arange(0.0, self.duration, 1.0 / fps)
        shift = np.zeros(2)
        out, truth = [], []
        for t in times:
            seg = int(np.searchsorted(self.starts, t, side="right") - 1)
            # The shift wanders (a random walk in time: the same path statistics at any frame rate).
            shift = np.clip(shift + rng.normal(0, 3.0 / np.sqrt(fps), 2), -3, 3)
            m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
            img = cv2.warpAffine(self.digits[seg], m, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)
            sigma = rng.uniform(0.3, 1.5)
            img = cv2.GaussianBlur(img, (0, 0), sigma)
            img = img + rng.normal(0, 50.0, img.shape)
            out.append(cv2.cvtColor(img.clip(0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
            truth.append(self.labels[seg])
        return out, times, np.array(truth)


def hmm_filter(probs: np.ndarray, times: np.ndarray, changes_per_s: float = 1 / 3) -> np.ndarray:
    """A forward filter with sticky transitions: the class stays with probability exp(-rate dt), else any."""
    k = probs.shape[1]
    belief = np.full(k, 1.0 / k)
    out = np.empty_like(probs)
    prev = times[0]
    for i, (p, t) in enumerate(zip(probs, times, strict=True)):
        stay = np.exp(-changes_per_s * (t - prev))
        belief = stay * belief + (1 - stay) / k
        belief = belief * np.maximum(p, 1e-6)
        belief /= belief.sum()
        out[i], prev = belief, t
    return out


def measure(probs: np.ndarray, truth: np.ndarray, times: np.ndarray) -> dict[str, float]:
    """Switches and spurious switches per minute, accuracy, ECE and the median lag of ``probs`` over a clip."""
    label = probs.argmax(1)
    minutes = (times[-1] - times[0] + (times[1] - times[0])) / 60
    switches = int((label[1:] != label[:-1]).sum())
    changes = np.flatnonzero(truth[1:] != truth[:-1]) + 1
    lags = []
    for c in changes:
        shown = np.flatnonzero(label[c:] == truth[c])
        end = np.flatnonzero(truth[c:] != truth[c])
        limit = end[0] if len(end) else len(truth) - c
        lags.append(times[c + shown[0]] - times[c] if len(shown) and shown[0] < limit else np.nan)
    return {
        "switches": switches / minutes,
        "spurious": max(switches - len(changes), 0) / minutes,
        "accuracy": float((label == truth).mean()),
        "ece": ece(probs, truth),
        "lag": float(np.nanmedian(lags)) if lags else float("nan"),
    }


def smooth(
    preds: list[Prediction],
    times: np.ndarray,
    frames: list[np.ndarray],
    half_life: float,
    space: str,
    cuts: float | None = 0.2,
) -> np.ndarray:
    """The smoothed probabilities of a clip (``cuts``: the scene-cut threshold, None: no resets)."""
    s = TemporalSmoother(half_life, space=space, cut_threshold=cuts)  # type: ignore[arg-type]
    return np.stack([s.step(p, t, img).probs for p, t, img in zip(preds, times, frames, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="clip length (the same script at every rate)")
    ap.add_argument("--plot", type=Path, help="write a PNG of one clip: raw vs smoothed probability of the true class")
    ap.add_argument("--table", type=Path, help="write the table as Markdown here too")
    args = ap.parse_args()
    start = time.perf_counter()
    images, labels = test_digits()
    with YoloProbs(MODEL, imgsz=SIZE, device="cpu", batch=32, top_k=3) as clf:
        # The temperature is fitted on a clip of its own (other digits order, other noise), as a profile would be.
        cal_frames, _, cal_truth = Clip.make(images, labels, 40.0, seed=99).frames(10, seed=98)
        cal_logits = np.stack([p.logits for p in clf.predict(cal_frames)])
        clf.calibrator = TemperatureScaling().fit(cal_logits, cal_truth)
        print(f"temperature fitted on a 40 s calibration clip: T = {clf.temperature:.3f}")
        clip = Clip.make(images, labels, args.seconds, seed=1)
        runs = {}
        for fps in FPS:
            frames, times, truth = clip.frames(fps, seed=fps)
            preds = clf.predict(frames)
            runs[fps] = (frames, times, truth, preds)
        # The same, but each new digit is a new shot (another paper): the scene-cut reset can act.
        frames, times, truth = Clip.make(images, labels, args.seconds, seed=1, shots=True).frames(30, seed=30)
        shots = (frames, times, truth, clf.predict(frames))
    rows = []
    for fps, (frames, times, truth, preds) in runs.items():
        raw = np.stack([p.probs for p in preds])
        rows.append((fps, "raw frames", "-", measure(raw, truth, times)))
        for h in HALF_LIVES:
            for space in ("log", "prob"):
                rows.append(
                    (fps, f"{space} average", f"{h:g}", measure(smooth(preds, times, frames, h, space), truth, times))
                )
        rows.append((fps, "sticky HMM", "-", measure(hmm_filter(raw, times), truth, times)))
    shot_rows = []
    frames, times, truth, preds = shots
    shot_rows.append((30, "raw frames", "-", measure(np.stack([p.probs for p in preds]), truth, times)))
    for h in (DEFAULT_HALF_LIFE, 1.0):
        for cuts in (None, 0.2):
            probs = smooth(preds, times, frames, h, "log", cuts)
            shot_rows.append(
                (30, "log average" + (", reset on cuts" if cuts else ""), f"{h:g}", measure(probs, truth, times))
            )
    table = _table(rows) + "\n\nEach change a new shot (30 fps):\n\n" + _table(shot_rows)
    print(table)
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table + "\n")
    if args.plot:
        frames, times, truth, preds = runs[30]
        _plot(args.plot, preds, frames, times, truth)


def _table(rows: list[tuple[int, str, str, dict[str, float]]]) -> str:
    lines = [
        "| fps | output | half-life (s) | switches/min | spurious/min | fewer spurious | accuracy | ECE | lag (s) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base: dict[int, float] = {}
    for fps, what, h, m in rows:
        if what == "raw frames":
            base[fps] = m["spurious"]
        fewer = 1 - m["spurious"] / base[fps] if base[fps] else 0.0
        lines.append(
            f"| {fps} | {what} | {h} | {m['switches']:.1f} | {m['spurious']:.1f} | {fewer:.0%} | "
            f"{m['accuracy']:.3f} | {m['ece']:.3f} | {m['lag']:.2f} |"
        )
    return "\n".join(lines)


def _plot(path: Path, preds: list[Prediction], frames: list[np.ndarray], times: np.ndarray, truth: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = np.stack([p.probs for p in preds])
    smoothed = smooth(preds, times, frames, DEFAULT_HALF_LIFE, "log")
    keep = times < 20.0
    idx = np.arange(len(truth))
    fig, ax = plt.subplots(figsize=(10, 3.9), dpi=110, layout="constrained")
    ax.plot(times[keep], raw[idx, truth][keep], color="0.6", lw=0.8, label="raw frame (30 fps)")
    ax.plot(
        times[keep], smoothed[idx, truth][keep], color="C0", lw=2, label=f"smoothed, half-life {DEFAULT_HALF_LIFE:g} s"
    )
    for c in np.flatnonzero(truth[1:] != truth[:-1]) + 1:
        if times[c] < 20.0:
            ax.axvline(times[c], color="C3", ls=":", lw=1)
            ax.text(times[c] + 0.05, 1.02, str(truth[c]), color="C3", fontsize=9)
    ax.set_xlabel("time (s); red: the digit on screen changes (to the digit named)")
    ax.set_ylabel("probability of the true class")
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlim(0, 20)
    fig.legend(loc="outside upper center", ncols=2, frameon=False)  # above the axes: it hides no curve
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
