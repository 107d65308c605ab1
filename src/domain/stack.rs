//! Test stacks (DESIGN "Test stacks leased per branch"): a request for a
//! stack, a stack's name, a lease's token and a project's stack policy,
//! each parsed once at the edge.

use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::release::{check_text, fold, key_part, FieldError, ParseError, MAX_TEAM_PROJECT};

/// A branch name: git allows long ones, 255 characters is generous.
pub const MAX_BRANCH: usize = 255;
/// The longest a request waits in the queue (`wait`, seconds).
pub const MAX_WAIT_SECS: u64 = 60;
/// A client's `request_id`: a UUID, a build id.
pub const MAX_REQUEST_ID: usize = 128;
/// A stack's name: `{prefix}{n}`.
pub const MAX_STACK_NAME: usize = 160;
/// What a lease token starts with.
pub const LEASE_PREFIX: &str = "stl_";
/// The default `stack_prefix`.
pub const DEFAULT_PREFIX: &str = "test-";
/// The default `stack_lease_ttl`.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(2 * 3600);

/// A `POST /stacks/request` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRequest {
    /// As written; none means the key's project.
    pub team_project: Option<String>,
    pub branch: String,
    /// How long to wait in the queue when the pool is exhausted.
    pub wait: Duration,
    /// Keeps a place in the queue across calls.
    pub request_id: Option<String>,
}

impl StackRequest {
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ParseError::Malformed(
                "the body must be a JSON object".to_owned(),
            ));
        };
        let mut errors = Vec::new();
        let branch = match object.get("branch") {
            None | Some(Value::Null) => {
                errors.push(FieldError::new("branch", "is required"));
                None
            }
            Some(Value::String(s)) => branch(s, &mut errors),
            Some(_) => {
                errors.push(FieldError::new("branch", "must be a string"));
                None
            }
        };
        let team_project = text(&object, "team_project", &mut errors)
            .and_then(|tp| key_part("team_project", &tp, MAX_TEAM_PROJECT, &mut errors));
        let wait = match object.get("wait") {
            None | Some(Value::Null) => Some(0),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(secs) if secs <= MAX_WAIT_SECS => Some(secs),
                _ => {
                    errors.push(FieldError::new(
                        "wait",
                        "must be a whole number of seconds from 0 to 60",
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(
                    "wait",
                    "must be a whole number of seconds from 0 to 60",
                ));
                None
            }
        };
        let request_id = text(&object, "request_id", &mut errors).and_then(|id| {
            request_id(&id)
                .map_err(|e| errors.push(FieldError::new("request_id", e)))
                .ok()
        });
        match (branch, wait) {
            (Some(branch), Some(wait)) if errors.is_empty() => Ok(Self {
                team_project,
                branch,
                wait: Duration::from_secs(wait),
                request_id,
            }),
            _ => Err(ParseError::Invalid(errors)),
        }
    }
}

/// An optional string field; another type is an error.
fn text(
    object: &Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// A branch: not blank, at most 255 characters, no control characters.
pub fn branch(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    check_text("branch", raw, MAX_BRANCH, errors)
}

/// A `request_id`: 1 to 128 visible ASCII characters.
pub fn request_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > MAX_REQUEST_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "must be 1 to {MAX_REQUEST_ID} visible ASCII characters"
        ));
    }
    Ok(id.to_owned())
}

/// A stack's name as a path gives it: anything else names no stack.
pub fn stack_name(raw: &str) -> Option<&str> {
    let ok = !raw.is_empty()
        && raw.chars().count() <= MAX_STACK_NAME
        && !raw.chars().any(char::is_control);
    ok.then_some(raw)
}

/// A lease's token: `stl_` and 64 hex digits (256 random bits). Only its
/// hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaseToken(String);

impl std::fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseToken(***)")
    }
}

impl LeaseToken {
    pub fn generate() -> Self {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        Self(format!("{LEASE_PREFIX}{}", hex::encode(bytes)))
    }

