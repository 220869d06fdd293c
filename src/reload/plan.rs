//! What a reload changes: the pure comparison of the running settings with the new ones.
//!
//! [`plan`] names the exchanges and channels added, removed and changed, the exchanges and
//! endpoints whose series are gone ([`Plan::series_removed`]), the stages whose settings
//! changed, and the keys whose change needs a restart ([`NEEDS_RESTART`]); those keep
//! their running value ([`effective`]). Nothing here touches an actor.

use crate::messages::{Name, Removed};
use crate::settings::Settings;

/// The keys a running monitor cannot change in place: the listener, the store file, the
/// region every series and alert is labelled with, the probe threads, the restart budgets,
/// the canaries (their probe starts with the monitor), the cluster (its connection and tasks).
/// A reload that changes one reports it and keeps the running value.
pub const NEEDS_RESTART: &[&str] = &[
    "http.listen",
    "http.enabled",
    "http.token_env",
    "store.path",
    "monitor.region",
    "monitor.probe_threads",
    "supervision",
    "monitor.canaries",
    "cluster",
];

/// Named things added, removed and changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// In the new settings only.
    pub added: Vec<Name>,
    /// In the running settings only.
    pub removed: Vec<Name>,
    /// In both, with different settings.
    pub changed: Vec<Name>,
}

impl Changes {
    /// Nothing added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn of<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &Name) -> Self {
        let find = |list: &[T], n: &Name| list.iter().position(|x| name(x) == n);
        let mut c = Changes::default();
        for o in old {
            match find(new, name(o)) {
                None => c.removed.push(name(o).clone()),
                Some(i) if new[i] != *o => c.changed.push(name(o).clone()),
                Some(_) => {}
            }
        }
        for n in new {
            if find(old, name(n)).is_none() {
                c.added.push(name(n).clone());
            }
        }
        c
    }
}

/// What a reload changes. See the module docs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `[exchanges]` (a changed `[breaker]` changes every exchange).
    pub exchanges: Changes,
    /// `[channels]`.
    pub channels: Changes,
    /// The exchanges removed, and the endpoints removed from exchanges that stay: their open
    /// incidents are resolved and their series forgotten.
    pub series_removed: Vec<Removed>,
    /// `[detect]` changed.
    pub detect: bool,
    /// `[rules]` changed.
    pub rules: bool,
    /// `[router]` changed.
    pub router: bool,
    /// `[shutdown]` changed.
    pub shutdown: bool,
    /// The market-data streams (`kind = "stream"` endpoints) changed: the connections whose
    /// streams changed restart ([`crate::probe::stream::Streams::reload`]).
    pub streams: bool,
    /// Keys whose change needs a restart (they keep their running value).
    pub needs_restart: Vec<&'static str>,
}

impl Plan {
    /// The reload changes nothing that runs.
    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
            && self.channels.is_empty()
            && !self.detect
            && !self.rules
            && !self.router
            && !self.shutdown
            && !self.streams
    }

    /// One line per change, for the log and the API's answer: `exchange added: kraken`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (what, c) in [("exchange", &self.exchanges), ("channel", &self.channels)] {
            for (how, names) in [
                ("added", &c.added),
                ("removed", &c.removed),
                ("changed", &c.changed),
            ] {
                lines.extend(names.iter().map(|n| format!("{what} {how}: {n}")));
            }
        }
        for (changed, section) in [
            (self.detect, "[detect]"),
            (self.rules, "[rules]"),
            (self.router, "[router]"),
            (self.shutdown, "[shutdown]"),
        ] {
            if changed {
                lines.push(format!("{section} changed"));
            }
        }
        lines
    }
}

/// Compares the running settings with the new ones. See the module docs.
pub fn plan(old: &Settings, new: &Settings) -> Plan {
    let mut exchanges = Changes::of(&old.exchanges, &new.exchanges, |x| &x.name);
    if old.breaker != new.breaker {
        // Every exchange's breaker is built from `[breaker]`: those kept are changed too.
        exchanges.changed = new
            .exchanges
            .iter()
            .filter(|x| !exchanges.added.contains(&x.name))
            .map(|x| x.name.clone())
            .collect();
    }
    let (h, nh) = (&old.http, &new.http);
    let restart = [
        h.listen != nh.listen,
        h.enabled != nh.enabled,
        h.token_env != nh.token_env || h.token != nh.token,
        old.store != new.store,
        old.monitor.region != new.monitor.region,
        old.monitor.probe_threads != new.monitor.probe_threads,
        old.supervision != new.supervision,
        old.monitor.canaries != new.monitor.canaries,
        old.cluster != new.cluster,
    ];
    let series_removed = removed_series(old, new);
    Plan {
        exchanges,
        series_removed,
        channels: Changes::of(&old.channels, &new.channels, |c| &c.name),
        detect: old.detect != new.detect,
        rules: old.rules != new.rules,
        router: old.router != new.router,
        shutdown: old.shutdown != new.shutdown,
        streams: old.streams != new.streams,
        needs_restart: NEEDS_RESTART
            .iter()
            .zip(restart)
            .filter_map(|(key, changed)| changed.then_some(*key))
            .collect(),
    }
}

