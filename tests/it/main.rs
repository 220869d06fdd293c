//! exwatch's integration tests: one binary (Cargo.toml `[[test]] name = "it"`). Loopback fakes
//! of the exchanges, the webhook receiver, LINE and Discord live in `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod alertmanager;
mod api_conformance;
mod api_events;
mod api_silences;
mod api_status;
mod channel_contract;
mod clock;
mod cluster;
mod collect;
mod common;
mod confirm;
mod connectivity;
mod correlation;
mod dashboard;
mod delivery;
mod demo;
mod discord;
mod e2e;
mod embedding;
mod engine_streams;
mod fakes;
mod flapping;
mod grouping;
mod layout;
mod line;
mod llm_triage;
mod maintenance;
mod outbox;
mod pagerduty;
mod pipeline;
mod price;
mod probe;
mod reload;
mod replay;
mod rules;
mod secrets;
mod server;
mod slack;
mod sms;
mod stream;
mod stream_down;
mod supervision;
mod telegram;
mod warm_start;
mod webhook;
