use rdkafka::ClientConfig;

use crate::config::KafkaSettings;

/// Settings every client shares: where the brokers are and who we are.
pub fn base_client_config(settings: &KafkaSettings, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", client_id)
        // librdkafka logs through our tracing subscriber, not stderr.
        .set("log_level", "4")
        .set("socket.keepalive.enable", "true");
    config
}
