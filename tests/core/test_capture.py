"""Finding the logits layer and the forward hook that captures it."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from yolo_probs.core.capture import LogitCapture, find_logits_layer
from yolo_probs.errors import ConfigError, ModelError


class TimmLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Linear(4, 8)
        self.head = nn.Linear(8, 3)
        self.aux = nn.Linear(8, 2)  # the last Linear, but not the classifier

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x):
        return self.head(self.features(x))


def test_order_explicit_then_get_classifier_then_last_linear():
    net = TimmLike()
    assert find_logits_layer(net, "features")[0] == "features"
    assert find_logits_layer(net)[0] == "head"
    plain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert find_logits_layer(plain) == ("2", plain[2])


def test_ultralytics_classify_linear():
    from ultralytics.nn.tasks import ClassificationModel

    model = ClassificationModel("yolov8n-cls.yaml", nc=7, verbose=False)
    name, layer = find_logits_layer(model)
    assert name.endswith(".linear") and layer.out_features == 7


def test_errors_list_candidates():
    convs = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ModelError, match=r"no nn.Linear layer.*candidates|one of: 0, 1, 2"):
        find_logits_layer(convs)
    with pytest.raises(ModelError, match=r"'nope' does not exist.*candidates: 0, 1, 2"):
        find_logits_layer(convs, "nope")


def test_hook_is_removed_on_exit_and_close_is_idempotent():
    layer = nn.Linear(4, 3)
    with LogitCapture(layer) as cap:
        assert len(layer._forward_hooks) == 1
        out = layer(torch.ones(2, 4))
        assert torch.equal(cap.pop(), out)
        with pytest.raises(ModelError, match="no logits were captured"):
            cap.pop()  # popped already: nothing stale is handed out twice
    assert len(layer._forward_hooks) == 0
    cap.close()
    assert not cap.active


def test_each_thread_reads_its_own_output():
    layer = nn.Linear(4, 3)
    barrier = threading.Barrier(4)
    ok: list[bool] = []
    with LogitCapture(layer) as cap:

        def work(i: int) -> None:
            x = torch.full((1, 4), float(i))
            out = layer(x)
            barrier.wait()  # every thread has run the layer before anyone reads
            ok.append(torch.equal(cap.pop(), out))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert ok == [True] * 4


def test_what_is_not_a_module_is_named() -> None:
    for bad in (None, "model.pt", 5):
        with pytest.raises(ModelError, match=r"model must be a torch\.nn\.Module"):
            find_logits_layer(bad)  # type: ignore[arg-type]
        with pytest.raises(ModelError, match=r"module must be a torch\.nn\.Module"):
            LogitCapture(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="layer must be the name of a layer"):
        find_logits_layer(torch.nn.Linear(2, 2), layer=5)  # type: ignore[arg-type]
