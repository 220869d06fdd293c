//! A judge's [`Reading`] as a measurement, pure: the one encoding of the stream flags in a
//! [`Measurement`]'s metric, value and outcome, which [`crate::detect::stream`] decodes (a
//! stale silence is outcome `timeout`, a frozen payload or a gap `bad_body`, churn `connect`,
//! anything healthy `ok`). Whoever drives a [`crate::probe::stream::judge::Judge`] — a
//! connection of exwatch's own, or an embedding engine's feed
//! ([`crate::probe::stream::engine`]) — sends its readings through [`measurement`].

use crate::messages::{Measurement, Metric, Name, Outcome, SeriesKey, Timestamp};
use crate::probe::stream::judge::Reading;

/// The metric, value and outcome a reading is measured as.
pub fn sample(r: &Reading) -> (Metric, f64, Outcome) {
    let flag = |on: bool, outcome: Outcome| if on { outcome } else { Outcome::Ok };
    match *r {
        Reading::Lag(v) => (Metric::StreamLagMs, v, Outcome::Ok),
        Reading::Silence { ms, stale, .. } => {
            (Metric::StreamSilenceMs, ms, flag(stale, Outcome::Timeout))
        }
        Reading::Frozen { repeats, frozen } => (
            Metric::StreamFrozen,
            f64::from(repeats),
            flag(frozen, Outcome::BadBody),
        ),
        Reading::Gap { missing, gaps } => (
            Metric::StreamGap,
            missing as f64,
            flag(gaps > 0, Outcome::BadBody),
        ),
        Reading::Churn { reconnects, over } => (
            Metric::StreamReconnects,
            reconnects as f64,
            flag(over, Outcome::Connect),
        ),
    }
}

/// The measurement of `r` for the stream `endpoint` of `exchange`, at `at`.
pub fn measurement(exchange: &Name, endpoint: &Name, r: &Reading, at: Timestamp) -> Measurement {
    let (metric, value, outcome) = sample(r);
    Measurement {
        series: SeriesKey::new(exchange.clone(), endpoint.clone(), metric),
        value,
        outcome,
        status: 0,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::stream::StreamFlag;

    #[test]
    fn every_flag_is_measured_with_the_outcome_its_detector_reads() {
        let flagged = [
            Reading::Silence {
                ms: 900.0,
                stale: true,
                threshold_ms: 800.0,
            },
            Reading::Frozen {
                repeats: 5,
                frozen: true,
            },
            Reading::Gap {
                missing: 3,
                gaps: 1,
            },
            Reading::Churn {
                reconnects: 13,
                over: true,
            },
        ];
        for r in flagged {
            let (metric, _, outcome) = sample(&r);
            let flag = StreamFlag::of(metric).expect("a stream flag");
            assert_eq!(outcome, flag.flagged_by(), "{r:?}");
        }
        let healthy = [
            Reading::Lag(12.0),
            Reading::Silence {
                ms: 10.0,
                stale: false,
                threshold_ms: 800.0,
            },
            Reading::Frozen {
                repeats: 0,
                frozen: false,
            },
            Reading::Gap {
                missing: 0,
                gaps: 0,
            },
            Reading::Churn {
                reconnects: 1,
                over: false,
            },
        ];
        for r in healthy {
            assert_eq!(sample(&r).2, Outcome::Ok, "{r:?}");
        }
        let m = measurement(
            &Name::from("binance"),
            &Name::from("engine-depth"),
            &Reading::Gap {
                missing: 3,
                gaps: 1,
            },
            Timestamp(5),
        );
        assert_eq!(
            (m.series.to_string(), m.value, m.at),
            (
                "binance/engine-depth/stream_gap".to_string(),
                3.0,
                Timestamp(5)
            )
        );
    }
}
