//! Kafka clients with the settings our delivery contract depends on.

mod admin;
mod client_config;
mod producer;

pub use admin::{TopicPlan, TopicReport, ensure_topics, check_broker};
pub use client_config::base_client_config;
pub use producer::{Delivered, OutgoingRecord, ProduceError, EventProducer};
