//! Any bytes as an approvers API answer: parsed or refused, never a panic;
//! what parses holds each address once.
#![no_main]

use greenlight::integrations::approvers::parse_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_response(data) {
        let mut seen = std::collections::HashSet::new();
        for approver in &parsed.approvers {
            assert!(seen.insert(approver.email.normalized()));
        }
    }
});
