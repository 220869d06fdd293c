//! Cross-exchange price deviation for one symbol: pure code, quotes in, events out.
//!
//! [`PriceDetector`] holds the last quote of every venue quoting the symbol (one slot per
//! ticker endpoint, allocated once) and, on each new quote, compares that venue's price with
//! the median of the *other* venues' fresh quotes, in basis points. A quote older than
//! `[detect.price] stale_after` (event time: the measurements' own timestamps) is left out.
//!
//! The value is **signed**: `(price − reference) / reference × 10 000`, positive when the venue
//! quotes above the others; the thresholds apply to its absolute value. The reference is the
//! point of the others' median interval nearest the price: for an odd number of others that is
//! the median itself; for an even number (two others, the common three-venue case) the median
//! is any value between the two middle quotes, and taking the nearest one keeps a single
//! deviant venue from dragging the honest ones' midpoint halfway and flagging them too.
//!
//! Each venue has its own episode: it fires on every deviant comparison and resolves after
//! `resolve_after` normal comparisons in a row. Cost per quote: O(v log v) over a fixed stack
//! array of at most [`MAX_VENUES`] venues (v is 3 in practice), no allocation.

use crate::config::CheckProfile;
use crate::detect::config::PriceSettings;
use crate::detect::finding::Finding;
use crate::messages::{Name, Severity, Timestamp};

/// The most venues one symbol is compared across; more ticker endpoints are ignored.
pub const MAX_VENUES: usize = 32;

/// The alert's detector name.
pub const DETECTOR: &str = "price_deviation";

/// What one quote concluded about its venue.
#[derive(Debug, Clone, PartialEq)]
pub enum PriceEvent {
    /// The venue deviates from the others.
    Firing {
        /// Value: signed deviation in bps; threshold: the crossed level in bps.
        finding: Finding,
        /// The venue's price.
        price: f64,
        /// The others' median it was compared with.
        reference: f64,
        /// Start of the episode.
        started_at: Timestamp,
    },
    /// The venue, which was deviating, agrees with the others again.
    Resolved,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    quote: Option<(f64, Timestamp)>,
    firing_since: Option<Timestamp>,
    normal_run: usize,
}

/// Price comparison across the venues of one symbol.
#[derive(Debug, Clone)]
pub struct PriceDetector {
    slots: Vec<Slot>,
    warn_bps: f64,
    critical_bps: f64,
    stale_after_ms: i64,
    resolve_after: usize,
}

impl PriceDetector {
    /// A detector for `venues` venues (at most [`MAX_VENUES`]), numbered from 0.
    pub fn new(venues: usize, settings: &PriceSettings) -> Self {
        Self {
            slots: vec![Slot::default(); venues.min(MAX_VENUES)],
            warn_bps: settings.warn_bps,
            critical_bps: settings.critical_bps,
            stale_after_ms: settings.stale_after.as_millis() as i64,
            resolve_after: settings.resolve_after.max(1),
        }
    }

    /// A fresh detector after a crash: quotes are forgotten, but the venues' episodes are kept
    /// so that a deviating venue still resolves.
    pub fn rebuilt(&self) -> Self {
        let mut fresh = self.clone();
        for s in &mut fresh.slots {
            s.quote = None;
            s.normal_run = 0;
        }
        fresh
    }

    /// True while `venue` is in a deviation episode.
    pub fn is_firing(&self, venue: usize) -> bool {
        self.slots
            .get(venue)
            .is_some_and(|s| s.firing_since.is_some())
    }

