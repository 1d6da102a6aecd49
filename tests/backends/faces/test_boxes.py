"""Batched face selection: greedy NMS against a one-box-at-a-time reference, and each setting's effect."""

from __future__ import annotations

import pytest
import torch

from motivnet_serve.backends.faces.boxes import Candidates, greedy_nms, pairwise_iou, select_faces
from motivnet_serve.core.loading import detector_settings
from motivnet_serve.settings import Settings


def _sequential_nms(iou: torch.Tensor, threshold: float) -> list[int]:
    kept: list[int] = []
    for i in range(iou.shape[0]):
        if all(iou[j, i] <= threshold for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("spread", [40.0, 300.0])
def test_greedy_nms_equals_the_sequential_algorithm(spread):
    torch.manual_seed(1)
    corners = torch.rand(3, 300, 2) * spread
    boxes = torch.cat([corners, corners + torch.rand(3, 300, 2) * 50 + 5], dim=-1)
    valid = torch.rand(3, 300) > 0.1
    keep = greedy_nms(boxes, valid, 0.4)
    iou = pairwise_iou(boxes)
    for b in range(3):
        indices = valid[b].nonzero().flatten()
        expected = indices[_sequential_nms(iou[b][indices][:, indices], 0.4)]
        assert keep[b].nonzero().flatten().tolist() == expected.tolist()


def _candidates(boxes: list[list[float]], scores: list[float]) -> Candidates:
    box_tensor = torch.tensor([boxes])
    centres = (box_tensor[..., :2] + box_tensor[..., 2:]) / 2
    return Candidates(box_tensor, torch.tensor([scores]), centres[:, :, None, :].expand(-1, -1, 5, 2))


def test_select_keeps_best_first_and_drops_overlaps_low_scores_and_small_faces():
    boxes = [[0, 0, 100, 100], [2, 2, 102, 102], [200, 0, 300, 100], [400, 0, 410, 10], [500, 0, 600, 100]]
    scores = [0.95, 0.99, 0.92, 0.99, 0.5]
    [faces] = select_faces(_candidates(boxes, scores), detector_settings(Settings().detector))
    assert [face.box for face in faces] == [(2.0, 2.0, 102.0, 102.0), (200.0, 0.0, 300.0, 100.0)]
    assert faces[0].landmarks["nose"] == (52.0, 52.0)


def test_select_on_a_batch_with_nothing_found():
    empty = Candidates(torch.zeros(2, 4, 4), torch.zeros(2, 4), torch.zeros(2, 4, 5, 2))
    assert select_faces(empty, detector_settings(Settings().detector)) == [[], []]


def test_scaled_candidates_return_to_original_pixels():
    candidates = _candidates([[10, 20, 30, 40]], [1.0]).scaled(2.0, 4.0)
    assert candidates.boxes.tolist() == [[[5.0, 5.0, 15.0, 10.0]]]
    assert candidates.landmarks[0, 0, 0].tolist() == [10.0, 7.5]
