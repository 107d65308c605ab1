//! `POST /release` bodies and the identity of a release.

use serde_json::{Map, Value};

use super::approver::ApproverEmail;

/// Upper bounds on the fields a pipeline sends. Generous for real pipelines
/// (Azure DevOps caps project names at 64 characters), small enough that
/// nobody stores a novel in a release name.
pub const MAX_RELEASE_NAME: usize = 256;
pub const MAX_RELEASE_ID: usize = 128;
/// A GitHub repository's `owner/name` is up to 140 characters (39 + 1 +
/// 100), and it is the project of a GitHub deployment's release.
pub const MAX_TEAM_PROJECT: usize = 140;
pub const MAX_ENVIRONMENT: usize = 128;

/// The environment of a release that names none.
pub const DEFAULT_ENVIRONMENT: &str = "production";

/// What identifies a release: (team project, environment, release id). The
/// staging and production gates of one Azure DevOps release are two
/// releases here. Projects and environments match case-insensitively (as
/// Azure DevOps project names do) and are shown as first given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReleaseKey {
    team_project: String,
    environment: String,
    release_id: String,
}

impl ReleaseKey {
    /// Parses the parts with the same rules as a `POST /release` body; no
    /// environment means `production`.
    pub fn parse(
        team_project: &str,
        environment: Option<&str>,
        release_id: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tp = key_part("TeamProject", team_project, MAX_TEAM_PROJECT, &mut errors);
        let env = match environment {
            Some(env) => key_part("Environment", env, MAX_ENVIRONMENT, &mut errors),
            None => Some(DEFAULT_ENVIRONMENT.to_owned()),
        };
        let rid = key_part("ReleaseId", release_id, MAX_RELEASE_ID, &mut errors);
        match (tp, env, rid) {
            (Some(team_project), Some(environment), Some(release_id)) if errors.is_empty() => {
                Ok(Self {
                    team_project,
                    environment,
                    release_id,
                })
            }
            _ => Err(errors),
        }
    }

    pub fn team_project(&self) -> &str {
        &self.team_project
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    pub fn release_id(&self) -> &str {
        &self.release_id
    }

    /// The project as matched: ASCII letters folded, the same fold the
    /// migration applied to releases stored before environments existed.
    pub fn team_project_key(&self) -> String {
        fold(&self.team_project)
    }

    pub fn environment_key(&self) -> String {
        fold(&self.environment)
    }
}

/// Case-insensitive matching key of a project or environment name.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A validated `POST /release` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    pub key: ReleaseKey,
    pub name: String,
    /// Who asked for the release (`RequestedForEmail`), if the pipeline
    /// said: unless the policy allows it, they may not approve it.
    pub requested_for: Option<ApproverEmail>,
}

/// One offending field of a request, as reported in a problem document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Why a body is not a release request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or JSON that is not an object.
    Malformed(String),
    /// A JSON object whose fields are wrong.
    Invalid(Vec<FieldError>),
}

impl NewRelease {
    /// Parses a JSON body. Accepts the Azure DevOps variable names
    /// (`ReleaseName`, `ReleaseId`, `TeamProject`) and their snake_case
    /// forms; `ReleaseId` may be a string or an integer. Unknown fields are
    /// ignored: pipelines send what their tool sends.
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError::Malformed(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ParseError::Malformed(
                "the body must be a JSON object".to_owned(),
            ));
        };
        let mut errors = Vec::new();
        let name = field(&object, "ReleaseName", "release_name", false, &mut errors)
            .and_then(|s| check_text("ReleaseName", &s, MAX_RELEASE_NAME, &mut errors));
        let release_id = field(&object, "ReleaseId", "release_id", true, &mut errors)
            .and_then(|s| key_part("ReleaseId", &s, MAX_RELEASE_ID, &mut errors));
        let team_project = field(&object, "TeamProject", "team_project", false, &mut errors)
            .and_then(|s| key_part("TeamProject", &s, MAX_TEAM_PROJECT, &mut errors));
        let environment = optional_field(&object, "Environment", "environment", &mut errors)
            .map_or(Some(DEFAULT_ENVIRONMENT.to_owned()), |s| {
                key_part("Environment", &s, MAX_ENVIRONMENT, &mut errors)
            });
        // Azure DevOps leaves the variable empty for releases nobody
        // requested (scheduled ones): empty is "nobody".
        let requested_for = optional_field(
            &object,
            "RequestedForEmail",
            "requested_for_email",
            &mut errors,
        )
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .and_then(|s| match ApproverEmail::parse(&s) {
            Ok(email) => Some(email),
            Err(e) => {
                errors.push(FieldError::new("RequestedForEmail", e));
                None
            }
        });
        match (name, release_id, team_project, environment) {
            (Some(name), Some(release_id), Some(team_project), Some(environment))
                if errors.is_empty() =>
            {
                Ok(Self {
                    key: ReleaseKey {
                        team_project,
                        environment,
                        release_id,
                    },
                    name,
                    requested_for,
                })
            }
            _ => Err(ParseError::Invalid(errors)),
        }
    }
}

