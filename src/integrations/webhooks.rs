//! Standard Webhooks (standardwebhooks.com, spec 1.0.0), the sender's side:
//! the signing secret's format, the signature and the headers a delivery
//! carries, so that any of the standard's libraries verifies our webhooks.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use super::outbound::{Outbound, OutboundError};
use crate::metrics::Target;

/// The prefix the standard gives symmetric secrets, so that a receiver's
/// library knows the scheme from the secret itself.
const PREFIX: &str = "whsec_";
/// The standard's bounds on an HMAC key: 192 to 512 bits.
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// A signing secret, `whsec_` + base64 of 24–64 random bytes; parsed once
/// when the configuration loads, so a delivery never meets a bad one.
#[derive(Clone)]
pub struct WebhookSecret {
    /// As the operator wrote it (the redactor masks this text).
    text: SecretString,
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// The error says what is wrong, never the value (the caller names the
    /// key).
    pub fn parse(text: &str) -> Result<Self, String> {
        let hint = "(make one with: echo \"whsec_$(openssl rand -base64 32)\")";
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("must start with {PREFIX} {hint}"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("must be {PREFIX} followed by standard base64 {hint}"))?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(format!(
                "must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of base64, got {} {hint}",
                key.len()
            ));
        }
        Ok(Self {
            text: text.to_owned().into(),
            key: key.into(),
        })
    }

    /// The secret as configured, for the redactor.
    pub fn text(&self) -> &str {
        self.text.expose_secret()
    }

    /// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The secrets a delivery is signed with: the current one, and during a
/// rotation the one before it (receivers not yet moved keep verifying).
#[derive(Debug, Clone)]
pub struct SigningKeys {
    pub current: WebhookSecret,
    pub previous: Option<WebhookSecret>,
}

/// The headers of one delivery attempt. `id` is fixed when the delivery is
/// queued (a retry keeps it: receivers deduplicate by it) and may not hold
/// a `.`, which the signed text uses as its separator; `timestamp` is this
/// attempt's (receivers refuse old ones).
pub fn headers(
    keys: &SigningKeys,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    debug_assert!(!id.contains('.'), "a webhook id without a dot");
    let signature = std::iter::once(&keys.current)
        .chain(&keys.previous)
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        // The standard's list separator: receivers try each signature.
        .join(" ");
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}

/// One delivery attempt: `body` signed under the delivery `id` and this
/// attempt's time, posted to `url` (the operator's: its host may be
/// private). Every wing's webhook job calls this, and maps the error with
/// `queue::JobError::from_webhook`.
pub async fn deliver(
    outbound: &Outbound,
    url: &str,
    keys: &SigningKeys,
    id: &str,
    body: Vec<u8>,
) -> Result<(), OutboundError> {
    let mut call = outbound.post(Target::Webhook, url);
    for (name, value) in headers(keys, id, chrono::Utc::now().timestamp(), &body) {
        call = call.header(name, value);
    }
    call.json(body).send().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector every one of the standard's libraries tests its signer
    /// with (libraries/go/webhook_test.go `TestWebhookSign`, and the
    /// JavaScript, C# and Java twins).
    #[test]
    fn the_standards_test_vector_signs_as_its_libraries_do() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// The standard's Rust library accepts what we send, with either
    /// secret of a rotation, and refuses another secret, another body,
    /// another id and another timestamp.
    #[test]
    fn the_standards_rust_library_verifies_the_headers() {
        let make =
            |byte: u8| WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([byte; 32])));
        let (new, old, other) = (make(1).unwrap(), make(2).unwrap(), make(3).unwrap());
        let keys = SigningKeys {
            current: new.clone(),
            previous: Some(old.clone()),
        };
        let body = br#"{"type":"release.approved"}"#;
        let now = chrono::Utc::now().timestamp();
        let to_map = |headers: [(&'static str, String); 3]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.insert(name, value.parse().unwrap());
            }
            map
        };
        let sent = to_map(headers(&keys, "d0e1f2", now, body));
        let signature = sent["webhook-signature"].to_str().unwrap();
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
        assert!(signature.split(' ').all(|s| s.starts_with("v1,")));
        let verifier = |s: &WebhookSecret| standardwebhooks::Webhook::new(s.text()).unwrap();
        verifier(&new).verify(body, &sent).unwrap();
        verifier(&old).verify(body, &sent).unwrap();
        assert!(verifier(&other).verify(body, &sent).is_err());
        assert!(verifier(&new).verify(b"{}", &sent).is_err());
        for (name, value) in [
            ("webhook-id", "d0e1f3".to_owned()),
            ("webhook-timestamp", (now - 1).to_string()),
        ] {
            let mut changed = sent.clone();
            changed.insert(name, value.parse().unwrap());
            assert!(verifier(&new).verify(body, &changed).is_err(), "{name}");
        }
        // Without a rotation, one signature.
        let single = headers(
            &SigningKeys {
                current: new,
                previous: None,
            },
            "d0e1f2",
            now,
            body,
        );
        assert!(!single[2].1.contains(' '));
    }

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes_of_base64() {
        let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
        for n in [24, 32, 64] {
            assert!(
                WebhookSecret::parse(&format!("whsec_{}", b64(n))).is_ok(),
                "{n}"
            );
        }
        for (text, why) in [
            (b64(32), "must start with whsec_"),
            (format!("whsec_{}", b64(23)), "got 23"),
            (format!("whsec_{}", b64(65)), "got 65"),
            ("whsec_not base64!".to_owned(), "standard base64"),
            ("whsec_".to_owned(), "got 0"),
        ] {
            let err = WebhookSecret::parse(&text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            if text.len() > 10 {
                assert!(!err.contains(&text[6..]), "the value stays out: {err}");
            }
        }
        let secret = WebhookSecret::parse(&format!("whsec_{}", b64(24))).unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
    }
}
