//! Clock skew against an exchange, judged by what it does to signed requests. Owns the
//! venues' receive-window rules ([`SigningWindow`]), the thresholds derived from them
//! ([`SkewLimits`]) and the pure judgement of one skew sample ([`SkewLimits::judge`]); touches
//! nothing else.
//!
//! A skew sample is `server time − local time` (ms, corrected by half the round trip): positive
//! when the local clock is **behind** the exchange, negative when it is **ahead**. A signed
//! request carries the local time as its timestamp, and the venues reject it:
//!
//! - Binance (`recvWindow`, default 5000 ms, at most 60 000 ms) and Bybit v5 (`recv_window`,
//!   default 5000 ms): when `server − timestamp > recvWindow` (local clock behind by more than
//!   the window, minus the request's transit time), or when the timestamp is 1000 ms or more
//!   **ahead** of server time (Binance error -1021, Bybit retCode 10002).
//! - OKX: when the `OK-ACCESS-TIMESTAMP` differs from server time by more than 30 s, either way
//!   (error 50102, "Timestamp request expired").
//!
//! Each side's limit is that side's rejection bound; the thresholds are fractions of it
//! (`[detect.clock] info_fraction`, `warn_fraction`, `critical_fraction`, defaults 20 %, 50 %,
//! 80 %). The fixed `[detect.clock] warn_ms` / `critical_ms` apply as they always did to an
//! exchange without a known window; where a window is known they act as **absolute caps** when
//! set explicitly (the lower of the derived and the explicit threshold wins).

use std::time::Duration;

use serde::Serialize;

use crate::config::{CheckProfile, ExchangeSettings};
use crate::detect::config::ClockSettings;
use crate::detect::finding::Finding;
use crate::messages::Severity;

/// The detector's name in alerts.
pub const NAME: &str = "clock_skew";

/// How far a signed request's timestamp may stray from the venue's clock before it is
/// rejected, on each side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SigningWindow {
    /// The local clock may be this far **behind** server time (the receive window).
    pub behind: Duration,
    /// The local clock may be this far **ahead** of server time.
    pub ahead: Duration,
}

impl SigningWindow {
    /// Binance and Bybit: `recvWindow` 5000 ms behind, 1000 ms ahead.
    pub const BINANCE_BYBIT: SigningWindow = SigningWindow {
        behind: Duration::from_millis(5000),
        ahead: Duration::from_millis(1000),
    };
    /// OKX: 30 s either way.
    pub const OKX: SigningWindow = SigningWindow {
        behind: Duration::from_secs(30),
        ahead: Duration::from_secs(30),
    };

    /// The venue's default window for an answer profile; `None` for plain HTTP.
    pub fn for_profile(profile: CheckProfile) -> Option<SigningWindow> {
        match profile {
            CheckProfile::Binance | CheckProfile::Bybit => Some(Self::BINANCE_BYBIT),
            CheckProfile::Okx => Some(Self::OKX),
            CheckProfile::Http => None,
        }
    }

    /// The window of an exchange: its venue's default (from the profile of its `time`
    /// endpoint, else of any venue endpoint) with `recv_window` / `ahead_window` applied. An
    /// exchange of no known venue has a window only if `recv_window` is set; it is then
    /// symmetric unless `ahead_window` says otherwise.
    pub fn of_exchange(x: &ExchangeSettings) -> Option<SigningWindow> {
        let venue = x
            .endpoints
            .iter()
            .filter(|e| e.kind == crate::config::EndpointKind::Time)
            .chain(x.endpoints.iter())
            .find_map(|e| Self::for_profile(e.check));
        let base = match (venue, x.recv_window) {
            (Some(v), _) => v,
            (None, Some(w)) => SigningWindow {
                behind: w,
                ahead: w,
            },
            (None, None) => return None,
        };
        Some(SigningWindow {
            behind: x.recv_window.unwrap_or(base.behind),
            ahead: x.ahead_window.unwrap_or(base.ahead),
        })
    }
}

/// Every exchange's signing window, for [`ClockSettings::windows`].
pub fn windows_of(exchanges: &[ExchangeSettings]) -> Vec<(String, SigningWindow)> {
    exchanges
        .iter()
        .filter_map(|x| SigningWindow::of_exchange(x).map(|w| (x.name.to_string(), w)))
        .collect()
}

/// The thresholds of one side of the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Side {
    /// Where signed requests start being rejected; `None` when unknown.
    reject_ms: Option<f64>,
    info_ms: Option<f64>,
    warn_ms: f64,
    critical_ms: f64,
}

/// The skew thresholds of one exchange's clock series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewLimits {
    /// Local clock behind (positive skew).
    behind: Side,
    /// Local clock ahead (negative skew).
    ahead: Side,
}

