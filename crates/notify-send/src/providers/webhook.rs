//! A webhook attempt: the Standard Webhooks headers (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature` with one signature per secret
//! while a rotation overlaps), the channel's own headers, the JSON body.

use std::collections::BTreeMap;

use signalops_notify_store::signing::signature_header;
use url::Url;

use crate::message::Message;

pub struct Signing<'a> {
    pub current: &'a str,
    pub previous: Option<&'a str>,
    pub timestamp: i64,
}

pub fn request(
    client: &reqwest::Client,
    url: Url,
    headers: &BTreeMap<String, String>,
    signing: &Signing<'_>,
    message: &Message,
) -> reqwest::RequestBuilder {
    let body = message.webhook_body();
    let secrets: Vec<&str> = std::iter::once(signing.current).chain(signing.previous).collect();
    let signature = signature_header(&secrets, &message.id, signing.timestamp, &body);
    let mut request = client.post(url);
    // The channel's headers first: the definition refused any that would
    // collide with the ones the notifier sets.
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &message.id)
        .header("webhook-timestamp", signing.timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
}