/// Reads an optional string field under either name; `null` is absent.
fn optional_field(
    object: &Map<String, Value>,
    name: &'static str,
    alias: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match (object.get(name), object.get(alias)) {
        (Some(v), Some(w)) if !v.is_null() && !w.is_null() => {
            errors.push(FieldError::new(
                name,
                format!("give either {name} or {alias}, not both"),
            ));
            None
        }
        (Some(Value::String(s)), _) | (_, Some(Value::String(s))) => Some(s.clone()),
        (None | Some(Value::Null), None | Some(Value::Null)) => None,
        _ => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// Reads one field under its PascalCase or snake_case name.
fn field(
    object: &Map<String, Value>,
    name: &'static str,
    alias: &str,
    integer_allowed: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = match (object.get(name), object.get(alias)) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                name,
                format!("give either {name} or {alias}, not both"),
            ));
            return None;
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => {
            errors.push(FieldError::new(name, "is required"));
            return None;
        }
    };
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if integer_allowed && (n.is_u64() || n.is_i64()) => Some(n.to_string()),
        _ if integer_allowed => {
            errors.push(FieldError::new(name, "must be a string or an integer"));
            None
        }
        _ => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// Trims and checks one text field: non-empty, bounded, no control
/// characters (they have no place in a name and would allow header injection
/// in emails).
pub(crate) fn check_text(
    name: &'static str,
    raw: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = raw.trim();
    if text.is_empty() {
        errors.push(FieldError::new(name, "must not be empty"));
        return None;
    }
    if text.chars().count() > max_chars {
        errors.push(FieldError::new(
            name,
            format!("must be at most {max_chars} characters"),
        ));
        return None;
    }
    if text.chars().any(char::is_control) {
        errors.push(FieldError::new(name, "must not contain control characters"));
        return None;
    }
    Some(text.to_owned())
}

/// A part of a release's key: text as `check_text` takes it, and no dot
/// segment.
pub(crate) fn key_part(
    name: &'static str,
    raw: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    check_text(name, raw, max_chars, errors).filter(|text| not_a_dot_segment(name, text, errors))
}