    /// Records `venue`'s last price at `at` and judges that venue against the others.
    pub fn observe(&mut self, venue: usize, price: f64, at: Timestamp) -> Option<PriceEvent> {
        if venue >= self.slots.len() || !price.is_finite() || price <= 0.0 {
            return None;
        }
        self.slots[venue].quote = Some((price, at));
        // Judging needs at least two other fresh quotes: with one, two venues disagreeing
        // cannot tell which of them is wrong; a third quote breaks the tie.
        let reference = self.reference(venue, price, at)?;
        let bps = (price - reference) / reference * 10_000.0;
        let abs = bps.abs();
        let (severity, threshold) = if abs >= self.critical_bps {
            (Severity::Critical, self.critical_bps)
        } else if abs >= self.warn_bps {
            (Severity::Warning, self.warn_bps)
        } else {
            return self.normal(venue);
        };
        let slot = &mut self.slots[venue];
        slot.normal_run = 0;
        let started_at = *slot.firing_since.get_or_insert(at);
        Some(PriceEvent::Firing {
            finding: Finding {
                detector: DETECTOR,
                severity,
                value: bps,
                threshold,
                confidence: 1.0,
            },
            price,
            reference,
            started_at,
        })
    }

    fn normal(&mut self, venue: usize) -> Option<PriceEvent> {
        let slot = &mut self.slots[venue];
        slot.firing_since?;
        slot.normal_run += 1;
        if slot.normal_run < self.resolve_after {
            return None;
        }
        slot.normal_run = 0;
        slot.firing_since = None;
        Some(PriceEvent::Resolved)
    }

    /// The point of the other venues' fresh median interval nearest `price`; `None` with
    /// fewer than two fresh others.
    fn reference(&self, venue: usize, price: f64, at: Timestamp) -> Option<f64> {
        let mut others = [0.0_f64; MAX_VENUES];
        let mut n = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if let (true, Some((p, t))) = (i != venue, s.quote) {
                // A quote from the future (clocks of two probes) is as good as a fresh one.
                if at.as_millis().saturating_sub(t.as_millis()) <= self.stale_after_ms {
                    others[n] = p;
                    n += 1;
                }
            }
        }
        if n < 2 {
            return None;
        }
        let others = &mut others[..n];
        others.sort_unstable_by(f64::total_cmp);
        let (lo, hi) = (others[(n - 1) / 2], others[n / 2]);
        Some(price.clamp(lo, hi))
    }
}

/// The series name of a venue-neutral symbol, as it appears in alerts: `BTC/USDT` →
/// `btc-usdt` (lowercase `[a-z0-9_-]`, like every endpoint name).
pub fn symbol_series(symbol: &str) -> String {
    symbol
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect()
}

/// How a venue writes a venue-neutral symbol (`BASE/QUOTE`) in its ticker URL: Binance
/// `BTCUSDT` (`?symbol=`), Bybit `BTCUSDT` (`?symbol=`, uppercase only), OKX `BTC-USDT`
/// (`?instId=`; `BTC-USDT-SWAP` is the perpetual, another instrument). `None` for the plain
/// `http` profile, whose format is unknown.
pub fn venue_symbol(check: CheckProfile, symbol: &str) -> Option<(&'static str, String)> {
    let (base, quote) = symbol.split_once('/')?;
    let (base, quote) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
    match check {
        CheckProfile::Binance => Some(("symbol", format!("{base}{quote}"))),
        CheckProfile::Bybit => Some(("symbol", format!("{base}{quote}"))),
        CheckProfile::Okx => Some(("instId", format!("{base}-{quote}"))),
        CheckProfile::Http => None,
    }
}

/// Checks that a ticker URL asks for `symbol` in the venue's format: `Err` with the expected
/// parameter when the URL names the symbol differently. A URL without the parameter passes
/// (the venue's default, or a path-style API).
pub fn check_ticker_url(check: CheckProfile, symbol: &str, url: &str) -> Result<(), String> {
    let Some((param, want)) = venue_symbol(check, symbol) else {
        return Ok(());
    };
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=')
            && k == param
            && v != want
        {
            return Err(format!(
                "asks for {param}={v} but symbol {symbol:?} is {param}={want} on this venue"
            ));
        }
    }
    Ok(())
}

