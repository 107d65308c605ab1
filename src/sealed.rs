//! Credentials sealed at rest: with `GREENLIGHT_ENCRYPTION_KEY` (32 random
//! bytes, base64), what the database keeps of a secret (the generated
//! signing secret, the API-key pepper, Azure DevOps AuthTokens) is
//! AES-256-GCM ciphertext, so that a copy of the database alone can neither
//! mint approval links nor complete a pipeline's task. Without the key,
//! values are kept as written, as before.
//!
//! Stored form: `sealed:v1:` + base64url(nonce ‖ ciphertext ‖ tag). A value
//! without the prefix was written without a key and is read as it is.
//! `GREENLIGHT_ENCRYPTION_KEY_PREVIOUS` still opens what the last key
//! sealed (during a rotation; `greenlight rotate-encryption-key` re-seals).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

const PREFIX: &str = "sealed:v1:";

/// One 32-byte key, parsed from its base64 form.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    pub fn parse(base64: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(base64.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(base64.trim()))
            .map_err(|_| "must be base64 (e.g. `openssl rand -base64 32`)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must be 32 bytes in base64, got {} bytes", b.len()))?;
        Ok(Self(key))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key"))
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a sealed value cannot be opened: GREENLIGHT_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("a sealed value does not open with GREENLIGHT_ENCRYPTION_KEY (nor _PREVIOUS): a wrong key, or a damaged value")]
    WrongKey,
}

/// Seals with the current key and opens with it or the previous one.
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    current: Option<SealKey>,
    previous: Option<SealKey>,
}

impl Sealer {
    pub fn new(current: Option<SealKey>, previous: Option<SealKey>) -> Self {
        Self { current, previous }
    }

    /// Whether values are sealed when written.
    pub fn seals(&self) -> bool {
        self.current.is_some()
    }

    /// What to store for `plain`: sealed under the current key, or as it is
    /// without one.
    pub fn seal(&self, plain: &str) -> String {
        let Some(key) = &self.current else {
            return plain.to_owned();
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut buffer = plain.as_bytes().to_vec();
        key.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX),
                &mut buffer,
            )
            .expect("sealing fits in memory");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The plain value of what was stored.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let keys: Vec<&SealKey> = self.current.iter().chain(&self.previous).collect();
        if keys.is_empty() {
            return Err(SealError::NoKey);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::WrongKey)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        for key in keys {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongKey)?;
            let mut buffer = sealed.to_vec();
            if let Ok(plain) = key
                .aead()
                .open_in_place(nonce, Aad::from(PREFIX), &mut buffer)
            {
                return String::from_utf8(plain.to_vec()).map_err(|_| SealError::WrongKey);
            }
        }
        Err(SealError::WrongKey)
    }

    /// Whether `stored` must be written again to be sealed under the
    /// current key (it is plain, or sealed under another key).
    pub fn needs_reseal(&self, stored: &str) -> bool {
        let Some(key) = &self.current else {
            return false;
        };
        let only_current = Sealer::new(Some(key.clone()), None);
        !stored.starts_with(PREFIX) || only_current.open(stored).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::parse(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_with_their_key_only() {
        let sealer = Sealer::new(Some(key(1)), None);
        let stored = sealer.seal("ado-auth-token");
        assert!(stored.starts_with("sealed:v1:"), "{stored}");
        assert!(!stored.contains("ado-auth-token"));
        assert_ne!(
            stored,
            sealer.seal("ado-auth-token"),
            "a new nonce each time"
        );
        assert_eq!(sealer.open(&stored).unwrap(), "ado-auth-token");
        assert_eq!(
            Sealer::new(Some(key(2)), None).open(&stored),
            Err(SealError::WrongKey)
        );
        assert_eq!(Sealer::default().open(&stored), Err(SealError::NoKey));
        // A changed character is refused, not opened to something else.
        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(sealer.open(&tampered), Err(SealError::WrongKey));
    }

    #[test]
    fn plain_values_read_as_written_and_a_rotation_opens_the_old() {
        let sealer = Sealer::new(Some(key(1)), None);
        assert_eq!(
            sealer.open("written-without-a-key").unwrap(),
            "written-without-a-key"
        );
        assert!(sealer.needs_reseal("written-without-a-key"));
        let old = sealer.seal("s");
        let rotated = Sealer::new(Some(key(2)), Some(key(1)));
        assert_eq!(rotated.open(&old).unwrap(), "s");
        assert!(rotated.needs_reseal(&old));
        assert!(!rotated.needs_reseal(&rotated.seal("s")));
        assert_eq!(Sealer::default().seal("s"), "s");
        assert!(!Sealer::default().needs_reseal("s"));
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(SealKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(SealKey::parse(&STANDARD.encode([7u8; 16])).is_err());
        assert!(SealKey::parse("not base64!").is_err());
        assert_eq!(format!("{:?}", key(1)), "SealKey(***)");
    }
}