impl SkewLimits {
    /// The limits for `exchange` under `settings` (its window from
    /// [`ClockSettings::windows`], else the fixed thresholds).
    pub fn for_exchange(settings: &ClockSettings, exchange: &str) -> Self {
        let window = settings
            .windows
            .iter()
            .find(|(name, _)| name == exchange)
            .map(|(_, w)| *w);
        Self::new(settings, window)
    }

    /// The limits for a clock with signing window `window` (fixed thresholds when `None`).
    pub fn new(settings: &ClockSettings, window: Option<SigningWindow>) -> Self {
        let side = |limit: Option<Duration>| match limit {
            None => Side {
                reject_ms: None,
                info_ms: None,
                warn_ms: settings.warn_ms,
                critical_ms: settings.critical_ms,
            },
            Some(limit) => {
                let reject = limit.as_secs_f64() * 1000.0;
                let cap = |derived: f64, explicit: bool, ms: f64| {
                    if explicit { derived.min(ms) } else { derived }
                };
                let critical = cap(
                    settings.critical_fraction * reject,
                    settings.critical_ms_explicit,
                    settings.critical_ms,
                );
                let warn = cap(
                    settings.warn_fraction * reject,
                    settings.warn_ms_explicit,
                    settings.warn_ms,
                )
                .min(critical);
                Side {
                    reject_ms: Some(reject),
                    info_ms: Some((settings.info_fraction * reject).min(warn)),
                    warn_ms: warn,
                    critical_ms: critical,
                }
            }
        };
        Self {
            behind: side(window.map(|w| w.behind)),
            ahead: side(window.map(|w| w.ahead)),
        }
    }

    fn side(&self, skew_ms: f64) -> &Side {
        if skew_ms >= 0.0 {
            &self.behind
        } else {
            &self.ahead
        }
    }

    /// Judges one skew sample (`server − local`, ms); `None` below every threshold or for a
    /// non-finite value. Confidence is the share of the rejection limit used up (1 without a
    /// known window, as before).
    pub fn judge(&self, skew_ms: f64) -> Option<Finding> {
        if !skew_ms.is_finite() {
            return None;
        }
        let side = self.side(skew_ms);
        let abs = skew_ms.abs();
        let (severity, threshold) = if abs >= side.critical_ms {
            (Severity::Critical, side.critical_ms)
        } else if abs >= side.warn_ms {
            (Severity::Warning, side.warn_ms)
        } else {
            match side.info_ms {
                Some(info) if abs >= info => (Severity::Info, info),
                _ => return None,
            }
        };
        Some(Finding {
            detector: NAME,
            severity,
            value: skew_ms,
            threshold,
            confidence: side.reject_ms.map_or(1.0, |r| (abs / r).clamp(0.0, 1.0)),
        })
    }

