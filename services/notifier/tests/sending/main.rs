//! Sending against the real broker and database, with loopback receivers
//! and a test clock.

mod fixture;
mod health;
mod retries;
mod webhooks;
