//! exwatch (being written)
#![deny(missing_docs)]

pub mod config;
pub mod detect;
pub mod error;
pub mod messages;
pub mod probe;