    /// The alert's message for a finding: which way the clock is off and, where the venue's
    /// window is known, the headroom left before signed requests are rejected.
    pub fn explain(&self, f: &Finding) -> String {
        let side = self.side(f.value);
        let abs = f.value.abs();
        let way = if f.value >= 0.0 { "behind" } else { "ahead of" };
        match side.reject_ms {
            None => format!(
                "clock skew {:+.0} ms against the exchange (limit {:.0} ms)",
                f.value, f.threshold
            ),
            Some(reject) if abs >= reject => format!(
                "local clock is {abs:.0} ms {way} the exchange's server time, past the {reject:.0} ms \
                 at which it rejects signed requests: signed requests are being rejected now \
                 (threshold {:.0} ms)",
                f.threshold
            ),
            Some(reject) => {
                let note = if f.value >= 0.0 {
                    "; the request's transit time eats into it"
                } else {
                    ""
                };
                format!(
                    "local clock is {abs:.0} ms {way} the exchange's server time: {:.0} ms of \
                     headroom left before signed requests are rejected at {reject:.0} ms{note} \
                     (threshold {:.0} ms)",
                    reject - abs,
                    f.threshold
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binance() -> SkewLimits {
        SkewLimits::new(
            &ClockSettings::default(),
            Some(SigningWindow::BINANCE_BYBIT),
        )
    }

    #[test]
    fn without_a_window_the_fixed_thresholds_hold_both_ways() {
        let l = SkewLimits::new(&ClockSettings::default(), None);
        assert_eq!(l.judge(499.0), None);
        assert_eq!(l.judge(-500.0).unwrap().severity, Severity::Warning);
        assert_eq!(l.judge(2000.0).unwrap().severity, Severity::Critical);
        assert_eq!(l.judge(f64::NAN), None);
        let f = l.judge(2500.0).unwrap();
        assert_eq!(
            l.explain(&f),
            "clock skew +2500 ms against the exchange (limit 2000 ms)"
        );
    }

    #[test]
    fn binance_is_asymmetric_behind_and_ahead() {
        let l = binance();
        // Behind: fractions of the 5000 ms recvWindow.
        assert_eq!(l.judge(999.0), None);
        assert_eq!(l.judge(1000.0).unwrap().severity, Severity::Info);
        assert_eq!(l.judge(2500.0).unwrap().severity, Severity::Warning);
        let f = l.judge(4000.0).unwrap();
        assert_eq!((f.severity, f.threshold), (Severity::Critical, 4000.0));
        assert!((f.confidence - 0.8).abs() < 1e-9);
        // Ahead: fractions of the 1000 ms the timestamp may lead server time.
        assert_eq!(l.judge(-199.0), None);
        assert_eq!(l.judge(-200.0).unwrap().severity, Severity::Info);
        assert_eq!(l.judge(-500.0).unwrap().severity, Severity::Warning);
        assert_eq!(l.judge(-800.0).unwrap().severity, Severity::Critical);
    }

    #[test]
    fn the_message_says_the_headroom_left() {
        let l = binance();
        let f = l.judge(3000.0).unwrap();
        assert_eq!(
            l.explain(&f),
            "local clock is 3000 ms behind the exchange's server time: 2000 ms of headroom left \
             before signed requests are rejected at 5000 ms; the request's transit time eats \
             into it (threshold 2500 ms)"
        );
        let f = l.judge(-600.0).unwrap();
        assert!(
            l.explain(&f).contains("600 ms ahead of")
                && l.explain(&f).contains("400 ms of headroom left"),
            "{}",
            l.explain(&f)
        );
        let f = l.judge(-1200.0).unwrap();
        assert!(l.explain(&f).contains("being rejected now"));
    }

    #[test]
    fn okx_allows_thirty_seconds_either_way() {
        let l = SkewLimits::new(&ClockSettings::default(), Some(SigningWindow::OKX));
        assert_eq!(l.judge(-5000.0), None);
        assert_eq!(l.judge(-6000.0).unwrap().severity, Severity::Info);
        assert_eq!(l.judge(15_000.0).unwrap().severity, Severity::Warning);
        assert_eq!(l.judge(-24_000.0).unwrap().severity, Severity::Critical);
    }

    #[test]
    fn explicit_fixed_thresholds_cap_the_derived_ones() {
        let s = ClockSettings {
            warn_ms: 1000.0,
            warn_ms_explicit: true,
            ..ClockSettings::default()
        };
        let l = SkewLimits::new(&s, Some(SigningWindow::OKX));
        // Warns at 1000 ms (the cap), not at 15 s; critical stays derived (24 s).
        assert_eq!(l.judge(1000.0).unwrap().severity, Severity::Warning);
        assert_eq!(l.judge(20_000.0).unwrap().severity, Severity::Warning);
        assert_eq!(l.judge(24_000.0).unwrap().severity, Severity::Critical);
        // Info never lies above warning.
        assert_eq!(l.judge(999.0), None);
    }

    #[test]
    fn exchange_window_from_profile_and_keys() {
        use crate::config::{EndpointKind, EndpointSettings};
        let ep = |check, kind| EndpointSettings {
            name: "time".into(),
            url: "http://127.0.0.1/".into(),
            check,
            kind,
            symbol: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_body_bytes: 1024,
            confirm_interval: Duration::from_millis(200),
            confirm_probes: Some(0),
        };
        let mut x = ExchangeSettings {
            name: "b".into(),
            max_connections: 1,
            endpoints: vec![ep(CheckProfile::Binance, EndpointKind::Time)],
            recv_window: None,
            ahead_window: None,
            confirm_per_minute: 60,
        };
        assert_eq!(
            SigningWindow::of_exchange(&x),
            Some(SigningWindow::BINANCE_BYBIT)
        );
        x.recv_window = Some(Duration::from_secs(10));
        let w = SigningWindow::of_exchange(&x).unwrap();
        assert_eq!(
            (w.behind, w.ahead),
            (Duration::from_secs(10), Duration::from_secs(1))
        );
        x.endpoints = vec![ep(CheckProfile::Http, EndpointKind::Time)];
        x.recv_window = None;
        assert_eq!(SigningWindow::of_exchange(&x), None);
        x.recv_window = Some(Duration::from_secs(3));
        let w = SigningWindow::of_exchange(&x).unwrap();
        assert_eq!(
            (w.behind, w.ahead),
            (Duration::from_secs(3), Duration::from_secs(3))
        );
        assert_eq!(windows_of(&[x]).len(), 1);
    }
}
