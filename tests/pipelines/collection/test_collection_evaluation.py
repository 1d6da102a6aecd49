"""Every figure of the accuracy report checked against scikit-learn on the same predictions: on many random
label sets (fast), and on a real labelled folder analysed by the bundled model (its accuracy does not matter,
the agreement does)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from sklearn import metrics

from motivnet_serve.pipelines.collection.evaluation import canonical_label, scores
from motivnet_serve.pipelines.collection.heatmap import draw_confusion
from motivnet_serve.pipelines.collection.schema import EMOTIONS
from tests.pipelines.collection.conftest import MINI, run_cli

# sklearn's balanced accuracy warns when a prediction names a class the truth lacks; the report handles it the same way
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")


def assert_agrees_with_sklearn(report: dict, truths: list[str], guesses: list[str]) -> None:
    present = sorted(set(truths), key=EMOTIONS.index)
    assert report["evaluated"] == len(truths)
    assert report["war"] == pytest.approx(metrics.accuracy_score(truths, guesses))
    assert report["uar"] == pytest.approx(metrics.balanced_accuracy_score(truths, guesses))
    macro = metrics.f1_score(truths, guesses, labels=present, average="macro", zero_division=0)
    assert report["macro_f1"] == pytest.approx(macro)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truths, guesses, labels=list(EMOTIONS), zero_division=0
    )
    for i, emotion in enumerate(EMOTIONS):
        figures = report["per_class"][emotion]
        assert (figures["precision"], figures["recall"], figures["f1"]) == pytest.approx(
            (precision[i], recall[i], f1[i])
        )
        assert figures["support"] == support[i]
    expected = metrics.confusion_matrix(truths, guesses, labels=list(EMOTIONS))
    assert report["confusion"] == {"labels": list(EMOTIONS), "matrix": expected.tolist()}


@pytest.mark.parametrize("seed", range(20))
def test_scores_agree_with_sklearn_on_random_sets(seed):
    rng = random.Random(seed)
    classes = rng.sample(EMOTIONS, rng.randint(1, 7))
    truths = [rng.choice(classes) for _ in range(rng.randint(1, 60))]
    guesses = [truth if rng.random() < 0.5 else rng.choice(EMOTIONS) for truth in truths]
    assert_agrees_with_sklearn(scores(truths, guesses), truths, guesses)


def test_dataset_spellings_map_to_the_seven_and_others_do_not():
    fer2013 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    affectnet = ["Anger", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise", "Happy", "Sad"]
    assert [canonical_label(name) for name in fer2013] == list(EMOTIONS)
    assert {canonical_label(name) for name in affectnet} == set(EMOTIONS)
    assert canonical_label("contempt") is None
    assert canonical_label("bored") is None


def test_the_heat_map_is_a_picture_of_the_matrix():
    matrix = np.eye(7, dtype=int).tolist()
    image = draw_confusion(matrix, EMOTIONS, "title")
    assert image.mode == "RGB"
    assert image.size > (7 * 64, 7 * 64)
    assert len(image.getcolors(maxcolors=10_000)) > 3  # shaded cells, text and background


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_report_of_a_real_labelled_folder_agrees_with_sklearn(analyzed):
    report = analyzed.result.report
    assert report == json.loads((analyzed.output.folder / "report.json").read_text())
    assert (analyzed.output.folder / "confusion.png").stat().st_size > 0
    assert report["model"] == "mini-xception-fer2013"
    assert len(report["checkpoint_sha256"]) == 64
    assert report["counts"] == {"evaluated": 4, "no_face": 1, "excluded": {"contempt": 1, "unknown": 1}}
    faces = analyzed.output.read("faces").to_pylist()
    truths, guesses = [], []
    for source in analyzed.output.read("sources").to_pylist():
        rows = [row for row in faces if row["source"] == source["source"]]
        label = source["true_label"]
        if not rows or canonical_label(label) is None:
            continue
        best = max(rows, key=lambda row: row["score"])
        truths.append(canonical_label(label))
        guesses.append(max(EMOTIONS, key=lambda name: best[name]))
    assert_agrees_with_sklearn(report, truths, guesses)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_evaluate_on_the_command_line_writes_the_same_report(analyzed, tmp_path):
    result = run_cli(
        "evaluate", str(analyzed.inputs), "--out", str(tmp_path), "--no-progress", "--model-dir", str(MINI)
    )
    assert result.returncode == 0, result.stderr
    assert "7 sources analysed (7 ok, 0 failed)" in result.stdout
    assert f"WAR {analyzed.result.report['war']:.4f}" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["confusion"] == analyzed.result.report["confusion"]
