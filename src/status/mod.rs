//! The live status of every exchange and endpoint: what `GET /api/v1/status`, the dashboard and
//! `exwatch status` show.
//!
//! - [`board`]: the [`StatusBoard`], fed by every measurement (from the detector set), compact
//!   per endpoint, read on request;
//! - [`histogram`]: the per-minute log histogram its percentiles come from;
//! - [`view`]: the JSON answer's types (a contract);
//! - [`table`]: the answer as terminal tables;
//! - [`fetch`]: reading a running instance's answer over HTTP.

pub mod board;
pub mod fetch;
pub mod histogram;
pub mod table;
pub mod view;

pub use board::StatusBoard;
pub use fetch::{FetchError, fetch_status};
pub use table::render_table;
pub use view::StatusReport;
