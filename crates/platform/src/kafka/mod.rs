//! Kafka clients with the settings our delivery contract depends on.

mod admin;
mod client_config;
mod producer;

pub use admin::{TopicPlan, TopicReport, check_broker, ensure_topics};
pub use client_config::base_client_config;
pub use producer::{Delivered, EventProducer, OutgoingRecord, ProduceError};
