//! Configuration. (stub: being written)
mod settings;
pub use settings::*;
