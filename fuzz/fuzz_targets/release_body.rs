//! Any bytes as a `POST /release` body: parsed or refused, never a panic;
//! what parses is within the documented bounds.
#![no_main]

use greenlight::domain::release::{MAX_RELEASE_ID, MAX_RELEASE_NAME, MAX_TEAM_PROJECT};
use greenlight::domain::NewRelease;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(release) = NewRelease::parse_json(data) {
        for (text, max) in [
            (release.name.as_str(), MAX_RELEASE_NAME),
            (release.key.release_id(), MAX_RELEASE_ID),
            (release.key.team_project(), MAX_TEAM_PROJECT),
        ] {
            assert!(!text.is_empty() && text.chars().count() <= max);
            assert!(!text.chars().any(char::is_control));
        }
    }
});
