//! The admin API, driven over real HTTP against an in-process gateway that
//! uses the real Kafka broker and a fresh PostgreSQL database per test.

mod helpers;

mod api_keys;
mod auth;
mod authorization_matrix;
mod bad_input;
mod channels;
mod ingest;
mod invitations;
mod members;
mod query;
mod rules;
mod rules_backtest;
mod rules_dry_run;
mod surface;
mod tail;
mod tail_credentials;
