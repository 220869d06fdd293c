"""Hand-computed cases for tests/data/nab_score.py.

Run from the repository root:  python3 -m unittest discover -s tests/data -p 'test_*.py'
(or `python3 tests/data/test_nab_score.py`).
"""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_score as nab  # noqa: E402

STD = nab.PROFILES["standard"]


def labels_with(n, events):
    """n rows, label 1 on each (first, last) of `events`."""
    labels = [0] * n
    for a, b in events:
        for i in range(a, b + 1):
            labels[i] = 1
    return labels


def scores_with(n, hits):
    """n rows scoring 0, except {row: score}."""
    s = [0.0] * n
    for i, v in hits.items():
        s[i] = v
    return s


def sweep_score(rel):
    return 2.0 / (1.0 + math.exp(5.0 * rel)) - 1.0


class ScaledSigmoid(unittest.TestCase):
    def test_documented_values(self):
        # nab/sweeper.py docstring: -1 -> 0.98661, -0.5 -> 0.84828, 0 -> 0, 1 -> -0.98661
        self.assertAlmostEqual(nab.scaled_sigmoid(-1.0), 0.98661, places=5)
        self.assertAlmostEqual(nab.scaled_sigmoid(-0.5), 0.84828, places=5)
        self.assertEqual(nab.scaled_sigmoid(0.0), 0.0)
        self.assertAlmostEqual(nab.scaled_sigmoid(1.0), -0.98661, places=5)
        self.assertEqual(nab.scaled_sigmoid(3.5), -1.0)

    def test_probationary_length(self):
        # nab tests/integration/sweeper_test.py testGetProbationaryLength
        self.assertEqual(nab.probationary_length(100, 0.15), 15)
        self.assertEqual(nab.probationary_length(5000, 0.1), 500)
        self.assertEqual(nab.probationary_length(6000, 0.1), 500)
        self.assertEqual(nab.probationary_length(1000), 150)
        self.assertEqual(nab.probationary_length(8000), 750)


class Windows(unittest.TestCase):
    def test_centred_on_first_row_and_extended_to_the_event_end(self):
        # 2000 rows, 2 events: length int(0.1*2000/2) = 100, half 50, centred on first rows
        labels = labels_with(2000, [(600, 600), (1400, 1699)])
        self.assertEqual(nab.file_windows(labels), [(550, 650), (1350, 1699)])
        self.assertEqual(nab.file_windows(labels, extend_to_event_end=False),
                         [(550, 650), (1350, 1450)])

    def test_odd_length_and_clipping(self):
        # 1000 rows, 3 events: int(100/3) = 33, half 16; the last is clipped at row 999
        labels = labels_with(1000, [(300, 300), (600, 601), (990, 990)])
        self.assertEqual(nab.file_windows(labels), [(284, 316), (584, 616), (974, 999)])

    def test_overlapping_windows_merge(self):
        labels = labels_with(2000, [(600, 600), (640, 640)])
        info = {}
        self.assertEqual(nab.file_windows(labels, info=info), [(550, 690)])
        self.assertEqual(info["merged"], 1)

    def test_first_window_reaching_into_probation_is_deleted(self):
        # checkWindows: window [130, 230] starts before the probationary row 150
        labels = labels_with(1000, [(180, 180), (700, 700)])
        info = {}
        # 2 events -> length 50, half 25: [155, 205] starts after 150, kept
        self.assertEqual(nab.file_windows(labels, info=info), [(155, 205), (675, 725)])
        labels = labels_with(1000, [(180, 180)])
        self.assertEqual(nab.file_windows(labels, info=info), [])
        self.assertEqual(info["dropped"], 1)


