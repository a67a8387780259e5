//! A channel as people write it (`{"id", "name", "kind", "config"}`),
//! checked at the edge and split into what may be shown (`settings`) and
//! what must be sealed (`Credentials`). Every problem is named by its JSON
//! Pointer, as the rules API names a rule's.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use signalops_platform::email::Email;

/// Most recipients of one email channel.
pub const MAX_RECIPIENTS: usize = 20;
/// Most extra headers of one webhook channel.
pub const MAX_HEADERS: usize = 10;
const MAX_URL_LENGTH: usize = 2_048;
const MAX_NAME_LENGTH: usize = 200;
const MAX_HEADER_VALUE_LENGTH: usize = 1_024;
const MAX_TOKEN_LENGTH: usize = 2_048;
/// Standard Webhooks secrets carry 24 to 64 random bytes.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
const SECRET_PREFIX: &str = "whsec_";

/// Headers a webhook's extra headers may not set: the ones the notifier
/// writes itself, and the ones that frame the HTTP message.
const RESERVED_HEADERS: [&str; 13] = [
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Webhook,
    Email,
    Slack,
    Telegram,
    Whatsapp,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Webhook, Kind::Email, Kind::Slack, Kind::Telegram, Kind::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Email => "email",
            Kind::Slack => "slack",
            Kind::Telegram => "telegram",
            Kind::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// What is sealed at rest, by kind. Never shown after it was set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Credentials {
    Webhook { secret: String, headers: BTreeMap<String, String> },
    Email {},
    Slack { webhook_url: String },
    Telegram { bot_token: String },
    Whatsapp { access_token: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, redacted)", self.kind().as_str())
    }
}

impl Credentials {
    pub fn kind(&self) -> Kind {
        match self {
            Credentials::Webhook { .. } => Kind::Webhook,
            Credentials::Email {} => Kind::Email,
            Credentials::Slack { .. } => Kind::Slack,
            Credentials::Telegram { .. } => Kind::Telegram,
            Credentials::Whatsapp { .. } => Kind::Whatsapp,
        }
    }
}

/// A checked channel configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// What the API shows (no credential).
    pub settings: Value,
    pub credentials: Credentials,
    /// The webhook secret when this configuration generated it: shown once.
    pub generated_secret: Option<String>,
}

/// Problems, each at a JSON Pointer.
pub type Problems = Vec<(String, String)>;

