//! Property tests of the parsers that take outside input: request bodies,
//! approvers answers, approval tokens, GitHub's events, Azure DevOps'
//! headers, `Host` names, configuration texts, and the approvers URL built
//! from ids. Random inputs (any Unicode) must never panic, and valid inputs
//! must parse to what they say. `tests/api/non_ascii.rs` does the same
//! through every route of the running service.
//!
//! `PROPTEST_CASES` sets the cases per property (proptest's default, 256,
//! in `make test`; `make fuzz` runs a long campaign).

use chrono::{Duration, Utc};
use greenlight::domain::NewRelease;
use greenlight::domain::ReleaseKey;
use greenlight::http::guard::AllowedHosts;
use greenlight::integrations::approvers::{expand, parse_response};
use greenlight::integrations::azure_devops::AzureCallback;
use greenlight::integrations::github_rule::ProtectionRule;
use greenlight::token::{ApprovalClaims, TokenKeys};
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET: &[u8] = b"property-secret-property-secret-!!";

/// Arbitrary JSON documents, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("ReleaseName".to_owned()),
                    Just("ReleaseId".to_owned()),
                    Just("TeamProject".to_owned()),
                    Just("approvers".to_owned()),
                    Just("email".to_owned()),
                    Just("name".to_owned()),
                    ".{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text a pipeline may legitimately send: no control characters, not blank.
fn field(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\p{{Cc}}]{{1,{max}}}"))
        .unwrap()
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn valid_token() -> (TokenKeys, String, ApprovalClaims) {
    let keys = TokenKeys::new(SECRET);
    let now = Utc::now().naive_utc();
    let claims = ApprovalClaims::new(
        "ana@example.com",
        "Devx",
        "386",
        "0123456789abcdef",
        now,
        now + Duration::hours(1),
    );
    let token = keys.mint(&claims);
    (keys, token, claims)
}

/// Ids as an attacker would pick them to move a URL's path: dot segments
/// in their spellings, separators, and any text.
fn path_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e%2E".to_owned()),
        Just(".%2e".to_owned()),
        Just("../x".to_owned()),
        Just("a/../../b".to_owned()),
        Just("..\\..".to_owned()),
        Just("?x=1#y".to_owned()),
        "[./%?#\\\\a-z2eE]{1,6}",
        ".{1,12}",
    ]
}

