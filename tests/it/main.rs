//! exwatch's integration tests: one binary (Cargo.toml `[[test]] name = "it"`). Loopback fakes
//! of the exchanges and the webhook receiver live in `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod collect;
mod e2e;
mod fakes;
mod outbox;
mod pipeline;
mod probe;
mod supervision;
mod webhook;
