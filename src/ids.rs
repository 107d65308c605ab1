//! Random identifiers: token ids, lock tokens, worker ids, and the
//! sortable ids of records clients name (deployments).

use rand::Rng;

/// Crockford's base32: no I, L, O or U to misread.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 128 random bits, hex-encoded.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// A ULID: 48 bits of milliseconds since 1970 then 80 random bits, as 26
/// characters of Crockford's base32, so ids sort by creation time (to the
/// millisecond) as text.
pub fn sortable_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let random: u128 = rand::rng().random::<u128>() >> 48;
    let value = ((millis & 0xFFFF_FFFF_FFFF) << 80) | random;
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_ids_are_26_crockford_characters_in_time_order() {
        let a = sortable_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = sortable_id();
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)), "{a}");
        assert!(a < b, "{a} then {b}");
        // 2026 starts with 01K (the first 48 bits are the time).
        assert!(a.starts_with("01"), "{a}");
    }

    #[test]
    fn random_ids_are_128_bit_hex_and_distinct() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