proptest! {
    /// GitHub's event is any UTF-8: reading it, naming the release and
    /// finding the run never panic (byte slicing of a sha once did).
    #[test]
    fn github_rules_with_any_text_never_panic(git_ref in ".{0,40}", sha in ".{0,40}", url in ".{0,60}", env in ".{0,20}") {
        let event = json!({
            "action": "requested", "environment": env, "deployment_callback_url": url,
            "deployment": {"ref": git_ref, "sha": sha},
            "repository": {"full_name": env}, "installation": {"id": 1},
        });
        let rule: ProtectionRule = serde_json::from_value(event).unwrap();
        let name = rule.release_name();
        prop_assert!(name.chars().count() <= 256);
        let _ = rule.run_id();
    }

    #[test]
    fn github_json_documents_never_panic(doc in any_json()) {
        if let Ok(rule) = serde_json::from_value::<ProtectionRule>(doc) {
            let _ = (rule.release_name(), rule.run_id());
        }
    }

    /// Azure DevOps' callback headers, any text in any of them.
    #[test]
    fn azure_devops_headers_never_panic(values in prop::collection::vec(proptest::option::of(".{0,30}"), 8)) {
        let names = ["PlanUrl", "ProjectId", "HubName", "PlanId", "JobId", "TimelineId", "TaskInstanceId", "AuthToken"];
        let _ = AzureCallback::from_headers(|name| {
            names.iter().position(|n| *n == name).and_then(|i| values[i].clone())
        });
    }

    /// A request's `Host`, any text.
    #[test]
    fn host_names_never_panic(host in ".{0,30}", public in ".{0,30}", listen in ".{0,30}") {
        let hosts = AllowedHosts::new(&format!("https://{public}"), &listen, &[]);
        let _ = hosts.allows(&host);
    }

    /// Durations and approver lists as people write them, any text.
    #[test]
    fn configuration_texts_never_panic(text in ".{0,30}") {
        let _ = greenlight::domain::policy::parse_duration(&text);
        let _ = greenlight::domain::approver::parse_list(&text);
        let _ = greenlight::domain::approver::ApproverEmail::parse(&text);
    }

    /// Whatever ids a key accepts, the approvers URL built from them keeps
    /// the template's path, segment for segment, as a real URL parser
    /// (WHATWG's, which resolves `.`, `..`, `%2e` and `\`) reads it.
    #[test]
    fn ids_cannot_move_the_approvers_url(project in path_part(), id in path_part()) {
        let Ok(key) = ReleaseKey::parse(&project, None, &id) else { return Ok(()) };
        let template = "https://approvers.example/api/{team_project}/releases/{release_id}/approvers?v=1";
        let url = url::Url::parse(&expand(template, &key)).unwrap();
        prop_assert_eq!(url.host_str(), Some("approvers.example"));
        prop_assert_eq!(url.query(), Some("v=1"));
        let segments: Vec<String> = url
            .path_segments()
            .unwrap()
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned())
            .collect();
        prop_assert_eq!(
            segments,
            vec!["api", key.team_project(), "releases", key.release_id(), "approvers"]
        );
    }

    #[test]
    fn release_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = NewRelease::parse_json(&bytes);
    }

    #[test]
    fn release_json_documents_never_panic(doc in any_json()) {
        let _ = NewRelease::parse_json(doc.to_string().as_bytes());
    }

    #[test]
    fn valid_release_bodies_parse_to_their_trimmed_fields(
        name in field(256), id in field(128), project in field(128), integer_id in any::<bool>(), n in any::<u32>()
    ) {
        let id_value = if integer_id { json!(n) } else { json!(id) };
        let body = json!({"ReleaseName": name, "ReleaseId": id_value, "TeamProject": project});
        let parsed = NewRelease::parse_json(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(parsed.name, name.trim());
        prop_assert_eq!(parsed.key.team_project(), project.trim());
        let expected_id = if integer_id { n.to_string() } else { id.trim().to_owned() };
        prop_assert_eq!(parsed.key.release_id(), expected_id);
    }

    #[test]
    fn approvers_answers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_response(&bytes);
    }

    #[test]
    fn approvers_json_documents_never_panic(doc in any_json()) {
        if let Ok(parsed) = parse_response(doc.to_string().as_bytes()) {
            // Whatever came in, what comes out is valid and has no duplicates.
            let mut seen = std::collections::HashSet::new();
            for a in &parsed.approvers {
                prop_assert!(seen.insert(a.email.normalized()));
            }
        }
    }

    #[test]
    fn approver_lists_keep_each_address_once(users in prop::collection::vec("[a-z]{1,8}", 0..20), upper in any::<bool>()) {
        let emails: Vec<String> = users
            .iter()
            .map(|u| if upper { format!("{}@EXAMPLE.com", u.to_uppercase()) } else { format!("{u}@example.com") })
            .collect();
        let parsed = parse_response(json!({"approvers": emails}).to_string().as_bytes()).unwrap();
        let distinct: std::collections::HashSet<_> = users.iter().collect();
        prop_assert_eq!(parsed.approvers.len(), distinct.len());
        prop_assert!(parsed.dropped.is_empty());
    }

    #[test]
    fn arbitrary_strings_never_verify(text in ".{0,400}") {
        let (keys, token, _) = valid_token();
        prop_assume!(text != token);
        prop_assert!(keys.verify(&text).is_err());
    }

    #[test]
    fn a_changed_character_never_verifies_to_other_claims(position in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.=-]") {
        let (keys, token, claims) = valid_token();
        let mut chars: Vec<char> = token.chars().collect();
        let i = position.index(chars.len());
        chars[i] = replacement.chars().next().unwrap();
        let mutated: String = chars.into_iter().collect();
        // Either refused, or (an unused trailing base64 bit) the very same claims.
        if let Ok(seen) = keys.verify(&mutated) {
            prop_assert_eq!(seen, claims);
        }
    }
}
