//! Secrets never leave the environment: one run of the real binary with every channel type
//! configured against loopback fakes of its platform, debug logging everywhere, alerts
//! flowing; then no secret may appear in the log, in `check-config`'s output, or anywhere in
//! the event store.

use std::time::{Duration, Instant};

use crate::e2e::{EXWATCH, Running};
use crate::support::fake_alertmanager::FakeAlertmanager;
use crate::support::fake_discord::FakeDiscord;
use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_line::FakeLine;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_sink::FakeSink;
use crate::support::fake_twilio::{self, FakeTwilio};

const WEBHOOK_SECRET: &str = "whsec-webhook-signing-secret-4242";
const LINE_TOKEN: &str = "line-channel-access-token-4242";
const DISCORD_TOKEN: &str = "discordwebhooktoken4242";
const LLM_KEY: &str = "sk-llm-api-key-4242";

#[actix::test]
async fn secrets_never_reach_logs_check_config_or_the_store() {
    let exchange = FakeExchange::start();
    exchange.set_mode(Mode::Status(503));
    let sink = FakeSink::start();
    let line = FakeLine::start(LINE_TOKEN);
    let discord = FakeDiscord::start(DISCORD_TOKEN);
    let twilio = FakeTwilio::start();
    let am = FakeAlertmanager::start();
    let model = FakeOpenAi::start(LLM_KEY);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("events.db");
    let config = dir.path().join("exwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
listen = "127.0.0.1:0"

[store]
path = "{db}"

[defaults]
interval = "100ms"
timeout = "1s"

[breaker]
failure_threshold = 3
recovery_timeout = "30s"

[exchanges.binance.endpoints.ping]
url = "{ping}"
check = "binance"

[channels.ops]
type = "webhook"
url = "{sink}"
secret_env = "T_WEBHOOK_SECRET"

[channels.desk-line]
type = "line"
to = "U0123456789abcdef0123456789abcdef"
token_env = "T_LINE_TOKEN"
api_base = "{line}"

[channels.desk-discord]
type = "discord"
webhook_url_env = "T_DISCORD_URL"

[channels.oncall-sms]
type = "sms"
account_sid_env = "T_TWILIO_SID"
auth_token_env = "T_TWILIO_TOKEN"
from = "+15005550006"
to = ["+66800000000"]
api_base = "{twilio}"

[channels.am]
type = "alertmanager"
urls = ["{am}"]
resend_interval = "200ms"

[channels.triage]
type = "llm_triage"
base_url = "{model}/v1"
model = "gpt-4o-mini"
api_key_env = "T_LLM_KEY"
"#,
            db = db.display(),
            ping = exchange.url("/api/v3/ping"),
            sink = sink.url(),
            line = line.api_base(),
            twilio = twilio.api_base(),
            am = am.url(),
            model = model.base_url(),
        ),
    )
    .expect("write config");
    let env = [
        ("T_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
        ("T_LINE_TOKEN", LINE_TOKEN.to_string()),
        ("T_DISCORD_URL", discord.webhook_url()),
        ("T_TWILIO_SID", fake_twilio::ACCOUNT_SID.to_string()),
        ("T_TWILIO_TOKEN", fake_twilio::AUTH_TOKEN.to_string()),
        ("T_LLM_KEY", LLM_KEY.to_string()),
        // Everything at debug, exwatch at trace: what an operator chasing a problem turns on.
        ("RUST_LOG", "debug,exwatch=trace".to_string()),
    ];
    let secrets = [
        WEBHOOK_SECRET,
        LINE_TOKEN,
        DISCORD_TOKEN,
        fake_twilio::ACCOUNT_SID,
        fake_twilio::AUTH_TOKEN,
        LLM_KEY,
    ];

    // check-config resolves every secret and prints none.
    let out = std::process::Command::new(EXWATCH)
        .arg("check-config")
        .arg(&config)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("check-config");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    for s in secrets {
        assert!(
            !printed.contains(s),
            "check-config printed a secret:\n{printed}"
        );
    }

    // A 503 storm: every channel gets alerts (the breaker opening is critical, so triage runs).
    let exwatch = Running::start_with(&config, dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = !sink.received().is_empty()
            && !line.pushes().is_empty()
            && !discord.delivered().is_empty()
            && !twilio.requests().is_empty()
            && !am.posts().is_empty()
            && !model.requests().is_empty();
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every platform was reached:\n{}",
            exwatch.log()
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exwatch.terminate();
    let log = std::fs::read_to_string(dir.path().join("exwatch.log")).expect("log");
    assert!(status.success(), "{log}");
    assert!(log.len() > 1000, "debug logging was on");
    for s in secrets {
        assert!(!log.contains(s), "a secret reached the log");
    }

    // The event store: every text column of every table.
    let conn = rusqlite::Connection::open(&db).expect("open store");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("tables");
    let mut scanned = 0;
    for t in tables {
        let mut st = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .expect("select");
        let columns = st.column_count();
        let mut rows = st.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for c in 0..columns {
                if let Ok(text) = row.get::<_, String>(c) {
                    scanned += 1;
                    for s in secrets {
                        assert!(!text.contains(s), "a secret is stored in table {t}");
                    }
                }
            }
        }
    }
    assert!(scanned > 10, "the store held alerts and deliveries");
}
