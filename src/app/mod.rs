//! Application services: the use cases, wiring domain and adapters.

pub mod backtest;
pub mod detector;
pub mod replay;
