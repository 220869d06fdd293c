"""Hand-computed cases for the alert measures of tests/data/evaluate_corpus.py.

Run from the repository root:  python3 -m unittest discover -s tests/data -p 'test_*.py'
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate_corpus as ev  # noqa: E402


class Episodes(unittest.TestCase):
    def test_runs_of_non_empty_severity_with_their_highest_level(self):
        lv = [0, 1, 2, 0, 0, 3, 3, 1, 0, 1]
        self.assertEqual(ev.episodes(lv), [(1, 2, 2), (5, 7, 3), (9, 9, 1)])
        self.assertEqual(ev.episodes([0, 0]), [])

    def test_event_detection_and_false_alarms(self):
        # 1000 rows, one fault on rows 500..509: region = window [450, 550]
        labels = [0] * 1000
        for i in range(500, 510):
            labels[i] = 1
        lv = [0] * 1000
        lv[540] = ev.WARNING  # inside the window after the fault: detects the event
        lv[300] = ev.CRITICAL  # false, critical
        lv[700] = lv[701] = ev.WARNING  # false, warning
        lv[800] = 1  # info only: neither detection nor false alarm at >= warning
        fig = ev.alert_figures(labels, lv)
        self.assertEqual(fig["events"], 1)
        self.assertEqual(fig["events_detected"], 1)
        self.assertEqual(fig["false_alarms_warning"], 2)
        self.assertEqual(fig["false_alarms_critical"], 1)
        self.assertEqual(fig["episodes"], 4)

    def test_an_episode_that_starts_before_and_overlaps_the_region_counts(self):
        labels = [0] * 1000
        labels[500] = 1
        lv = [0] * 1000
        for i in range(400, 460):
            lv[i] = ev.WARNING
        fig = ev.alert_figures(labels, lv)
        self.assertEqual((fig["events_detected"], fig["false_alarms_warning"]), (1, 0))
        # info-level alerts do not detect
        lv = [1 if x else 0 for x in lv]
        self.assertEqual(ev.alert_figures(labels, lv)["events_detected"], 0)


class RocAuc(unittest.TestCase):
    def test_perfect_and_reversed(self):
        self.assertEqual(ev.roc_auc([0.1, 0.2, 0.9], [0, 0, 1]), 1.0)
        self.assertEqual(ev.roc_auc([0.9, 0.2, 0.1], [0, 0, 1]), 0.0)

    def test_ties_take_average_ranks(self):
        self.assertEqual(ev.roc_auc([0, 0, 0, 0], [0, 1, 0, 1]), 0.5)
        # positives {1, 0}, negatives {0, 0}: pairs (1>0) x2 = 1 each, (0=0) x2 = 0.5 each
        self.assertAlmostEqual(ev.roc_auc([1, 0, 0, 0], [1, 1, 0, 0]), 0.75)

    def test_one_class_has_no_auc(self):
        self.assertIsNone(ev.roc_auc([0.1, 0.2], [0, 0]))


class Times(unittest.TestCase):
    def test_formats(self):
        self.assertEqual(ev.parse_time("1970-01-02T00:00:00Z"), 86400.0)
        self.assertEqual(ev.parse_time("1970-01-02 00:00:00"), 86400.0)
        self.assertEqual(ev.parse_time("86400000"), 86400.0)


if __name__ == "__main__":
    unittest.main()
