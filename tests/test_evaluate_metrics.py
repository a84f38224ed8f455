"""Metric functions (neurotwin.evaluate.metrics) on hand-made cases, checked against values
computed by hand and against scikit-learn, each with a negative control."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import explained_variance_score, roc_auc_score

from neurotwin.evaluate import metrics as M

# A 6-bin case with a tie (0.6) between a positive and a negative. Its ROC points, by hand:
# (0, 0) (0, 1/3) (0, 2/3) (1/3, 1) (2/3, 1) (1, 1): the tie gives the diagonal segment
# (0, 2/3) → (1/3, 1). AUC = 5/18 + 12/18 = 17/18 (Mann-Whitney: 8.5 of 9 pairs).
Y_TIE = np.array([1, 1, 0, 1, 0, 0])
S_TIE = np.array([0.9, 0.8, 0.6, 0.6, 0.3, 0.2])

# 20 positives and 10 negatives whose ROC passes through D = (0.3, 0.75) and E = (0.5, 1):
# Youden's J prefers E (0.5 > 0.45), the G-mean prefers D (0.525 > 0.5, squared).
Y_JG = np.array([0] * 3 + [1] * 15 + [0] * 2 + [1] * 5 + [0] * 5)
S_JG = np.array([0.95] * 3 + [0.9] * 15 + [0.8] * 2 + [0.7] * 5 + [0.6] * 5)


def test_perfect_classifier() -> None:
    y = np.array([0, 0, 1, 0, 1, 0, 0, 0])
    s = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.0, 0.4, 0.5])
    m = M.spike_metrics(y, s)
    assert m["auc"] == 1.0
    assert m["tpr_at_fpr_0.002"] == 1.0 and m["tpr_at_fpr_0.001"] == 1.0
    assert m["partial_auc_0.01_raw"] == pytest.approx(0.01)
    assert m["partial_auc_0.01_normalized"] == pytest.approx(1.0)
    assert m["partial_auc_0.01_mcclish"] == pytest.approx(1.0)
    assert m["num_bins"] == 8 and m["num_spike_bins"] == 2
    # negative control: reversed scores are the worst classifier
    assert M.spike_auc(y, -s) == 0.0
    assert M.tpr_at_fpr(y, -s, 0.002) == 0.0


def test_auc_of_hand_computed_roc_with_a_tie() -> None:
    assert M.spike_auc(Y_TIE, S_TIE) == pytest.approx(17 / 18)
    assert M.spike_auc(Y_TIE, S_TIE) == pytest.approx(roc_auc_score(Y_TIE, S_TIE))
    fpr, tpr, thr = M.roc(Y_TIE, S_TIE)
    np.testing.assert_allclose(fpr, [0, 0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1, 1, 1])
    assert M.spike_auc(Y_TIE, S_TIE[::-1]) != pytest.approx(17 / 18)  # negative control


def test_tpr_at_fpr_interpolates_on_the_roc_curve() -> None:
    # halfway along the tie's diagonal (0, 2/3) → (1/3, 1): 2/3 + 1/6
    assert M.tpr_at_fpr(Y_TIE, S_TIE, 1 / 6) == pytest.approx(5 / 6)
    assert M.tpr_at_fpr(Y_TIE, S_TIE, 0.0) == pytest.approx(2 / 3)  # best TPR at FPR exactly 0
    assert M.tpr_at_fpr(Y_TIE, S_TIE, 1 / 3) == pytest.approx(1.0)
    assert M.tpr_at_fpr_curve(np.array([0, 0.5, 1]), np.array([0, 0.8, 1]), 0.25) == 0.4
    # negative control: the step (not interpolated) value would be 2/3
    assert M.tpr_at_fpr(Y_TIE, S_TIE, 1 / 6) != pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="target FPR"):
        M.tpr_at_fpr(Y_TIE, S_TIE, 1.5)


def test_partial_auc_raw_and_mcclish() -> None:
    # area under (0, 2/3) → (1/6, 5/6): (2/3 + 5/6) / 2 · 1/6 = 1/8
    raw = M.partial_auc_raw(Y_TIE, S_TIE, 1 / 6)
    assert raw == pytest.approx(1 / 8)
    # McClish: 0.5 (1 + (A − m²/2) / (m − m²/2)) = 19/22 with m = 1/6
    mc = M.partial_auc_mcclish(Y_TIE, S_TIE, 1 / 6)
    assert mc == pytest.approx(19 / 22)
    assert mc == pytest.approx(roc_auc_score(Y_TIE, S_TIE, max_fpr=1 / 6))
    # on a random classifier McClish is ~0.5 while the raw area is ~m²/2
    rng = np.random.default_rng(0)
    y = rng.random(200_000) < 0.01
    s = rng.random(y.size)
    assert M.partial_auc_mcclish(y, s, 0.01) == pytest.approx(0.5, abs=0.02)
    m, a = 0.01, M.partial_auc_raw(y, s, 0.01)
    assert a < 0.01 * 0.1  # negative control: far below a perfect classifier's m
    assert M.partial_auc_mcclish(y, s, m) == pytest.approx(
        0.5 * (1 + (a - m * m / 2) / (m - m * m / 2))
    )


def test_youden_and_gmean_thresholds_by_hand() -> None:
    t = M.ideal_thresholds(Y_JG, S_JG)
    y = t["youden"]
    assert y["threshold"] == 0.7 and y["j"] == pytest.approx(0.5)
    assert (y["tpr"], y["fpr"]) == (pytest.approx(1.0), pytest.approx(0.5))
    assert y["precision"] == pytest.approx(20 / 25) and y["recall"] == pytest.approx(1.0)
    assert y["f1"] == pytest.approx(40 / 45)
    g = t["gmean"]
    assert g["threshold"] == 0.9 and g["gmean"] == pytest.approx(math.sqrt(0.525))
    assert (g["tpr"], g["fpr"]) == (pytest.approx(0.75), pytest.approx(0.3))
    assert g["precision"] == pytest.approx(15 / 18) and g["f1"] == pytest.approx(30 / 38)
    # brute force over every threshold agrees
    pos, neg = Y_JG.astype(bool), ~Y_JG.astype(bool)
    above = [np.greater_equal(S_JG, c) for c in S_JG]
    js = [
        (np.sum(pos & a) / 20 - np.sum(neg & a) / 10, c) for a, c in zip(above, S_JG, strict=True)
    ]
    assert max(js)[1] == 0.7
    # negative control: the G-mean threshold is worse by Youden's J (0.45 < 0.5)
    at_g = M.confusion_at(Y_JG, S_JG, g["threshold"])
    assert at_g["tpr"] - at_g["fpr"] == pytest.approx(0.45)


def test_confusion_at_threshold() -> None:
    c = M.confusion_at([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], 0.5)
    assert (c["precision"], c["recall"], c["f1"], c["fpr"]) == (0.5, 0.5, 0.5, 0.5)


def test_one_class_gives_nan_not_an_error() -> None:
    y, s = np.zeros(10), np.linspace(0, 1, 10)
    m = M.spike_metrics(y, s)
    assert math.isnan(m["auc"]) and math.isnan(m["tpr_at_fpr_0.002"])
    assert math.isnan(m["youden"]["threshold"])
    aucs = M.per_sim_auc([[0, 1, 0, 1], [0, 0, 0, 0]], [[0.1, 0.9, 0.2, 0.8], [0.5] * 4])
    assert aucs[0] == 1.0 and math.isnan(aucs[1])


def test_regression_metrics_by_hand() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 5.0])
    m = M.regression_metrics(t, p)
    # errors (0, 0, 0, 1): MAE 1/4, RMSE 1/2, EV = 1 − var(e)/var(t) = 1 − 0.1875/1.25
    assert m == {
        "explained_variance": pytest.approx(0.85),
        "rmse": pytest.approx(0.5),
        "mae": pytest.approx(0.25),
    }
    assert m["explained_variance"] == pytest.approx(explained_variance_score(t, p))
    assert M.regression_metrics(t, p, scale=1000)["rmse"] == pytest.approx(500)
    # negative control: predicting the mean explains nothing
    assert M.regression_metrics(t, np.full(4, 2.5))["explained_variance"] == pytest.approx(0.0)


def test_calibration_known_cases() -> None:
    rng = np.random.default_rng(1)
    spikes = (rng.random((4, 800)) < 0.02).astype(float)
    # predicting every bin's true rate exactly: r = EV = 1
    exact = np.repeat(M.binned_means(spikes[0], 8), 100)
    c = M.calibration(spikes[:1], exact[None, :], bins=8)
    assert c["pearson_r"] == pytest.approx(1.0) and c["explained_variance"] == pytest.approx(1.0)
    assert c["true_rate_hz_mean"] == pytest.approx(spikes[0].mean() * 1000)
    # half the true rate: still r = 1, but EV = 1 − var(t/2)/var(t) = 0.75
    c = M.calibration(spikes, spikes * 0.5, bins=8)
    assert c["pearson_r"] == pytest.approx(1.0) and c["explained_variance"] == pytest.approx(0.75)
    # rows of different lengths are binned separately
    c = M.calibration([spikes[0], spikes[1, :400]], [spikes[0], spikes[1, :400]], bins=8)
    assert c["pearson_r"] == pytest.approx(1.0)
    # negative control: predictions of another simulation are uncorrelated
    c = M.calibration(spikes, spikes[::-1], bins=8)
    assert abs(c["pearson_r"]) < 0.5
