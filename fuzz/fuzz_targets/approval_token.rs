//! Any text as an approval token: refused, never a panic, unless it is the
//! one valid token (or a spelling of it that decodes to the same claims).
#![no_main]

use std::sync::OnceLock;

use chrono::{Duration, Utc};
use greenlight::token::{ApprovalClaims, TokenKeys};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (TokenKeys, ApprovalClaims) {
    static FIXTURE: OnceLock<(TokenKeys, ApprovalClaims)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let now = Utc::now().naive_utc();
        let claims = ApprovalClaims::new("ana@example.com", "Devx", "386", "jti", now, now + Duration::days(1));
        (TokenKeys::new(b"fuzz-secret-fuzz-secret-fuzz-secret!"), claims)
    })
}

fuzz_target!(|data: &[u8]| {
    let (keys, claims) = fixture();
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(seen) = keys.verify(text) {
            assert_eq!(&seen, claims);
        }
    }
});