/// The venues quoting one symbol, in slot order, for building a [`PriceDetector`] and its
/// alerts.
#[derive(Debug, Clone)]
pub struct SymbolVenues {
    /// The venue-neutral symbol (`BTC/USDT`).
    pub symbol: String,
    /// Its series name (`btc-usdt`): the endpoint of the alerts.
    pub series: Name,
    /// (exchange, ticker endpoint) per slot.
    pub venues: Vec<(Name, Name)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> PriceSettings {
        PriceSettings {
            warn_bps: 50.0,
            critical_bps: 200.0,
            stale_after: Duration::from_secs(30),
            resolve_after: 3,
        }
    }

    fn firing(e: Option<PriceEvent>) -> (Severity, f64, f64, f64) {
        match e {
            Some(PriceEvent::Firing {
                finding, reference, ..
            }) => (
                finding.severity,
                finding.value,
                finding.threshold,
                reference,
            ),
            other => panic!("expected firing, got {other:?}"),
        }
    }

    #[test]
    fn needs_two_other_fresh_quotes() {
        let mut d = PriceDetector::new(3, &settings());
        assert_eq!(d.observe(0, 100.0, Timestamp(0)), None);
        assert_eq!(
            d.observe(1, 150.0, Timestamp(0)),
            None,
            "one other: no judgement"
        );
        assert!(!d.is_firing(1));
        // Others 100 and 150: 120 lies inside their median interval, so it agrees.
        assert_eq!(d.observe(2, 120.0, Timestamp(0)), None);
        // 90 does not: the nearest point of [100, 150] is 100, −1000 bps.
        let (sev, bps, thr, reference) = firing(d.observe(2, 90.0, Timestamp(0)));
        assert_eq!((sev, thr, reference), (Severity::Critical, 200.0, 100.0));
        assert!((bps + 1000.0).abs() < 1e-9, "{bps}");
    }

    #[test]
    fn deviation_is_signed_against_the_median_of_the_others() {
        let mut d = PriceDetector::new(4, &settings());
        for (v, p) in [(0, 100.0), (1, 100.2), (2, 99.9)] {
            assert_eq!(d.observe(v, p, Timestamp(0)), None);
        }
        // Others 100, 100.2, 99.9: median 100; 99 is −100 bps.
        let (sev, bps, thr, reference) = firing(d.observe(3, 99.0, Timestamp(1)));
        assert_eq!((sev, thr, reference), (Severity::Warning, 50.0, 100.0));
        assert!((bps + 100.0).abs() < 1e-9, "{bps}");
        let (sev, bps, thr, _) = firing(d.observe(3, 103.0, Timestamp(2)));
        assert_eq!((sev, thr), (Severity::Critical, 200.0));
        assert!((bps - 300.0).abs() < 1e-9, "{bps}");
    }

    #[test]
    fn one_deviant_among_three_flags_only_that_venue() {
        let mut d = PriceDetector::new(3, &settings());
        d.observe(0, 100.0, Timestamp(0));
        d.observe(1, 100.0, Timestamp(0));
        assert_eq!(
            firing(d.observe(2, 101.0, Timestamp(0))).0,
            Severity::Warning
        );
        // The honest venues see 100 and 101: 100 is in that median interval.
        assert_eq!(d.observe(0, 100.0, Timestamp(1)), None);
        assert_eq!(d.observe(1, 100.0, Timestamp(1)), None);
        assert!(!d.is_firing(0) && !d.is_firing(1) && d.is_firing(2));
    }

    #[test]
    fn stale_quotes_are_left_out() {
        let mut d = PriceDetector::new(3, &settings());
        d.observe(0, 100.0, Timestamp(0));
        d.observe(1, 100.0, Timestamp(20_000));
        // At 31 s venue 0's quote is 31 s old: only one fresh other, no judgement.
        assert_eq!(d.observe(2, 110.0, Timestamp(31_000)), None);
        // At exactly stale_after it still counts.
        d.observe(0, 100.0, Timestamp(31_000));
        assert_eq!(
            firing(d.observe(2, 110.0, Timestamp(50_000))).0,
            Severity::Critical
        );
    }

