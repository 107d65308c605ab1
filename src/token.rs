//! Approval tokens: HS256 JWTs that name one approver of one release.
//!
//! The algorithm is pinned (a token whose header says anything else,
//! `none` included, is refused before its signature is looked at), the
//! issuer and audience are fixed, and `exp`, `sub` and `jti` are required.
//! The `jti` is the key of the approval request in the database, which is
//! what finally binds a token to one approver and one release.

use chrono::{DateTime, NaiveDateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "greenlight";
const AUDIENCE: &str = "greenlight-approval";
const ALGORITHM: Algorithm = Algorithm::HS256;

/// The shortest signing secret we accept, in bytes (HS256's key size).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    pub iss: String,
    pub aud: String,
    /// The approver's email.
    pub sub: String,
    /// The release: team project and release id.
    pub tp: String,
    pub rid: String,
    /// Unique id of this approval request.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl ApprovalClaims {
    pub fn new(
        approver_email: &str,
        team_project: &str,
        release_id: &str,
        token_id: &str,
        issued_at: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> Self {
        Self {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: approver_email.to_owned(),
            tp: team_project.to_owned(),
            rid: release_id.to_owned(),
            jti: token_id.to_owned(),
            iat: issued_at.and_utc().timestamp(),
            exp: expires_at.and_utc().timestamp(),
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// Signs and verifies approval tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signing is deterministic: the same claims give the same token, so a
    /// retried email job sends the very token of its first attempt without
    /// the token ever being stored.
    pub fn mint(&self, claims: &ApprovalClaims) -> String {
        jsonwebtoken::encode(&Header::new(ALGORITHM), claims, &self.encoding)
            .expect("HMAC signing of serialisable claims cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<ApprovalClaims, TokenError> {
        jsonwebtoken::decode::<ApprovalClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(expires_in: Duration) -> ApprovalClaims {
        let now = Utc::now().naive_utc();
        ApprovalClaims::new(
            "ana@example.com",
            "Devx",
            "386",
            "jti-1",
            now,
            now + expires_in,
        )
    }

    fn b64(data: &[u8]) -> String {
        use std::fmt::Write;
        // base64url without padding, written out to keep the test self-contained.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                let _ = write!(
                    out,
                    "{}",
                    ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
                );
            }
        }
        out
    }

    #[test]
    fn a_minted_token_verifies_to_its_claims() {
        let keys = TokenKeys::new(SECRET);
        let c = claims(Duration::hours(1));
        assert_eq!(keys.verify(&keys.mint(&c)).unwrap(), c);
    }

    #[test]
    fn minting_is_deterministic() {
        let keys = TokenKeys::new(SECRET);
        let c = claims(Duration::hours(1));
        assert_eq!(keys.mint(&c), keys.mint(&c));
    }

    #[test]
    fn expired_tokens_are_reported_as_expired() {
        let keys = TokenKeys::new(SECRET);
        let token = keys.mint(&claims(Duration::seconds(-1)));
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn another_key_is_refused() {
        let token =
            TokenKeys::new(b"another secret, another secret!!").mint(&claims(Duration::hours(1)));
        assert_eq!(
            TokenKeys::new(SECRET).verify(&token),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let keys = TokenKeys::new(SECRET);
        let token = keys.mint(&claims(Duration::hours(1)));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims(Duration::hours(1));
        forged.rid = "387".to_owned();
        parts[1] = b64(&serde_json::to_vec(&forged).unwrap());
        assert_eq!(keys.verify(&parts.join(".")), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let keys = TokenKeys::new(SECRET);
        let payload = b64(&serde_json::to_vec(&claims(Duration::hours(1))).unwrap());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let unsigned = format!("{}.{payload}.", b64(header.as_bytes()));
            assert_eq!(keys.verify(&unsigned), Err(TokenError::Invalid), "{header}");
        }
        // HS512 signed with the right secret is still refused: the algorithm is pinned.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(Duration::hours(1)),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(keys.verify(&hs512), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_audience_or_missing_claims_are_refused() {
        let keys = TokenKeys::new(SECRET);
        let mut c = claims(Duration::hours(1));
        c.aud = "something-else".to_owned();
        assert_eq!(keys.verify(&keys.mint(&c)), Err(TokenError::Invalid));
        let no_sub = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "exp": c.exp, "jti": "x", "tp": "p", "rid": "1", "iat": 0});
        let token = jsonwebtoken::encode(
            &Header::new(ALGORITHM),
            &no_sub,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn garbage_is_refused() {
        let keys = TokenKeys::new(SECRET);
        for t in ["", "a", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9..", "\u{0}"] {
            assert_eq!(keys.verify(t), Err(TokenError::Invalid), "{t:?}");
        }
    }
}
