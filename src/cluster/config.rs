//! `[cluster]`: several vantages sharing one history in PostgreSQL. [`ClusterSettings`] is the
//! validated spec; `validate` turns the raw table into it purely (every problem with its key
//! path); an absent table is `None`, and exwatch runs alone as before.

use std::time::Duration;

use serde::Serialize;

use crate::config::Secret;
use crate::config::check::{duration_at_least, secret_from_env, usize_at_least};
use crate::config::raw::Table;

/// The largest `quorum` accepted: more vantages than any desk runs.
pub const MAX_QUORUM: usize = 64;

/// The shortest `vantage_stale_after`: a vantage reports its verdicts more often than this.
pub const MIN_STALE_AFTER: Duration = Duration::from_secs(1);

/// `[cluster]`: the shared PostgreSQL and the quorum for "down".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSettings {
    /// The environment variable holding the PostgreSQL URL.
    pub postgres_url_env: String,
    /// The URL itself (user, password, host, database): a secret, never printed.
    pub postgres_url: Secret,
    /// How many fresh, self-healthy vantages must see an exchange down for "down".
    pub quorum: usize,
    /// A vantage that has not reported within this counts as unknown.
    pub vantage_stale_after: Duration,
    /// The most rows waiting for PostgreSQL; past it the oldest are dropped (and counted).
    pub backlog_limit: usize,
}

impl ClusterSettings {
    /// The default `quorum`.
    pub const DEFAULT_QUORUM: usize = 2;
    /// The default `vantage_stale_after`.
    pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30);
    /// The default `backlog_limit`: five minutes of a busy instance's writes and more.
    pub const DEFAULT_BACKLOG_LIMIT: usize = 1_000_000;

    /// Settings for `url` with every other key at its default (tests, embedding).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            postgres_url_env: String::new(),
            postgres_url: Secret::new(url),
            quorum: Self::DEFAULT_QUORUM,
            vantage_stale_after: Self::DEFAULT_STALE_AFTER,
            backlog_limit: Self::DEFAULT_BACKLOG_LIMIT,
        }
    }
}

/// Whether `url` is a PostgreSQL URL exwatch can connect with (the driver's own parse). The
/// answer never quotes the URL: it holds the password.
pub fn check_url(url: &str) -> Result<tokio_postgres::Config, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("is not a postgres:// URL".into());
    }
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| "is not a valid PostgreSQL URL".to_owned())?;
    if config.get_hosts().is_empty() {
        return Err("names no host".into());
    }
    Ok(config)
}

/// The `[cluster]` table as [`ClusterSettings`], `None` when the file has none; its problems go
/// to the table's list.
pub(crate) fn validate(
    present: bool,
    mut t: Table<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<ClusterSettings> {
    if !present {
        t.finish();
        return None;
    }
    let url = match t.req_str("postgres_url_env", "the name of an environment variable") {
        Some(var) => {
            let var = var.trim().to_owned();
            let secret = secret_from_env(&t, "postgres_url_env", &var, env);
            let secret = secret.filter(|s| match check_url(s.expose()) {
                Ok(_) => true,
                Err(why) => {
                    t.problem(
                        "postgres_url_env",
                        format!("the value of environment variable {var} {why}"),
                    );
                    false
                }
            });
            secret.map(|s| (var, s))
        }
        None => None,
    };
    let quorum = usize_at_least(&mut t, "quorum", 1, ClusterSettings::DEFAULT_QUORUM);
    if quorum > MAX_QUORUM {
        t.problem(
            "quorum",
            format!("{quorum} is too large; the maximum is {MAX_QUORUM}"),
        );
    }
    let stale = duration_at_least(
        &mut t,
        "vantage_stale_after",
        MIN_STALE_AFTER,
        ClusterSettings::DEFAULT_STALE_AFTER,
    );
    let backlog = usize_at_least(
        &mut t,
        "backlog_limit",
        1,
        ClusterSettings::DEFAULT_BACKLOG_LIMIT,
    );
    t.finish();
    let (postgres_url_env, postgres_url) = url?;
    Some(ClusterSettings {
        postgres_url_env,
        postgres_url,
        quorum: quorum.min(MAX_QUORUM),
        vantage_stale_after: stale,
        backlog_limit: backlog,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;
    use crate::settings::testing::minimal;

    const URL: &str = "postgres://exwatch:hunter2-secret@127.0.0.1:5432/exwatch";

    fn env(var: &str) -> Option<String> {
        match var {
            "PG" => Some(URL.into()),
            "BAD" => Some("postgres://exwatch:hunter2-secret@127.0.0.1:notaport/x".into()),
            "HTTP" => Some("http://exwatch:hunter2-secret@127.0.0.1/x".into()),
            _ => None,
        }
    }

    fn problems(extra: &str) -> Vec<String> {
        match from_toml_str(&minimal(extra), &env) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("valid"),
        }
    }

    #[test]
    fn cluster_config_absent_is_none_and_present_reads_every_key() {
        let s = from_toml_str(&minimal(""), &env).expect("valid");
        assert_eq!(s.cluster, None);
        let s = from_toml_str(
            &minimal(
                "[cluster]\npostgres_url_env = \"PG\"\nquorum = 3\nvantage_stale_after = \"10s\"\n",
            ),
            &env,
        )
        .expect("valid");
        let c = s.cluster.expect("cluster");
        assert_eq!(c.postgres_url_env, "PG");
        assert_eq!(c.postgres_url.expose(), URL);
        assert_eq!(c.quorum, 3);
        assert_eq!(c.vantage_stale_after, Duration::from_secs(10));
        assert_eq!(c.backlog_limit, ClusterSettings::DEFAULT_BACKLOG_LIMIT);
        // The URL never prints.
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn cluster_config_bad_values_are_problems_with_key_paths_and_never_quote_the_url() {
        let p = problems("[cluster]\nquorum = 0\nvantage_stale_after = \"10ms\"\n");
        assert_eq!(
            p,
            [
                "cluster.postgres_url_env: missing; expected the name of an environment variable",
                "cluster.quorum: 0 is too small; the minimum is 1",
                "cluster.vantage_stale_after: 10ms is too short; the minimum is 1s",
            ],
            "{p:#?}"
        );
        let p = problems("[cluster]\npostgres_url_env = \"UNSET\"\nquorum = 1000\n");
        assert_eq!(
            p,
            [
                "cluster.postgres_url_env: environment variable UNSET is not set",
                "cluster.quorum: 1000 is too large; the maximum is 64",
            ]
        );
        for (var, why) in [
            ("BAD", "is not a valid PostgreSQL URL"),
            ("HTTP", "is not a postgres:// URL"),
        ] {
            let p = problems(&format!("[cluster]\npostgres_url_env = \"{var}\"\n"));
            assert_eq!(
                p,
                [format!(
                    "cluster.postgres_url_env: the value of environment variable {var} {why}"
                )]
            );
            assert!(!p[0].contains("hunter2"));
        }
        let p = problems("[cluster]\npostgres_url_env = \"PG\"\nquorom = 2\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("cluster.quorom"), "{p:?}");
    }
}
