//! The rules group against the real broker and database (one test binary;
//! the modules share the fixture).

mod appends;
mod exactly_once;
mod firing;
mod fixture;
mod live_equals_backtest;
mod loading;