/// The parts of a key go into URL paths (the approvers source, the
/// dashboard's links), where `.` and `..` are steps between directories
/// whatever their encoding: they would name another path.
fn not_a_dot_segment(name: &'static str, text: &str, errors: &mut Vec<FieldError>) -> bool {
    let dots = matches!(text, "." | "..");
    if dots {
        errors.push(FieldError::new(
            name,
            "must not be \".\" or \"..\" (a URL would read it as a step between paths)",
        ));
    }
    !dots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_not_ids() {
        for (tp, env, id, field) in [
            ("..", "production", "1", "TeamProject"),
            ("Devx", ".", "1", "Environment"),
            ("Devx", "production", "..", "ReleaseId"),
            ("Devx", "production", " .. ", "ReleaseId"),
        ] {
            let errors = ReleaseKey::parse(tp, Some(env), id).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, field);
        }
        for id in ["...", ".a", "a..", "%2e%2e", "．．"] {
            assert!(ReleaseKey::parse("Devx", None, id).is_ok(), "{id}");
        }
    }

    fn parse(body: &str) -> Result<NewRelease, ParseError> {
        NewRelease::parse_json(body.as_bytes())
    }

    fn invalid_fields(body: &str) -> Vec<&'static str> {
        match parse(body) {
            Err(ParseError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_azure_devops_shape() {
        let r = parse(r#"{"ReleaseName":"Desafio-CD","ReleaseId":"386","TeamProject":"Devx"}"#)
            .unwrap();
        assert_eq!(r.name, "Desafio-CD");
        assert_eq!(r.key.release_id(), "386");
        assert_eq!(r.key.team_project(), "Devx");
        assert_eq!(r.key.environment(), "production");
    }

    #[test]
    fn accepts_snake_case_and_an_integer_id() {
        let r = parse(r#"{"release_name":"n","release_id":386,"team_project":"p"}"#).unwrap();
        assert_eq!(r.key.release_id(), "386");
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let r = parse(r#"{"ReleaseName":" n ","ReleaseId":" 1","TeamProject":"p "}"#).unwrap();
        assert_eq!((r.name.as_str(), r.key.release_id()), ("n", "1"));
        assert_eq!(r.key.team_project(), "p");
    }

    #[test]
    fn ignores_unknown_fields() {
        assert!(parse(r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"p","x":[1]}"#).is_ok());
    }

    #[test]
    fn reports_every_missing_field() {
        assert_eq!(
            invalid_fields("{}"),
            vec!["ReleaseName", "ReleaseId", "TeamProject"]
        );
    }

    #[test]
    fn rejects_wrong_types() {
        assert_eq!(
            invalid_fields(r#"{"ReleaseName":1,"ReleaseId":1.5,"TeamProject":null}"#),
            vec!["ReleaseName", "ReleaseId", "TeamProject"]
        );
        assert_eq!(
            invalid_fields(r#"{"ReleaseName":"n","ReleaseId":true,"TeamProject":["p"]}"#),
            vec!["ReleaseId", "TeamProject"]
        );
    }

    #[test]
    fn rejects_empty_long_and_control_text() {
        let long = "x".repeat(MAX_RELEASE_NAME + 1);
        let body =
            format!(r#"{{"ReleaseName":"{long}","ReleaseId":"  ","TeamProject":"a\r\nBcc: x"}}"#);
        assert_eq!(
            invalid_fields(&body),
            vec!["ReleaseName", "ReleaseId", "TeamProject"]
        );
    }

    #[test]
    fn accepts_text_at_the_length_limit_counted_in_characters() {
        let name = "é".repeat(MAX_RELEASE_NAME);
        let body = format!(r#"{{"ReleaseName":"{name}","ReleaseId":"1","TeamProject":"p"}}"#);
        assert_eq!(parse(&body).unwrap().name, name);
    }

    #[test]
    fn rejects_both_spellings_of_one_field() {
        assert_eq!(
            invalid_fields(
                r#"{"ReleaseName":"n","release_name":"m","ReleaseId":"1","TeamProject":"p"}"#
            ),
            vec!["ReleaseName"]
        );
    }

    #[test]
    fn rejects_non_objects_and_broken_json() {
        for body in ["", "[]", "\"x\"", "{", "{\"ReleaseName\":", "null"] {
            assert!(
                matches!(parse(body), Err(ParseError::Malformed(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn release_keys_follow_the_same_rules() {
        assert!(ReleaseKey::parse("Devx", None, "386").is_ok());
        assert!(ReleaseKey::parse("", None, "386").is_err());
        assert!(ReleaseKey::parse("Devx", None, "a\nb").is_err());
        assert!(ReleaseKey::parse("Devx", Some(""), "386").is_err());
        assert!(ReleaseKey::parse("Devx", Some("stag\ting"), "386").is_err());
    }

    #[test]
    fn the_environment_defaults_to_production_and_keys_fold_case() {
        let r = parse(r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"DevX"}"#).unwrap();
        assert_eq!(r.key.environment(), "production");
        let staging = parse(
            r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"DevX","Environment":" Staging "}"#,
        )
        .unwrap();
        assert_eq!(
            staging.key.environment(),
            "Staging",
            "shown as given, trimmed"
        );
        assert_eq!(staging.key.environment_key(), "staging");
        assert_eq!(staging.key.team_project_key(), "devx");
        let snake = parse(
            r#"{"release_name":"n","release_id":"1","team_project":"DevX","environment":"qa","Environment":null}"#,
        )
        .unwrap();
        assert_eq!(snake.key.environment(), "qa");
        let null =
            parse(r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"d","Environment":null}"#);
        assert_eq!(null.unwrap().key.environment(), "production");
        assert_eq!(
            invalid_fields(
                r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"d","Environment":7}"#
            ),
            ["Environment"]
        );
        assert_eq!(
            invalid_fields(
                r#"{"ReleaseName":"n","ReleaseId":"1","TeamProject":"d","Environment":"a","environment":"b"}"#
            ),
            ["Environment"]
        );
    }
}