/// A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
pub fn new_webhook_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_…` secret.
pub fn webhook_secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    SECRET_BYTES.contains(&key.len()).then_some(key)
}

/// Checks a channel id: 1-64 of `a-z`, `0-9`, `.`, `_`, `-`, starting with
/// a letter or digit (the names rules list).
pub fn check_id(id: &str) -> Result<(), String> {
    let mut bytes = id.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && id.len() <= 64 {
        Ok(())
    } else {
        Err("must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit".into())
    }
}

/// Checks a channel's display name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(format!("must be at most {MAX_NAME_LENGTH} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks `config` (at `pointer`) for a channel of `kind`. Credentials
/// left out are taken from `stored` (an update keeps them); a new webhook
/// without a `secret` gets a generated one.
pub fn check_config(kind: Kind, config: &Value, pointer: &str, stored: Option<&Credentials>, problems: &mut Problems) -> Option<Config> {
    let Some(map) = config.as_object() else {
        problems.push((pointer.to_owned(), "must be an object".into()));
        return None;
    };
    let mut fields = Fields { map, pointer, problems };
    let config = match kind {
        Kind::Webhook => webhook(&mut fields, stored),
        Kind::Email => email(&mut fields),
        Kind::Slack => slack(&mut fields, stored),
        Kind::Telegram => telegram(&mut fields, stored),
        Kind::Whatsapp => whatsapp(&mut fields, stored),
    };
    fields.refuse_unknown(kind);
    config
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    pointer: &'a str,
    problems: &'a mut Problems,
}

impl Fields<'_> {
    fn at(&self, key: &str) -> String {
        format!("{}/{key}", self.pointer)
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        let at = self.at(key);
        self.problems.push((at, message.into()));
    }

    /// A string field; `None` (and a problem when `required`) when absent or not a string.
    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        match self.map.get(key) {
            None | Some(Value::Null) if required => {
                self.problem(key, "is required");
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(key, "must be a string");
                None
            }
        }
    }

    fn refuse_unknown(&mut self, kind: Kind) {
        let known: &[&str] = match kind {
            Kind::Webhook => &["url", "headers", "secret"],
            Kind::Email => &["to"],
            Kind::Slack => &["webhook_url"],
            Kind::Telegram => &["bot_token", "chat_id"],
            Kind::Whatsapp => &["phone_number_id", "access_token", "to"],
        };
        let unknown: Vec<String> = self.map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        for key in unknown {
            self.problem(&key, format!("is not a field of a {} channel (known: {})", kind.as_str(), known.join(", ")));
        }
    }
}

fn check_url(fields: &mut Fields<'_>, key: &str, text: &str) -> bool {
    if text.len() > MAX_URL_LENGTH {
        fields.problem(key, format!("must be at most {MAX_URL_LENGTH} characters"));
        return false;
    }
    // Stored as written: a NUL would be refused by Postgres, and no
    // receiver's URL needs a control character.
    if text.chars().any(char::is_control) {
        fields.problem(key, "must not contain control characters");
        return false;
    }
    match url::Url::parse(text) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => fields.problem(key, "must be an http or https URL"),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => fields.problem(key, "must name a host"),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            fields.problem(key, "must not carry a user or password (send credentials in headers)");
        }
        Ok(url) if url.fragment().is_some() => fields.problem(key, "must not have a fragment"),
        Ok(_) => return true,
        Err(error) => fields.problem(key, format!("is not a URL: {error}")),
    }
    false
}

fn webhook(fields: &mut Fields<'_>, stored: Option<&Credentials>) -> Option<Config> {
    let (stored_secret, stored_headers) = match stored {
        Some(Credentials::Webhook { secret, headers }) => (Some(secret.clone()), Some(headers.clone())),
        _ => (None, None),
    };
    let url = fields.string("url", true).filter(|u| check_url(fields, "url", u));
    let headers = match fields.map.get("headers") {
        None | Some(Value::Null) => Some(stored_headers.unwrap_or_default()),
        Some(Value::Object(given)) => headers(fields, given),
        Some(_) => {
            fields.problem("headers", "must be an object of header names and values");
            None
        }
    };
    let (secret, generated) = match fields.string("secret", false) {
        Some(given) if webhook_secret_key(&given).is_some() => (Some(given), None),
        Some(_) => {
            fields.problem("secret", "must be `whsec_` followed by 24 to 64 bytes in base64 (or left out to have one generated)");
            (None, None)
        }
        None => match stored_secret {
            Some(kept) => (Some(kept), None),
            None => {
                let fresh = new_webhook_secret();
                (Some(fresh.clone()), Some(fresh))
            }
        },
    };
    let (url, headers, secret) = (url?, headers?, secret?);
    let names: Vec<&String> = headers.keys().collect();
    Some(Config {
        settings: json!({"url": url, "headers": names}),
        credentials: Credentials::Webhook { secret, headers },
        generated_secret: generated,
    })
}

fn headers(fields: &mut Fields<'_>, given: &Map<String, Value>) -> Option<BTreeMap<String, String>> {
    if given.len() > MAX_HEADERS {
        fields.problem("headers", format!("has {} headers; at most {MAX_HEADERS} are allowed", given.len()));
        return None;
    }
    let mut checked = BTreeMap::new();
    let before = fields.problems.len();
    for (name, value) in given {
        let at = format!("headers/{}", name.replace('~', "~0").replace('/', "~1"));
        let lower = name.to_ascii_lowercase();
        let token =
            !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            fields.problem(&at, "is not a valid header name");
        } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            fields.problem(&at, "is set by the notifier and cannot be overridden");
        } else if checked.contains_key(&lower) {
            fields.problem(&at, "is listed twice (header names are case-insensitive)");
        }
        match value.as_str() {
            Some(v) if v.len() <= MAX_HEADER_VALUE_LENGTH && v.bytes().all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b)) => {
                checked.insert(lower, v.to_owned());
            }
            Some(_) => fields.problem(&at, format!("must be at most {MAX_HEADER_VALUE_LENGTH} visible ASCII characters")),
            None => fields.problem(&at, "must be a string"),
        }
    }
    (fields.problems.len() == before).then_some(checked)
}

fn email(fields: &mut Fields<'_>) -> Option<Config> {
    let Some(to) = fields.map.get("to") else {
        fields.problem("to", "is required");
        return None;
    };
    let Some(items) = to.as_array() else {
        fields.problem("to", "must be an array of email addresses");
        return None;
    };
    if items.is_empty() || items.len() > MAX_RECIPIENTS {
        fields.problem("to", format!("must list 1 to {MAX_RECIPIENTS} addresses"));
        return None;
    }
    let before = fields.problems.len();
    let mut addresses: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("to/{i}");
        match item.as_str().map(Email::parse) {
            Some(Ok(address)) if addresses.iter().any(|a| a == address.as_str()) => fields.problem(&at, "is listed twice"),
            Some(Ok(address)) => addresses.push(address.as_str().to_owned()),
            Some(Err(invalid)) => fields.problem(&at, invalid.to_string()),
            None => fields.problem(&at, "must be a string"),
        }
    }
    (fields.problems.len() == before).then(|| Config {
        settings: json!({"to": addresses}),
        credentials: Credentials::Email {},
        generated_secret: None,
    })
}

/// A credential field: given (checked), or kept from what is stored.
fn credential(fields: &mut Fields<'_>, key: &str, kept: Option<String>, check: impl Fn(&str) -> Result<(), String>) -> Option<String> {
    match fields.string(key, kept.is_none()) {
        Some(given) => match check(&given) {
            Ok(()) => Some(given),
            Err(message) => {
                fields.problem(key, message);
                None
            }
        },
        None => kept,
    }
}

fn slack(fields: &mut Fields<'_>, stored: Option<&Credentials>) -> Option<Config> {
    let kept = match stored {
        Some(Credentials::Slack { webhook_url }) => Some(webhook_url.clone()),
        _ => None,
    };
    let given = fields.string("webhook_url", kept.is_none());
    let webhook_url = match given {
        Some(url) => check_url(fields, "webhook_url", &url).then_some(url),
        None => kept,
    }?;
    Some(Config { settings: json!({}), credentials: Credentials::Slack { webhook_url }, generated_secret: None })
}

fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() || token.len() > MAX_TOKEN_LENGTH || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(format!("must be 1 to {MAX_TOKEN_LENGTH} visible ASCII characters without spaces"));
    }
    Ok(())
}

fn telegram(fields: &mut Fields<'_>, stored: Option<&Credentials>) -> Option<Config> {
    let kept = match stored {
        Some(Credentials::Telegram { bot_token }) => Some(bot_token.clone()),
        _ => None,
    };
    let bot_token = credential(fields, "bot_token", kept, |t| {
        let (bot, secret) = t.split_once(':').unwrap_or(("", ""));
        let ok = (1..=20).contains(&bot.len())
            && bot.bytes().all(|b| b.is_ascii_digit())
            && (20..=100).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok { Ok(()) } else { Err("must be a bot token as BotFather gives it (`123456:ABC…`)".into()) }
    });
    let chat_id = fields.string("chat_id", true).filter(|id| {
        let numeric = id.strip_prefix('-').unwrap_or(id);
        let by_number = (1..=20).contains(&numeric.len()) && numeric.bytes().all(|b| b.is_ascii_digit());
        let by_name =
            id.strip_prefix('@').is_some_and(|n| (5..=32).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let ok = by_number || by_name;
        if !ok {
            fields.problem("chat_id", "must be a chat id (`-100123…`) or a public channel name (`@name`)");
        }
        ok
    });
    let (bot_token, chat_id) = (bot_token?, chat_id?);
    Some(Config { settings: json!({"chat_id": chat_id}), credentials: Credentials::Telegram { bot_token }, generated_secret: None })
}

fn whatsapp(fields: &mut Fields<'_>, stored: Option<&Credentials>) -> Option<Config> {
    let kept = match stored {
        Some(Credentials::Whatsapp { access_token }) => Some(access_token.clone()),
        _ => None,
    };
    let access_token = credential(fields, "access_token", kept, check_token);
    let phone_number_id = fields.string("phone_number_id", true).filter(|id| {
        let ok = (1..=30).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            fields.problem("phone_number_id", "must be the digits of a WhatsApp Business phone-number id");
        }
        ok
    });
    let to = fields.string("to", true).filter(|to| {
        let digits = to.strip_prefix('+').unwrap_or(to);
        let ok = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if !ok {
            fields.problem("to", "must be a phone number in international format (`+4915123456789`)");
        }
        ok
    });
    let (access_token, phone_number_id, to) = (access_token?, phone_number_id?, to?);
    Some(Config {
        settings: json!({"phone_number_id": phone_number_id, "to": to}),
        credentials: Credentials::Whatsapp { access_token },
        generated_secret: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: Kind, config: Value) -> Result<Config, Problems> {
        let mut problems = Vec::new();
        let checked = check_config(kind, &config, "/config", None, &mut problems);
        match checked {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    fn pointers(problems: &Problems) -> Vec<&str> {
        problems.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn a_webhook_gets_a_generated_secret_and_shows_only_header_names() {
        let c =
            check(Kind::Webhook, json!({"url": "https://example.com/hook", "headers": {"Authorization": "Bearer t0ken"}})).expect("valid");
        let secret = c.generated_secret.clone().expect("generated");
        assert_eq!(webhook_secret_key(&secret).map(|k| k.len()), Some(32));
        assert_eq!(c.settings, json!({"url": "https://example.com/hook", "headers": ["authorization"]}));
        assert!(!c.settings.to_string().contains("t0ken"));
        assert_eq!(
            c.credentials,
            Credentials::Webhook { secret, headers: BTreeMap::from([("authorization".to_owned(), "Bearer t0ken".to_owned())]) }
        );
        assert_eq!(format!("{:?}", c.credentials), "Credentials(webhook, redacted)");
    }

    #[test]
    fn a_given_secret_must_be_a_standard_webhooks_secret() {
        let given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let c = check(Kind::Webhook, json!({"url": "http://127.0.0.1:9/x", "secret": given})).expect("valid");
        assert_eq!((c.generated_secret, c.credentials), (None, Credentials::Webhook { secret: given.into(), headers: BTreeMap::new() }));
        let problems = check(Kind::Webhook, json!({"url": "http://h/x", "secret": "hunter2"})).expect_err("refused");
        assert_eq!(pointers(&problems), ["/config/secret"]);
        assert!(!problems[0].1.contains("hunter2"), "never echoes a secret");
    }

    #[test]
    fn bad_webhooks_are_named_field_by_field() {
        let problems = check(
            Kind::Webhook,
            json!({
                "url": "ftp://example.com/x",
                "headers": {"webhook-signature": "v1,x", "X-A": "ok", "x-a": "dup", "bad name": "v", "x-nl": "a\r\nb", "x/y": 1},
                "extra": true
            }),
        )
        .expect_err("refused");
        assert_eq!(
            pointers(&problems),
            [
                "/config/url",
                "/config/headers/bad name",
                "/config/headers/webhook-signature",
                "/config/headers/x-a",
                "/config/headers/x-nl",
                "/config/headers/x~1y",
                "/config/headers/x~1y",
                "/config/extra"
            ]
        );
        for url in ["not a url", "https://user:pw@example.com/", "https://", "mailto:ops@example.com", "https://example.com/#frag"] {
            let problems = check(Kind::Webhook, json!({ "url": url })).expect_err(url);
            assert_eq!(pointers(&problems), ["/config/url"], "{url}");
        }
        let too_many: Map<String, Value> = (0..11).map(|i| (format!("x-{i}"), json!("v"))).collect();
        assert_eq!(
            pointers(&check(Kind::Webhook, json!({"url": "https://e.com", "headers": too_many})).expect_err("11")),
            ["/config/headers"]
        );
        assert_eq!(pointers(&check(Kind::Webhook, json!("https://e.com")).expect_err("not an object")), ["/config"]);
    }

    #[test]
    fn email_recipients_are_normalised_and_each_one_checked() {
        let c = check(Kind::Email, json!({"to": [" Ops@Example.com ", "b@example.org"]})).expect("valid");
        assert_eq!(c.settings, json!({"to": ["ops@example.com", "b@example.org"]}));
        let problems = check(Kind::Email, json!({"to": ["a@example.com", "A@example.com", "nope", 7]})).expect_err("refused");
        assert_eq!(pointers(&problems), ["/config/to/1", "/config/to/2", "/config/to/3"]);
        assert_eq!(pointers(&check(Kind::Email, json!({"to": []})).expect_err("empty")), ["/config/to"]);
        assert_eq!(pointers(&check(Kind::Email, json!({})).expect_err("missing")), ["/config/to"]);
    }

    #[test]
    fn chat_channels_keep_their_tokens_out_of_the_settings() {
        let slack = check(Kind::Slack, json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/xyz"})).expect("valid");
        assert_eq!(slack.settings, json!({}));
        let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let telegram = check(Kind::Telegram, json!({"bot_token": token, "chat_id": "-1001234567890"})).expect("valid");
        assert_eq!(telegram.settings, json!({"chat_id": "-1001234567890"}));
        assert_eq!(telegram.credentials, Credentials::Telegram { bot_token: token.into() });
        let whatsapp =
            check(Kind::Whatsapp, json!({"phone_number_id": "106540352242922", "access_token": "EAAG1", "to": "+4915123456789"}))
                .expect("valid");
        assert_eq!(whatsapp.settings, json!({"phone_number_id": "106540352242922", "to": "+4915123456789"}));

        let problems = check(Kind::Telegram, json!({"bot_token": "nope", "chat_id": "general"})).expect_err("refused");
        assert_eq!(pointers(&problems), ["/config/bot_token", "/config/chat_id"]);
        let problems =
            check(Kind::Whatsapp, json!({"phone_number_id": "x1", "access_token": "has space", "to": "0123"})).expect_err("refused");
        assert_eq!(pointers(&problems), ["/config/access_token", "/config/phone_number_id", "/config/to"]);
        assert_eq!(pointers(&check(Kind::Slack, json!({})).expect_err("missing")), ["/config/webhook_url"]);
    }

    #[test]
    fn an_update_keeps_the_credentials_it_leaves_out() {
        let stored = Credentials::Telegram { bot_token: "1:AAAAAAAAAAAAAAAAAAAAAAAA".into() };
        let mut problems = Vec::new();
        let c = check_config(Kind::Telegram, &json!({"chat_id": "42"}), "/config", Some(&stored), &mut problems).expect("valid");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.credentials, stored);
        let webhook = Credentials::Webhook { secret: new_webhook_secret(), headers: BTreeMap::from([("x-k".into(), "v".into())]) };
        let c = check_config(Kind::Webhook, &json!({"url": "https://e.com/2"}), "/config", Some(&webhook), &mut problems).expect("valid");
        assert_eq!((c.credentials, c.generated_secret), (webhook, None), "an update keeps the secret and the headers");
    }

    #[test]
    fn nul_and_control_characters_never_reach_what_is_stored() {
        // Postgres refuses NUL in text and jsonb: what passes must hold none.
        for url in ["https://example.com/a\u{0}b", "https://exa\u{0}mple.com/", "https://example.com/\u{1}?q=\u{0}"] {
            let problems = check(Kind::Webhook, json!({ "url": url })).expect_err(url);
            assert_eq!(pointers(&problems), ["/config/url"], "{url:?}");
        }
        assert!(check(Kind::Webhook, json!({"url": "https://e.com", "headers": {"x-a": "a\u{0}b"}})).is_err());
        assert!(check(Kind::Telegram, json!({"bot_token": "1:AAAAAAAAAAAAAAAAAAAA\u{0}A", "chat_id": "1"})).is_err());
        assert!(check(Kind::Email, json!({"to": ["a\u{0}@example.com"]})).is_err());
        assert!(check_name("a\u{0}b").is_err() && check_id("a\u{0}").is_err());
    }

    #[test]
    fn ids_and_names() {
        for ok in ["ops", "ops-email", "a", "team.pager_2", &"x".repeat(64)] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-ops", "Ops", "ops email", "ops/x", &"x".repeat(65), "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert!(check_name("Ops pager").is_ok());
        assert!(check_name(" ").is_err() && check_name("a\u{0}b").is_err() && check_name(&"n".repeat(201)).is_err());
    }
}
