"""Accuracy on a labelled set, from the tables `analyze` wrote: what FER papers report.

The true label of each source is mapped onto the seven basic emotions from the usual dataset spellings
(FER2013's folder names, AffectNet's, plain English); `contempt` (AffectNet's eighth class, which the model
does not predict) and anything unrecognised are left out and counted. A source's prediction is its best
detected face (a photo) or the mean of its faces (a video); sources without a face or that failed are
counted apart, not scored. Figures: accuracy (WAR), mean per-class recall (UAR), macro F1 over the classes
present, per-class precision, recall and F1, and the confusion matrix (rows: truth, columns: prediction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from motivnet_serve.pipelines.collection.schema import EMOTIONS

SPELLINGS = {
    "anger": ("anger", "angry"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "fear": ("fear", "fearful", "afraid", "scared"),
    "happiness": ("happiness", "happy", "joy"),
    "neutral": ("neutral", "calm"),
    "sadness": ("sadness", "sad"),
    "surprise": ("surprise", "surprised"),
}
CANONICAL = {spelling: emotion for emotion, spellings in SPELLINGS.items() for spelling in spellings}
EXCLUDED = frozenset({"contempt"})
"""Real classes of some datasets that the seven-class model cannot answer: left out, counted by name."""


def canonical_label(label: str) -> str | None:
    """The emotion a dataset's label names (case and spaces ignored), or None when it names none of the seven."""
    return CANONICAL.get(label.strip().lower())


def evaluate(sources: pa.Table, faces: pa.Table) -> dict[str, Any]:
    """The report for the labelled sources among `sources`, predicted by their rows in `faces`."""
    predicted = _predictions(faces)
    truths: list[str] = []
    guesses: list[str] = []
    counts: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    for row in sources.select(["source", "status", "true_label"]).to_pylist():
        outcome = _outcome(row, predicted, excluded)
        counts[outcome] += 1
        if outcome == "evaluated":
            truths.append(str(canonical_label(row["true_label"])))
            guesses.append(predicted[row["source"]])
    model = sources.select(["model", "checkpoint_sha256"]).drop_null().to_pylist()[:1] or [{}]
    report = {**model[0], "counts": {**dict(counts), "excluded": dict(sorted(excluded.items()))}}
    return report | scores(truths, guesses)


def _outcome(row: dict[str, Any], predicted: dict[str, str], excluded: Counter[str]) -> str:
    if not row["true_label"]:
        return "unlabelled"
    if canonical_label(row["true_label"]) is None:
        name = row["true_label"].strip().lower()
        excluded[name if name in EXCLUDED else "unknown"] += 1
        return "excluded"
    if row["status"] != "ok":
        return "failed"
    return "evaluated" if row["source"] in predicted else "no_face"


def _predictions(faces: pa.Table) -> dict[str, str]:
    """Per source, the emotion of its best face (highest detector score; a whole image has one face), or of
    the mean over a video's faces."""
    chosen: dict[str, tuple[float, np.ndarray[Any, Any]]] = {}
    sums: dict[str, list[np.ndarray[Any, Any]]] = {}
    for row in faces.select(["source", "kind", "score", *EMOTIONS]).to_pylist():
        probabilities = np.array([row[name] for name in EMOTIONS])
        if row["kind"] == "video":
            sums.setdefault(row["source"], []).append(probabilities)
            continue
        score = row["score"] if row["score"] is not None else 1.0
        if row["source"] not in chosen or score > chosen[row["source"]][0]:
            chosen[row["source"]] = (score, probabilities)
    best = {source: probabilities for source, (_, probabilities) in chosen.items()}
    best |= {source: np.mean(rows, axis=0) for source, rows in sums.items()}
    return {source: EMOTIONS[int(np.argmax(probabilities))] for source, probabilities in best.items()}


def scores(truths: Sequence[str], guesses: Sequence[str]) -> dict[str, Any]:
    """WAR, UAR, macro F1 (over the classes present in the truth), per-class figures and the confusion matrix."""
    index = {emotion: position for position, emotion in enumerate(EMOTIONS)}
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    for truth, guess in zip(truths, guesses):
        matrix[index[truth], index[guess]] += 1
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    correct = np.diag(matrix)
    recall = np.divide(correct, support, out=np.zeros(len(EMOTIONS)), where=support > 0)
    precision = np.divide(correct, predicted, out=np.zeros(len(EMOTIONS)), where=predicted > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(len(EMOTIONS)), where=both > 0)
    present = support > 0
    per_class = {
        emotion: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, emotion in enumerate(EMOTIONS)
    }
    return {
        "evaluated": int(matrix.sum()),
        "war": float(correct.sum() / matrix.sum()) if matrix.sum() else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion": {"labels": list(EMOTIONS), "matrix": matrix.tolist()},
    }
