use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use signalops_platform::config::Secret;

const SECRET: &str = "k1-secret-0123456789abcdef0123456789abcdef";

fn settings() -> AuthSettings {
    AuthSettings {
        jwt_keys: Secret::new(format!("k1:{SECRET},k0:old-secret-0123456789abcdef0123456789ab")),
        jwt_active_kid: "k1".into(),
        ..AuthSettings::default()
    }
}

fn keys() -> JwtKeys {
    JwtKeys::from_settings(&settings()).expect("keys")
}

fn claims(overrides: serde_json::Value) -> serde_json::Value {
    let now = Utc::now().timestamp();
    let mut base = json!({
        "sub": Uuid::now_v7(), "tid": Uuid::now_v7(), "typ": "access", "iss": "signalops", "aud": "signalops-api",
        "iat": now, "nbf": now, "exp": now + 300, "jti": Uuid::now_v7(),
    });
    if let (Some(base), Some(overrides)) = (base.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

fn sign(alg: Algorithm, kid: &str, secret: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).expect("sign")
}

#[test]
fn a_token_it_issued_verifies() {
    let keys = keys();
    let (user, tenant) = (Uuid::now_v7(), Uuid::now_v7());
    let (token, ttl) = keys.issue(user, tenant).expect("issue");
    let verified = keys.verify(&token).expect("valid");
    assert_eq!((verified.sub, verified.tid), (user, tenant));
    assert!(ttl <= 900);
}

#[test]
fn tokens_signed_with_an_older_configured_key_still_verify() {
    let token = sign(Algorithm::HS256, "k0", "old-secret-0123456789abcdef0123456789ab", &claims(json!({})));
    assert!(keys().verify(&token).is_ok());
}

#[test]
fn alg_none_is_rejected() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    assert!(keys().verify(&format!("{header}.{payload}.")).is_err());
}

#[test]
fn a_different_algorithm_is_rejected_even_with_the_right_secret() {
    let token = sign(Algorithm::HS512, "k1", SECRET, &claims(json!({})));
    assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
}

#[test]
fn a_tampered_signature_or_payload_is_rejected() {
    let token = sign(Algorithm::HS256, "k1", SECRET, &claims(json!({})));
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert!(keys().verify(&String::from_utf8(tampered).expect("ascii")).is_err());

    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims(json!({"tid": Uuid::now_v7()})).to_string());
    assert!(keys().verify(&format!("{}.{forged}.{}", parts[0], parts[2])).is_err());
}

#[test]
fn expired_not_yet_valid_wrong_issuer_and_wrong_audience_are_rejected() {
    let now = Utc::now().timestamp();
    for bad in [
        json!({"exp": now - 60}),
        json!({"nbf": now + 600}),
        json!({"iss": "someone-else"}),
        json!({"aud": "another-api"}),
        json!({"typ": "refresh"}),
    ] {
        let token = sign(Algorithm::HS256, "k1", SECRET, &claims(bad.clone()));
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid), "{bad}");
    }
}

#[test]
fn missing_claims_are_rejected() {
    let mut without_exp = claims(json!({}));
    without_exp.as_object_mut().map(|o| o.remove("exp"));
    assert!(keys().verify(&sign(Algorithm::HS256, "k1", SECRET, &without_exp)).is_err());
}

#[test]
fn an_unknown_kid_or_no_kid_is_rejected() {
    let token = sign(Algorithm::HS256, "k9", SECRET, &claims(json!({})));
    assert_eq!(keys().verify(&token), Err(TokenError::UnknownKey));
    let header = Header::new(Algorithm::HS256);
    let token = jsonwebtoken::encode(&header, &claims(json!({})), &EncodingKey::from_secret(SECRET.as_bytes())).expect("sign");
    assert_eq!(keys().verify(&token), Err(TokenError::UnknownKey));
}

#[test]
fn a_refresh_token_is_not_an_access_token() {
    assert!(keys().verify("sor_3q2+7w5e8r9t0y1u2i3o4p5a6s7d8f9g0h1j2k3l4").is_err());
}