    /// A token as a `Greenlight-Lease` header carries it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let well_formed = text
            .strip_prefix(LEASE_PREFIX)
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if well_formed {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(
                "must be the lease token the stack was granted with (stl_ and 64 hex digits)"
                    .to_owned(),
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256, hex: what is stored. A 256-bit random token needs no slow
    /// hash.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether this token is the one `stored_hash` was made from, in
    /// constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        self.hash().as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }
}

/// A project's stack policy (`stack_prefix`, `max_stacks`,
/// `stack_lease_ttl` in `greenlight.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPolicy {
    pub prefix: String,
    /// None: unlimited.
    pub max_stacks: Option<u32>,
    pub lease_ttl: Duration,
}

impl Default for StackPolicy {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            max_stacks: None,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// A `stack_prefix`: what stack names start with; it goes into resource
/// names (`serverless deploy --stage test-3`), so letters, digits, `-` and
/// `_` only, up to 32.
pub fn stack_prefix(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "must be 1 to 32 letters, digits, - or _, got {raw:?}"
        ))
    }
}

/// The folded project key of a stack request's project.
pub fn project_key(team_project: &str) -> String {
    fold(team_project)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<StackRequest, ParseError> {
        StackRequest::parse_json(body.as_bytes())
    }

    fn fields(body: &str) -> Vec<&'static str> {
        match parse(body) {
            Err(ParseError::Invalid(errors)) => errors.iter().map(|e| e.field).collect(),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_request_parses_with_its_defaults() {
        let r = parse(r#"{"branch": " feature/login ", "team_project": "Devx"}"#).unwrap();
        assert_eq!(r.branch, "feature/login");
        assert_eq!(r.team_project.as_deref(), Some("Devx"));
        assert_eq!(r.wait, Duration::ZERO);
        assert_eq!(r.request_id, None);
        let r = parse(r#"{"branch": "b", "wait": 60, "request_id": "run-7"}"#).unwrap();
        assert_eq!(r.wait, Duration::from_secs(60));
        assert_eq!(r.request_id.as_deref(), Some("run-7"));
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(fields("{}"), ["branch"]);
        assert_eq!(fields(r#"{"branch": "  "}"#), ["branch"]);
        let long = "b".repeat(256);
        assert_eq!(fields(&format!(r#"{{"branch": "{long}"}}"#)), ["branch"]);
        assert_eq!(fields(r#"{"branch": "b", "wait": 61}"#), ["wait"]);
        assert_eq!(fields(r#"{"branch": "b", "wait": -1}"#), ["wait"]);
        assert_eq!(fields(r#"{"branch": "b", "wait": "5"}"#), ["wait"]);
        assert_eq!(
            fields(r#"{"branch": "b", "request_id": "a b"}"#),
            ["request_id"]
        );
        assert_eq!(
            fields(r#"{"branch": 3, "team_project": ""}"#),
            ["branch", "team_project"]
        );
        assert!(matches!(parse("[]"), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn a_lease_token_matches_its_hash_only() {
        let token = LeaseToken::generate();
        assert!(token.as_str().starts_with(LEASE_PREFIX));
        let again = LeaseToken::parse(&token.as_str().to_ascii_uppercase().replace("STL_", "stl_"))
            .unwrap();
        assert!(again.matches(&token.hash()));
        assert!(!LeaseToken::generate().matches(&token.hash()));
        assert!(LeaseToken::parse("stl_123").is_err());
        assert!(LeaseToken::parse("nope").is_err());
        assert_eq!(format!("{token:?}"), "LeaseToken(***)");
    }

    #[test]
    fn a_prefix_is_a_resource_name_part() {
        assert_eq!(stack_prefix("test-").unwrap(), "test-");
        assert!(stack_prefix("").is_err());
        assert!(stack_prefix("a b").is_err());
        assert!(stack_prefix(&"x".repeat(33)).is_err());
    }
}