/// The exchanges in `old` only, and the endpoints of an exchange in both that are in `old`
/// only.
fn removed_series(old: &Settings, new: &Settings) -> Vec<Removed> {
    let mut removed = Vec::new();
    for o in &old.exchanges {
        let Some(n) = new.exchanges.iter().find(|n| n.name == o.name) else {
            removed.push(Removed::Exchange(o.name.clone()));
            continue;
        };
        removed.extend(
            (o.endpoints.iter())
                .filter(|e| !n.endpoints.iter().any(|ne| ne.name == e.name))
                .map(|e| Removed::Endpoint {
                    exchange: o.name.clone(),
                    endpoint: e.name.clone(),
                }),
        );
    }
    // A stream removed (one whose exchange is removed is covered by the exchange's removal).
    removed.extend(
        (old.streams.iter())
            .filter(|s| {
                let removed_with_exchange = old.exchanges.iter().any(|x| x.name == s.exchange)
                    && !new.exchanges.iter().any(|x| x.name == s.exchange);
                !removed_with_exchange
            })
            .filter(|s| !(new.streams.iter()).any(|n| n.exchange == s.exchange && n.name == s.name))
            .map(|s| Removed::Endpoint {
                exchange: s.exchange.clone(),
                endpoint: s.name.clone(),
            }),
    );
    removed
}

/// `new` with the keys that need a restart set back to their running values in `old`: the
/// settings the monitor actually runs after the reload.
pub fn effective(old: &Settings, mut new: Settings) -> Settings {
    new.http = old.http.clone();
    new.store = old.store.clone();
    new.monitor.region = old.monitor.region.clone();
    new.monitor.probe_threads = old.monitor.probe_threads;
    new.supervision = old.supervision.clone();
    new.monitor.canaries = old.monitor.canaries.clone();
    new.cluster = old.cluster.clone();
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::from_toml_str;

    fn settings(toml: &str) -> Settings {
        from_toml_str(toml, &|_| None).expect("valid")
    }

    const BASE: &str = r#"
[exchanges.a.endpoints.ping]
url = "http://127.0.0.1:1/ping"
[exchanges.b.endpoints.ping]
url = "http://127.0.0.1:1/ping"
[channels.log]
type = "log"
"#;

    #[test]
    fn the_same_settings_plan_nothing() {
        let p = plan(&settings(BASE), &settings(BASE));
        assert!(p.is_empty(), "{p:?}");
        assert!(p.needs_restart.is_empty());
        assert!(p.describe().is_empty());
    }

    #[test]
    fn exchanges_and_channels_added_removed_and_changed_are_named() {
        let new = r#"
[exchanges.a.endpoints.ping]
url = "http://127.0.0.1:1/ping"
[exchanges.a.endpoints.time]
url = "http://127.0.0.1:1/time"
[exchanges.c.endpoints.ping]
url = "http://127.0.0.1:1/ping"
[channels.log]
type = "log"
min_severity = "critical"
[channels.hook]
type = "webhook"
url = "http://127.0.0.1:2/hook"
"#;
        let p = plan(&settings(BASE), &settings(new));
        assert_eq!(p.exchanges.added, vec![Name::from("c")]);
        assert_eq!(p.exchanges.removed, vec![Name::from("b")]);
        assert_eq!(p.exchanges.changed, vec![Name::from("a")]);
        assert_eq!(p.channels.added, vec![Name::from("hook")]);
        assert_eq!(p.channels.changed, vec![Name::from("log")]);
        assert_eq!(p.series_removed, vec![Removed::Exchange(Name::from("b"))]);
        assert!(!p.detect && !p.router && !p.rules);
        assert_eq!(
            p.describe(),
            [
                "exchange added: c",
                "exchange removed: b",
                "exchange changed: a",
                "channel added: hook",
                "channel changed: log"
            ]
        );
    }

    #[test]
    fn endpoints_removed_from_a_kept_exchange_are_named() {
        let new = r#"
[exchanges.a.endpoints.time]
url = "http://127.0.0.1:1/time"
[exchanges.b.endpoints.ping]
url = "http://127.0.0.1:1/ping"
[channels.log]
type = "log"
"#;
        let p = plan(&settings(BASE), &settings(new));
        assert_eq!(
            p.series_removed,
            vec![Removed::Endpoint {
                exchange: Name::from("a"),
                endpoint: Name::from("ping")
            }]
        );
        assert_eq!(p.exchanges.changed, vec![Name::from("a")]);
    }

    #[test]
    fn a_changed_breaker_changes_every_kept_exchange() {
        let new = format!("{BASE}\n[breaker]\nfailure_threshold = 9\n");
        let p = plan(&settings(BASE), &settings(&new));
        assert_eq!(p.exchanges.changed, vec![Name::from("a"), Name::from("b")]);
    }

    #[test]
    fn keys_that_need_a_restart_are_reported_and_keep_their_running_value() {
        let new = format!(
            "{BASE}\n[http]\nlisten = \"127.0.0.1:1\"\n[store]\npath = \"other.db\"\n[router]\ndedup_window = \"1m\"\n"
        );
        let (old, new) = (settings(BASE), settings(&new));
        let p = plan(&old, &new);
        assert_eq!(p.needs_restart, ["http.listen", "store.path"]);
        assert!(p.router);
        let applied = effective(&old, new);
        assert_eq!(applied.http, old.http);
        assert_eq!(applied.store, old.store);
        assert_eq!(
            applied.router.dedup_window,
            std::time::Duration::from_secs(60)
        );
    }
}
