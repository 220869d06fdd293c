//! Integration tests: loopback fakes, message injection.

#[path = "../support/mod.rs"]
mod support;

mod fakes;
