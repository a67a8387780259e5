//! Slack (incoming webhooks), Telegram (Bot API `sendMessage`) and
//! WhatsApp (Cloud API `messages`, a text message): each provider's
//! request shape, and the length each one takes.

use serde_json::json;
use url::Url;

use crate::message::Message;
use crate::sent::{Sent, clip};

/// Slack shows at most 40,000 characters of `text`; Telegram and WhatsApp
/// refuse more than 4,096.
const SLACK_TEXT: usize = 40_000;
const TELEGRAM_TEXT: usize = 4_096;
const WHATSAPP_TEXT: usize = 4_096;

pub fn slack(client: &reqwest::Client, url: Url, message: &Message) -> reqwest::RequestBuilder {
    let text = match &message.subject {
        Some(subject) if !subject.is_empty() => format!("*{subject}*\n{}", message.body),
        _ => message.body.clone(),
    };
    client.post(url).json(&json!({"text": clip(&text, SLACK_TEXT)}))
}

/// `{base}/bot{token}/sendMessage`.
pub fn telegram_url(base: &Url, bot_token: &str) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut().ok()?.pop_if_empty().push(&format!("bot{bot_token}")).push("sendMessage");
    Some(url)
}

pub fn telegram(client: &reqwest::Client, url: Url, chat_id: &str, message: &Message) -> reqwest::RequestBuilder {
    client.post(url).json(&json!({"chat_id": chat_id, "text": clip(&message.text(), TELEGRAM_TEXT)}))
}

/// Telegram says how long to wait in its body (`parameters.retry_after`)
/// rather than in a header.
pub fn telegram_retry_after(sent: &mut Sent) {
    if sent.status != Some(429) || sent.retry_after.is_some() {
        return;
    }
    let seconds = sent
        .excerpt
        .as_deref()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|body| body.pointer("/parameters/retry_after").and_then(serde_json::Value::as_u64));
    sent.retry_after = seconds.map(|s| s.to_string());
}

/// `{base}/{phone_number_id}/messages`.
pub fn whatsapp_url(base: &Url, phone_number_id: &str) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut().ok()?.pop_if_empty().push(phone_number_id).push("messages");
    Some(url)
}

pub fn whatsapp(client: &reqwest::Client, url: Url, access_token: &str, to: &str, message: &Message) -> reqwest::RequestBuilder {
    client.post(url).bearer_auth(access_token).json(&json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.trim_start_matches('+'),
        "type": "text",
        "text": {"preview_url": false, "body": clip(&message.text(), WHATSAPP_TEXT)},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_keep_the_base_path_and_escape_what_they_add() {
        let base = Url::parse("http://127.0.0.1:9/telegram/").expect("url");
        let url = telegram_url(&base, "123:ABC_def-ghi").expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/telegram/bot123:ABC_def-ghi/sendMessage");
        let base = Url::parse("https://graph.facebook.com/v21.0").expect("url");
        assert_eq!(whatsapp_url(&base, "1234567").expect("url").as_str(), "https://graph.facebook.com/v21.0/1234567/messages");
    }

    #[test]
    fn telegrams_retry_after_is_read_from_its_body_only_on_429() {
        let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        let mut sent = Sent { status: Some(429), excerpt: Some(body.into()), ..Sent::default() };
        telegram_retry_after(&mut sent);
        assert_eq!(sent.retry_after.as_deref(), Some("7"));
        let mut other = Sent { status: Some(400), excerpt: Some(body.into()), ..Sent::default() };
        telegram_retry_after(&mut other);
        assert_eq!(other.retry_after, None);
    }
}
