//! The terminal companions of a running exwatch: subcommands that read its HTTP API and
//! print tables. The binary only parses arguments and maps errors to exit codes; fetching
//! and rendering live here, where they can be tested.

pub mod events;
