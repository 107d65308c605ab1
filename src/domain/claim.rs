//! A runner's claim: what it asks for (`POST /runners/claim`), and the
//! token that proves it holds a deployment (`Greenlight-Claim`).

use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::release::{fold, key_part, ParseError, MAX_ENVIRONMENT, MAX_TEAM_PROJECT};
use super::FieldError;

/// The longest a claim may long-poll, and the default.
pub const MAX_WAIT_SECS: u64 = 60;
pub const DEFAULT_WAIT_SECS: u64 = 30;

/// A runner serves a handful of environments and projects; a list longer
/// than this is a mistake, not a runner.
pub const MAX_CLAIM_NAMES: usize = 100;

/// `POST /runners/claim`, parsed: environments and projects as folded
/// keys (matched case-insensitively, as deployments store them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub environment_keys: Vec<String>,
    /// `None`: any project the caller may see.
    pub team_project_keys: Option<Vec<String>>,
    pub wait: Duration,
}

const FIELDS: [&str; 3] = ["environments", "team_projects", "wait"];

impl ClaimRequest {
    /// Parses `{"environments": [..], "team_projects": [..], "wait": 30}`.
    /// Unknown fields are refused: a misspelt filter would otherwise widen
    /// what the runner takes.
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ParseError::Malformed(
                "the body must be a JSON object".to_owned(),
            ));
        };
        let mut errors = Vec::new();
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            errors.push(FieldError::new(
                "body",
                format!(
                    "has an unknown field {unknown:?}: a claim takes {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        let environment_keys = match names(&object, "environments", MAX_ENVIRONMENT, &mut errors) {
            Some(list) => list,
            None => {
                if !object.contains_key("environments") || object["environments"].is_null() {
                    errors.push(FieldError::new(
                        "environments",
                        "is required: the environments this runner deploys to",
                    ));
                }
                Vec::new()
            }
        };
        let team_project_keys = names(&object, "team_projects", MAX_TEAM_PROJECT, &mut errors);
        let wait = match object.get("wait") {
            None | Some(Value::Null) => Duration::from_secs(DEFAULT_WAIT_SECS),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= MAX_WAIT_SECS) => {
                Duration::from_secs(n.as_u64().unwrap_or(DEFAULT_WAIT_SECS))
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "wait",
                    format!("must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"),
                ));
                Duration::ZERO
            }
        };
        if !errors.is_empty() {
            return Err(ParseError::Invalid(errors));
        }
        Ok(Self {
            environment_keys,
            team_project_keys,
            wait,
        })
    }
}

/// A non-empty list of names, folded; `None` when absent or invalid (an
/// error then names the field).
fn names(
    object: &Map<String, Value>,
    field: &'static str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    let items = match object.get(field) {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) if (1..=MAX_CLAIM_NAMES).contains(&items.len()) => items,
        Some(_) => {
            errors.push(FieldError::new(
                field,
                format!("must be a list of 1 to {MAX_CLAIM_NAMES} names"),
            ));
            return None;
        }
    };
    let before = errors.len();
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(name) => {
                if let Some(name) = key_part(field, name, max_chars, errors) {
                    let key = fold(&name);
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
            _ => errors.push(FieldError::new(field, "must hold strings only")),
        }
    }
    (errors.len() == before).then_some(keys)
}

/// What proves a runner holds a deployment. Given once, in the claim's
/// answer; only its hash is stored.
#[derive(Clone)]
pub struct ClaimToken(String);

impl std::fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimToken(<redacted>)")
    }
}

const TOKEN_PREFIX: &str = "glc_";

impl ClaimToken {
    /// A new random token: `glc_` and 128 random bits in hex.
    pub fn generate() -> Self {
        Self(format!("{TOKEN_PREFIX}{}", crate::ids::random_id()))
    }

    /// A token as a runner sent it (the `Greenlight-Claim` header). Any
    /// text is accepted: one we never gave matches no stored hash.
    pub fn from_header(text: &str) -> Self {
        Self(text.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256, hex. The token is 128 random bits, so a
    /// plain hash (no pepper, no stretching) cannot be reversed.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether this token is the one `stored` is the hash of, compared in
    /// constant time.
    pub fn matches(&self, stored: &str) -> bool {
        self.hash().as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ClaimRequest, Vec<&'static str>> {
        ClaimRequest::parse_json(body.as_bytes()).map_err(|e| match e {
            ParseError::Invalid(errors) => errors.iter().map(|e| e.field).collect(),
            ParseError::Malformed(_) => vec!["<malformed>"],
        })
    }

    #[test]
    fn a_claim_names_environments_and_maybe_projects_and_a_wait() {
        let c = parse(r#"{"environments": ["Staging", "staging", "prod"]}"#).unwrap();
        assert_eq!(c.environment_keys, ["staging", "prod"]);
        assert_eq!(c.team_project_keys, None);
        assert_eq!(c.wait, Duration::from_secs(30));
        let c =
            parse(r#"{"environments": ["a"], "team_projects": ["Octo/App"], "wait": 0}"#).unwrap();
        assert_eq!(c.team_project_keys, Some(vec!["octo/app".to_owned()]));
        assert_eq!(c.wait, Duration::ZERO);
    }

    #[test]
    fn bad_claims_name_their_fields() {
        assert_eq!(parse("{}").unwrap_err(), ["environments"]);
        assert_eq!(
            parse(r#"{"environments": "staging"}"#).unwrap_err(),
            ["environments"]
        );
        assert_eq!(
            parse(r#"{"environments": []}"#).unwrap_err(),
            ["environments"]
        );
        assert_eq!(
            parse(r#"{"environments": [3]}"#).unwrap_err(),
            ["environments"]
        );
        assert_eq!(
            parse(r#"{"environments": ["a"], "wait": 61}"#).unwrap_err(),
            ["wait"]
        );
        assert_eq!(
            parse(r#"{"environments": ["a"], "wait": "5"}"#).unwrap_err(),
            ["wait"]
        );
        assert_eq!(
            parse(r#"{"environments": ["a"], "wait": 1.5}"#).unwrap_err(),
            ["wait"]
        );
        assert_eq!(
            parse(r#"{"environments": ["a"], "team_projects": [""]}"#).unwrap_err(),
            ["team_projects"]
        );
        assert_eq!(
            parse(r#"{"environments": ["a"], "environment": "b"}"#).unwrap_err(),
            ["body"]
        );
        assert_eq!(parse("[]").unwrap_err(), ["<malformed>"]);
    }

    #[test]
    fn a_token_matches_only_its_hash() {
        let token = ClaimToken::generate();
        assert!(token.as_str().starts_with("glc_") && token.as_str().len() == 36);
        let stored = token.hash();
        assert!(token.matches(&stored));
        assert!(!ClaimToken::generate().matches(&stored));
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
