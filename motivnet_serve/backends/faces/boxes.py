"""From every anchor's decoded box to the faces kept: threshold, top-k, greedy NMS, size filter, batched.

Boxes count their sides inclusively (width = x2 - x1 + 1) in the overlap test, as both RetinaFace
references do, so borderline overlaps are decided the same way they decide them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from motivnet_serve.backends.faces.face import LANDMARK_NAMES, DetectorSettings, Face


class Candidates(NamedTuple):
    """Every anchor's prediction: boxes [B, N, 4] (x1, y1, x2, y2), scores [B, N], landmarks [B, N, 5, 2]."""

    boxes: torch.Tensor
    scores: torch.Tensor
    landmarks: torch.Tensor

    def scaled(self, scale_x: float, scale_y: float) -> Candidates:
        """Divide coordinates by the resize factors, back into original-image pixels."""
        factor = self.boxes.new_tensor([scale_x, scale_y])
        return Candidates(
            (self.boxes.view(*self.boxes.shape[:2], 2, 2) / factor).flatten(2),
            self.scores,
            self.landmarks / factor,
        )


def pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """[B, K, 4] -> [B, K, K] intersection over union, sides counted inclusively."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    width = torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :]) + 1
    height = torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :]) + 1
    inter = width.clamp(min=0) * height.clamp(min=0)
    return inter / (areas[:, :, None] + areas[:, None, :] - inter)


def greedy_nms(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Which of the score-sorted boxes [B, K, 4] greedy NMS keeps, as a [B, K] mask, without a Python loop per box.

    A box is kept when no kept box before it overlaps it by more than the threshold. Iterating that rule
    from "keep all" fixes one more leading box per pass, so it reaches greedy NMS's unique answer; in
    practice suppression chains are short and it stops after a few passes.
    """
    count = boxes.shape[1]
    earlier = torch.ones(count, count, dtype=torch.bool, device=boxes.device).triu(diagonal=1)
    suppresses = (pairwise_iou(boxes) > iou_threshold) & earlier & valid[:, :, None]
    keep = valid.clone()
    for _ in range(count):
        updated = valid & ~(suppresses & keep[:, :, None]).any(dim=1)
        if torch.equal(updated, keep):
            break
        keep = updated
    return keep


def select_faces(candidates: Candidates, settings: DetectorSettings) -> list[list[Face]]:
    """Candidates in original pixels -> each image's kept faces, best first, at most `max_faces`."""
    boxes, scores, landmarks = candidates
    eligible = scores >= settings.score_threshold
    count = min(settings.max_candidates, int(eligible.sum(dim=1).max()))
    if count == 0:
        return [[] for _ in range(scores.shape[0])]
    top_scores, order = scores.masked_fill(~eligible, -1.0).topk(count, dim=1)
    top_boxes = boxes.gather(1, order[..., None].expand(-1, -1, 4))
    top_landmarks = landmarks.gather(1, order[..., None, None].expand(-1, -1, 5, 2))
    keep = greedy_nms(top_boxes, top_scores >= 0, settings.nms_iou)
    if settings.min_face_px > 0:
        keep &= _large_enough(top_boxes, settings.min_face_px)
    return [
        _faces(top_boxes[i][keep[i]], top_scores[i][keep[i]], top_landmarks[i][keep[i]], settings.max_faces)
        for i in range(keep.shape[0])
    ]


def _large_enough(boxes: torch.Tensor, min_side: float) -> torch.Tensor:
    """Applied after NMS: before it, a small face's looser duplicate box could pass and be reported instead."""
    return torch.minimum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]) >= min_side


def _faces(boxes: torch.Tensor, scores: torch.Tensor, landmarks: torch.Tensor, limit: int) -> list[Face]:
    rows = zip(boxes[:limit].tolist(), scores[:limit].tolist(), landmarks[:limit].tolist())
    return [
        Face(box=tuple(box), score=score, landmarks={name: tuple(xy) for name, xy in zip(LANDMARK_NAMES, points)})
        for box, score, points in rows
    ]
