//! Answer profiles. (stub: being written)