class OneFile(unittest.TestCase):
    """1000 rows, one fault on rows 500..509: window [450, 550] (101 rows), probation 150."""

    N = 1000
    LABELS = labels_with(1000, [(500, 509)])

    def score(self, hits, profile="standard"):
        res = nab.score_corpus([("f", self.LABELS, scores_with(self.N, hits))],
                               profiles={profile: nab.PROFILES[profile]})
        return res[profile]

    def test_window(self):
        self.assertEqual(nab.file_windows(self.LABELS), [(450, 550)])

    def test_perfect_detector_scores_100(self):
        for p in nab.PROFILES:
            r = self.score({450: 1.0}, p)
            self.assertAlmostEqual(r["raw"], 1.0, places=12)
            self.assertAlmostEqual(r["score"], 100.0, places=9)
            self.assertEqual(r["threshold"], 1.0)

    def test_null_detector_scores_0(self):
        for p in nab.PROFILES:
            for hits in ({}, {i: 0.5 for i in range(self.N)}):  # all zero; NAB's constant 0.5
                r = self.score(hits, p)
                self.assertEqual(r["raw"], -nab.PROFILES[p]["fnWeight"])
                self.assertEqual(r["score"], 0.0)
                self.assertEqual(r["threshold"], nab.NOTHING)

    def test_false_positive_before_any_window_costs_the_fp_weight(self):
        # same score as the TP, so no threshold can separate them
        r = self.score({300: 1.0, 450: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0 - 0.11, places=12)
        self.assertAlmostEqual(r["score"], 100 * (0.89 + 1) / 2, places=9)  # 94.5
        r = self.score({300: 1.0, 450: 1.0}, "reward_low_FP_rate")
        self.assertAlmostEqual(r["score"], 100 * (0.78 + 1) / 2, places=9)  # 89.0
        r = self.score({300: 1.0, 450: 1.0}, "reward_low_FN_rate")
        self.assertAlmostEqual(r["score"], 100 * (0.89 + 2) / 3, places=9)  # 96.33

    def test_false_positive_after_a_window_is_weighted_by_distance(self):
        # row 600: |550 - 600| / (101 - 1) = 0.5 -> 0.11 * scaledSigmoid(0.5) = -0.09331
        r = self.score({450: 1.0, 600: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0 + 0.11 * sweep_score(0.5), places=12)
        self.assertAlmostEqual(0.11 * sweep_score(0.5), -0.0933111, places=6)
        # row 900: 350 / 100 = 3.5 > 3 -> the full -0.11
        r = self.score({450: 1.0, 900: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0 - 0.11, places=12)
        # just past the window costs almost nothing: row 551 -> 1/100
        r = self.score({450: 1.0, 551: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0 + 0.11 * sweep_score(0.01), places=12)

    def test_late_detection_earns_less_than_an_early_one(self):
        early = self.score({450: 1.0})["raw"]
        middle = self.score({500: 1.0})["raw"]
        late = self.score({550: 1.0})["raw"]
        # row 500: -(550 - 500 + 1) / 101; row 550: -1 / 101; divided by maxTP
        self.assertAlmostEqual(middle, sweep_score(-51 / 101) / sweep_score(-1.0), places=12)
        self.assertAlmostEqual(late, sweep_score(-1 / 101) / sweep_score(-1.0), places=12)
        self.assertGreater(early, middle)
        self.assertGreater(middle, late)
        self.assertGreater(late, 0.0)
        self.assertAlmostEqual(middle, 0.86327, places=5)  # 0.851704 / 0.986614

    def test_only_the_first_detection_in_a_window_counts(self):
        r = self.score({450: 1.0, 470: 1.0, 500: 1.0, 540: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0, places=12)
        self.assertEqual(r["windows_detected"], 1)
        r = self.score({500: 1.0, 520: 1.0})
        self.assertAlmostEqual(r["raw"], sweep_score(-51 / 101) / sweep_score(-1.0), places=12)

    def test_probationary_rows_are_not_scored(self):
        r = self.score({100: 1.0, 149: 1.0, 450: 1.0})
        self.assertAlmostEqual(r["raw"], 1.0, places=12)
        r = self.score({150: 1.0, 450: 1.0})
        self.assertAlmostEqual(r["raw"], 0.89, places=12)

    def test_threshold_sweep_keeps_the_best_threshold(self):
        # an FP scoring 0.9 above the TP (0.8) can be avoided only by missing the window:
        # 0.9 -> -1 - 0.11, 0.8 -> 1 - 0.11: the sweep takes 0.8
        r = self.score({300: 0.9, 450: 0.8})
        self.assertEqual(r["threshold"], 0.8)
        self.assertAlmostEqual(r["raw"], 0.89, places=12)
        # an FP below the TP is cut off by the threshold
        r = self.score({300: 0.7, 450: 0.8})
        self.assertEqual(r["threshold"], 0.8)
        self.assertAlmostEqual(r["raw"], 1.0, places=12)

    def test_ties_keep_the_highest_threshold(self):
        # a second detection in the window adds nothing: 1.0 and 0.5 score the same
        r = self.score({450: 1.0, 460: 0.5})
        self.assertEqual(r["threshold"], 1.0)


class Corpus(unittest.TestCase):
    def test_one_threshold_for_the_whole_corpus(self):
        a = labels_with(1000, [(500, 500)])
        b = labels_with(1000, [(500, 500)])
        files = [("a", a, scores_with(1000, {450: 0.8})),
                 ("b", b, scores_with(1000, {300: 0.9, 450: 0.9}))]
        r = nab.score_corpus(files, profiles={"standard": STD})["standard"]
        # 0.9 alone: a misses (-1), b 1 - 0.11; 0.8: both detected, b's FP stays
        self.assertEqual(r["threshold"], 0.8)
        self.assertAlmostEqual(r["raw"], 1.89, places=12)
        self.assertEqual((r["null"], r["perfect"]), (-2.0, 2.0))
        self.assertAlmostEqual(r["score"], 100 * 3.89 / 4, places=9)
        self.assertAlmostEqual(r["files"]["a"]["raw"], 1.0, places=12)
        self.assertAlmostEqual(r["files"]["b"]["raw"], 0.89, places=12)

    def test_groups_are_normalised_at_the_corpus_threshold(self):
        a = labels_with(1000, [(500, 500)])
        quiet = [0] * 1000
        files = [("a", a, scores_with(1000, {450: 1.0})),
                 ("q", quiet, scores_with(1000, {600: 1.0}))]
        r = nab.score_corpus(files, profiles={"standard": STD},
                             groups={"a": "faulty", "q": "quiet"})["standard"]
        self.assertAlmostEqual(r["raw"], 1.0 - 0.11, places=12)
        self.assertAlmostEqual(r["groups"]["faulty"]["score"], 100.0, places=9)
        # a file with no window has null == perfect == 0: no normalised score, raw -0.11
        self.assertIsNone(r["groups"]["quiet"]["score"])
        self.assertAlmostEqual(r["groups"]["quiet"]["raw"], -0.11, places=12)


class SweepAsNab(unittest.TestCase):
    def test_calc_score_by_threshold_matches_nabs_own_test(self):
        # numenta/NAB tests/integration/sweeper_test.py
        # testCalcScoreByThresholdReturnsExpectedScores (NAB's first threshold is 1.1)
        fn = 5.0
        P = nab.Point
        pts = [P(0.5, -1000, "probationary"), P(0.5, -1000, "probationary"),
               P(0.0, -3, None), P(0.2, 20, "windowA"), P(0.3, 10, "windowA"),
               P(0.5, 5, "windowB"), P(0.5, -3, None)]
        got = nab.score_by_threshold(pts, {"tpWeight": 1, "fpWeight": 1, "fnWeight": fn})
        T = nab.ThresholdScore
        self.assertEqual(got, [
            T(nab.NOTHING, -2 * fn, 0, 2, 0, 3),
            T(0.5, 5 - 3 - fn, 1, 1, 1, 2),
            T(0.3, 5 - 3 + 10, 2, 1, 1, 1),
            T(0.2, 5 - 3 + 20, 3, 1, 1, 0),
            T(0.0, 5 - 3 + 20 - 3, 3, 0, 2, 0),
        ])

    def test_window_rows_positive_others_negative(self):
        # numenta/NAB sweeper_test.py testCalcSweepScoreWindowScoreInteraction
        pts = nab.sweep_points([1] * 100, [(30, 39), (75, 95)], STD, "T", probation_percent=0.1)
        self.assertEqual(sum(p.window == "probationary" for p in pts), 10)
        self.assertEqual(sum(p.window not in ("probationary", None) for p in pts), 10 + 21)
        for p in pts:
            if p.window not in ("probationary", None):
                self.assertGreater(p.sweep, 0)
            else:
                self.assertLess(p.sweep, 0)


if __name__ == "__main__":
    unittest.main()