    #[test]
    fn resolves_after_resolve_after_normal_comparisons() {
        let mut d = PriceDetector::new(3, &settings());
        d.observe(0, 100.0, Timestamp(0));
        d.observe(1, 100.0, Timestamp(0));
        let started = match d.observe(2, 103.0, Timestamp(5)) {
            Some(PriceEvent::Firing { started_at, .. }) => started_at,
            e => panic!("{e:?}"),
        };
        match d.observe(2, 101.0, Timestamp(6)) {
            Some(PriceEvent::Firing {
                started_at,
                finding,
                ..
            }) => {
                assert_eq!(started_at, started);
                assert_eq!(finding.severity, Severity::Warning);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(d.observe(2, 100.1, Timestamp(7)), None);
        assert_eq!(d.observe(2, 100.1, Timestamp(8)), None);
        // A deviant comparison in between starts the count again.
        assert!(matches!(
            d.observe(2, 102.0, Timestamp(9)),
            Some(PriceEvent::Firing { .. })
        ));
        assert_eq!(d.observe(2, 100.1, Timestamp(10)), None);
        assert_eq!(d.observe(2, 100.1, Timestamp(11)), None);
        assert_eq!(
            d.observe(2, 100.1, Timestamp(12)),
            Some(PriceEvent::Resolved)
        );
        assert_eq!(d.observe(2, 100.1, Timestamp(13)), None);
        assert!(!d.is_firing(2));
    }

    #[test]
    fn rebuilt_keeps_episodes_and_forgets_quotes() {
        let mut d = PriceDetector::new(3, &settings());
        d.observe(0, 100.0, Timestamp(0));
        d.observe(1, 100.0, Timestamp(0));
        d.observe(2, 110.0, Timestamp(0));
        let mut r = d.rebuilt();
        assert!(r.is_firing(2));
        assert_eq!(
            r.observe(2, 100.0, Timestamp(1)),
            None,
            "no quotes to compare"
        );
    }

    #[test]
    fn bad_prices_and_unknown_venues_are_ignored() {
        let mut d = PriceDetector::new(3, &settings());
        assert_eq!(d.observe(7, 100.0, Timestamp(0)), None);
        assert_eq!(d.observe(0, f64::NAN, Timestamp(0)), None);
        assert_eq!(d.observe(0, -1.0, Timestamp(0)), None);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut d = PriceDetector::new(3, &settings());
        d.observe(0, 100.0, Timestamp(i64::MIN));
        d.observe(1, 100.0, Timestamp(i64::MAX));
        assert_eq!(d.observe(2, 100.0, Timestamp(i64::MAX)), None);
    }

    #[test]
    fn symbols_per_venue() {
        assert_eq!(symbol_series("BTC/USDT"), "btc-usdt");
        let v = |c| venue_symbol(c, "btc/usdt").map(|(_, s)| s);
        assert_eq!(v(CheckProfile::Binance).as_deref(), Some("BTCUSDT"));
        assert_eq!(v(CheckProfile::Bybit).as_deref(), Some("BTCUSDT"));
        assert_eq!(v(CheckProfile::Okx).as_deref(), Some("BTC-USDT"));
        assert_eq!(v(CheckProfile::Http), None);
        let url = "https://www.okx.com/api/v5/market/ticker?instId=BTC-USDT";
        assert_eq!(check_ticker_url(CheckProfile::Okx, "BTC/USDT", url), Ok(()));
        assert!(check_ticker_url(CheckProfile::Okx, "ETH/USDT", url).is_err());
        let bybit = "https://api.bybit.com/v5/market/tickers?category=spot&symbol=BTC-USDT";
        assert!(check_ticker_url(CheckProfile::Bybit, "BTC/USDT", bybit).is_err());
        assert_eq!(
            check_ticker_url(CheckProfile::Binance, "BTC/USDT", "http://127.0.0.1:1/x"),
            Ok(())
        );
    }
}
