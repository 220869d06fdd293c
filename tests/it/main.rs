//! exwatch's integration tests: one binary (see Cargo.toml `[[test]] name = "it"`).

mod collect;
mod pipeline;
