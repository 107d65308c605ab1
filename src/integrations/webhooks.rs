//! Greenlight's signed webhooks: the signature a receiver checks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `Greenlight-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`, so a receiver checks the body and its age with one key.
pub fn webhook_signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_time_and_the_body() {
        let sig = webhook_signature(b"whsec", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("t=1700000000,v1=") && sig.len() == "t=1700000000,v1=".len() + 64);
        assert_ne!(
            sig,
            webhook_signature(b"whsec", 1_700_000_001, b"{\"a\":1}")
        );
        assert_ne!(
            sig,
            webhook_signature(b"whsec", 1_700_000_000, b"{\"a\":2}")
        );
        assert_ne!(
            sig,
            webhook_signature(b"other", 1_700_000_000, b"{\"a\":1}")
        );
    }
}
