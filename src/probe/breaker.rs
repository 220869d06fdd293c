//! The per-exchange circuit breaker. (stub: being written)
