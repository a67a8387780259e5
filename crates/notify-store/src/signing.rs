//! Standard Webhooks signatures: `webhook-signature` is `v1,<base64>` of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with
//! the bytes of the `whsec_…` secret; during a rotation one signature per
//! secret, space-separated, so receivers holding either secret verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::definition::webhook_secret_key;

/// `v1,<base64>` for one secret; `None` when the secret is not a
/// `whsec_` secret (definitions refuse those before they are stored).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = webhook_secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header value for the current secret and, while
/// a rotation's overlap lasts, the previous one.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().filter_map(|secret| sign(secret, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official libraries' vectors (Rust `test_sign`; Python
    // `test_sign_function` and Go `TestWebhookSign`).
    const VECTOR_A: (&str, &str, i64, &str, &str) = (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1_649_367_553,
        r#"{"email":"test@example.com","username":"test_user"}"#,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );
    const VECTOR_B: (&str, &str, i64, &str, &str) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );

    #[test]
    fn the_published_vectors_sign_as_the_spec_says() {
        for (secret, id, timestamp, body, expected) in [VECTOR_A, VECTOR_B] {
            assert_eq!(sign(secret, id, timestamp, body.as_bytes()).as_deref(), Some(expected), "{id}");
        }
        let (secret, id, timestamp, body, _) = VECTOR_A;
        assert_ne!(sign(secret, id, timestamp, format!("{body} ").as_bytes()), sign(secret, id, timestamp, body.as_bytes()));
        assert_eq!(sign("not-a-secret", id, timestamp, body.as_bytes()), None);
    }

    #[test]
    fn the_standardwebhooks_crate_verifies_every_signature_of_a_rotation() {
        let old = crate::definition::new_webhook_secret();
        let new = crate::definition::new_webhook_secret();
        let (id, body) = ("0193f2a4-2b1c-7d3e-8f4a-5b6c7d8e9f01", br#"{"type":"payment.failed"}"#);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let timestamp = i64::try_from(now).expect("timestamp");
        let header = signature_header(&[&new, &old], id, timestamp, body);
        assert_eq!(header.split(' ').count(), 2, "{header}");
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().expect("header"));
        headers.insert("webhook-timestamp", timestamp.to_string().parse().expect("header"));
        headers.insert("webhook-signature", header.parse().expect("header"));
        for secret in [&new, &old] {
            let receiver = standardwebhooks::Webhook::new(secret).expect("the crate takes our secrets");
            assert!(receiver.verify(body, &headers).is_ok(), "a receiver holding either secret verifies");
        }
        let stranger = standardwebhooks::Webhook::new(&crate::definition::new_webhook_secret()).expect("secret");
        assert!(stranger.verify(body, &headers).is_err(), "another secret does not");
        let (secret, vid, vts, vbody, expected) = VECTOR_A;
        let oracle = standardwebhooks::Webhook::new(secret).expect("secret");
        assert_eq!(oracle.sign(vid, vts, vbody.as_bytes()).expect("sign"), expected, "the crate agrees on the vector");
    }
}
