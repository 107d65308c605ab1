//! API keys: what they look like, how they are minted and hashed, and
//! what each one may see.
//!
//! A key is `glk_` and 64 hex digits (256 random bits). Only
//! HMAC-SHA256(pepper, key) is stored. A slow password hash (argon2,
//! bcrypt) defends guessable secrets against an offline search; a 256-bit
//! random key cannot be searched, so a slow hash would only add tens of
//! milliseconds to every pipeline request. The hash is keyed with a pepper
//! generated per installation (kept in the `settings` table, shared by the
//! replicas) so that stored hashes mean nothing anywhere else.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::release::fold;

pub const PREFIX: &str = "glk_";
/// Random bytes in a key.
const KEY_BYTES: usize = 32;
/// The `settings` row that holds the pepper.
pub const PEPPER_SETTING: &str = "api_key_pepper";

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every project, the list, the events and the dashboard.
    Admin,
    /// One project (its folded name): its releases and their events.
    Project(String),
}

impl Scope {
    pub fn project(name: &str) -> Self {
        Self::Project(fold(name))
    }

    /// Whether this key may see and create releases of `team_project_key`
    /// (a folded project name).
    pub fn allows(&self, team_project_key: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Project(p) => p == team_project_key,
        }
    }
}

/// A new key in clear: shown once, never stored.
pub fn generate() -> String {
    let bytes: [u8; KEY_BYTES] = rand::rng().random();
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// A new pepper, stored once per installation (256 random bits, hex).
pub fn new_pepper() -> String {
    generate()[PREFIX.len()..].to_owned()
}

/// Whether `text` has the shape of a key (cheap to check before any
/// database work; anything else is not a key).
pub fn looks_like_a_key(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 2 * KEY_BYTES && rest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Hashes keys with this installation's pepper.
#[derive(Clone)]
pub struct KeyHasher {
    pepper: Vec<u8>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<redacted>)")
    }
}

impl KeyHasher {
    pub fn new(pepper: &[u8]) -> Self {
        Self {
            pepper: pepper.to_vec(),
        }
    }

    /// The stored form of a key, hex.
    pub fn hash(&self, key: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.pepper).expect("HMAC takes keys of any length");
        mac.update(key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `key` hashes to `stored`, compared in constant time. The
    /// row was found by its hash already; this re-check costs nothing and
    /// keeps a timing-safe comparison on the path whatever the lookup does.
    pub fn matches(&self, key: &str, stored: &str) -> bool {
        self.hash(key).as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_256_bit_hex_and_distinct() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with("glk_") && a.len() == 4 + 64, "{a}");
        assert!(looks_like_a_key(&a) && looks_like_a_key(&b));
        assert_ne!(a, b);
        for not_a_key in [
            "",
            "glk_",
            "glk_xyz",
            &a[..a.len() - 1],
            &a.replace("glk_", "gkl_"),
        ] {
            assert!(!looks_like_a_key(not_a_key), "{not_a_key}");
        }
    }

    #[test]
    fn the_hash_is_keyed_and_matches_only_its_key() {
        let key = generate();
        let (one, other) = (KeyHasher::new(b"pepper one"), KeyHasher::new(b"pepper two"));
        let stored = one.hash(&key);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&key[4..]));
        assert!(one.matches(&key, &stored));
        assert!(
            !other.matches(&key, &stored),
            "another installation's pepper"
        );
        assert!(!one.matches(&generate(), &stored));
    }

    #[test]
    fn a_project_scope_allows_its_project_in_any_case() {
        let scope = Scope::project("DevX");
        assert!(scope.allows(&fold("devx")));
        assert!(!scope.allows(&fold("Other")));
        assert!(Scope::Admin.allows("anything"));
    }
}
