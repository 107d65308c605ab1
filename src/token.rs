//! Approval tokens: HS256 JWTs that name one approver of one release.
//!
//! The algorithm is pinned (a token whose header says anything else,
//! `none` included, is refused before its signature is looked at), the
//! issuer and audience are fixed, and `exp`, `sub` and `jti` are required.
//! The `jti` is the key of the approval request in the database, which is
//! what finally binds a token to one approver and one release.
//!
//! Each token's header names its signing key (`kid`, derived from the
//! secret, revealing nothing of it). `GREENLIGHT_SECRET` signs; the
//! previous secrets still verify, so rotating the secret breaks no link of
//! an undecided release. A `kid` that names no key we hold is refused: the
//! header chooses among our keys, never where a key comes from.

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

/// One secret, ready to verify.
#[derive(Clone)]
struct VerifyingKey {
    kid: String,
    decoding: DecodingKey,
}

/// Signs with the current secret and verifies with it and the previous ones.
#[derive(Clone)]
pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    /// The current key first.
    verifying: Vec<VerifyingKey>,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

/// A secret's key id: the start of a hash of it, so a token names its key
/// without revealing anything about the secret.
pub fn key_id(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"greenlight token key id\0")
        .chain_update(secret)
        .finalize();
    hex::encode(&digest[..8])
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self::with_previous(secret, &[])
    }

    /// `secret` signs; `previous` secrets only verify.
    pub fn with_previous(secret: &[u8], previous: &[Vec<u8>]) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        let mut verifying = vec![VerifyingKey {
            kid: key_id(secret),
            decoding: DecodingKey::from_secret(secret),
        }];
        for old in previous {
            let kid = key_id(old);
            if verifying.iter().all(|k| k.kid != kid) {
                verifying.push(VerifyingKey {
                    kid,
                    decoding: DecodingKey::from_secret(old),
                });
            }
        }
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            verifying,
            validation,
        }
    }

    /// Signing is deterministic: the same claims give the same token, so a
    /// retried email job sends the very token of its first attempt without
    /// the token ever being stored.
    pub fn mint(&self, claims: &ApprovalClaims) -> String {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("HMAC signing of serialisable claims cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<ApprovalClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let key = match header.kid.as_deref() {
            Some(kid) => self
                .verifying
                .iter()
                .find(|k| k.kid == kid)
                .ok_or(TokenError::Invalid)?,
            // Tokens minted before key ids existed: the current key only.
            None => &self.verifying[0],
        };
        jsonwebtoken::decode::<ApprovalClaims>(token, &key.decoding, &self.validation)
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
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
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
    fn tokens_name_their_key_and_previous_secrets_still_verify() {
        const OLD: &[u8] = b"the previous secret, 32 bytes ok";
        let c = claims(Duration::hours(1));
        let old_token = TokenKeys::new(OLD).mint(&c);
        let header = jsonwebtoken::decode_header(&old_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key_id(OLD).as_str()));
        let rotated = TokenKeys::with_previous(SECRET, &[OLD.to_vec()]);
        assert_eq!(
            rotated.verify(&old_token).unwrap(),
            c,
            "a previous secret verifies"
        );
        let new_token = rotated.mint(&c);
        assert_eq!(
            jsonwebtoken::decode_header(&new_token).unwrap().kid,
            Some(key_id(SECRET)),
            "the current secret signs"
        );
        assert_eq!(
            TokenKeys::new(SECRET).verify(&old_token),
            Err(TokenError::Invalid),
            "a removed secret no longer verifies"
        );
    }

    #[test]
    fn a_kid_naming_no_key_of_ours_is_refused() {
        let keys = TokenKeys::new(SECRET);
        let c = claims(Duration::hours(1));
        for kid in ["/etc/passwd", "../../dev/null", "", "0000000000000000"] {
            let mut header = Header::new(ALGORITHM);
            header.kid = Some(kid.to_owned());
            let token =
                jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(SECRET)).unwrap();
            assert_eq!(keys.verify(&token), Err(TokenError::Invalid), "{kid:?}");
        }
        // A token without a kid (minted before key ids) verifies with the current key.
        let legacy = jsonwebtoken::encode(
            &Header::new(ALGORITHM),
            &c,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(keys.verify(&legacy).unwrap(), c);
    }

    #[test]
    fn garbage_is_refused() {
        let keys = TokenKeys::new(SECRET);
        for t in ["", "a", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9..", "\u{0}"] {
            assert_eq!(keys.verify(t), Err(TokenError::Invalid), "{t:?}");
        }
    }
}
