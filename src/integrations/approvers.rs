//! The approvers source: who must approve a release.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use super::outbound::{Outbound, OutboundError};
use crate::domain::approver::{dedup, Approver, ApproverEmail};
use crate::domain::ReleaseKey;
use crate::metrics::Target;

/// Where approvers come from.
#[derive(Debug, Clone)]
pub enum ApproversSource {
    /// GET this URL; `{team_project}` and `{release_id}` are filled in.
    Http(String),
    Static(Vec<Approver>),
    /// Nothing configured: every release fails with a reason saying so.
    None,
}

/// Redirects the GET follows: an approvers API may have moved behind one.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone)]
pub struct ApproversClient {
    http: Outbound,
}

impl ApproversClient {
    pub fn new(http: Outbound) -> Self {
        Self { http }
    }

    /// The approvers of one release: deduplicated, invalid entries dropped
    /// (with a log line), never empty.
    pub async fn fetch(
        &self,
        source: &ApproversSource,
        key: &ReleaseKey,
    ) -> Result<Vec<Approver>, OutboundError> {
        let approvers = match source {
            ApproversSource::Static(list) => list.clone(),
            ApproversSource::None => {
                return Err(OutboundError::invalid(
                    "no approvers source is configured for this project (set GREENLIGHT_APPROVERS_URL or GREENLIGHT_APPROVERS, or approvers in its [projects] table)",
                ))
            }
            ApproversSource::Http(template) => {
                // The operator's URL: its host may be private.
                let body = self
                    .http
                    .get(Target::Approvers, &expand(template, key))
                    .header("Accept", "application/json")
                    .follow_redirects(MAX_REDIRECTS)
                    .read()
                    .await?;
                let parsed = parse_response(&body).map_err(OutboundError::invalid)?;
                for dropped in &parsed.dropped {
                    tracing::warn!(
                        team_project = key.team_project(),
                        release_id = key.release_id(),
                        "approvers source: dropped an entry: {dropped}"
                    );
                }
                parsed.approvers
            }
        };
        if approvers.is_empty() {
            return Err(OutboundError::invalid(
                "the approvers source returned no valid approver",
            ));
        }
        Ok(approvers)
    }
}

/// Fills `{team_project}` and `{release_id}` in, URL-encoded.
pub fn expand(template: &str, key: &ReleaseKey) -> String {
    template
        .replace(
            "{team_project}",
            &utf8_percent_encode(key.team_project(), NON_ALPHANUMERIC).to_string(),
        )
        .replace(
            "{release_id}",
            &utf8_percent_encode(key.release_id(), NON_ALPHANUMERIC).to_string(),
        )
}

#[derive(Debug, PartialEq, Eq)]
pub struct ParsedApprovers {
    pub approvers: Vec<Approver>,
    /// Entries that were not approvers, described for the log.
    pub dropped: Vec<String>,
}

/// Parses `{"approvers": [...]}` or a bare list; each entry an email string
/// or an object `{"name": ..., "email": ...}`.
pub fn parse_response(body: &[u8]) -> Result<ParsedApprovers, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("approvers source answered invalid JSON: {e}"))?;
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Object(mut object) => match object.remove("approvers") {
            Some(Value::Array(entries)) => entries,
            _ => {
                return Err(
                    "approvers source answered an object without an \"approvers\" list".to_owned(),
                )
            }
        },
        _ => return Err("approvers source answered neither a list nor an object".to_owned()),
    };
    let mut approvers = Vec::new();
    let mut dropped = Vec::new();
    for entry in entries {
        match parse_entry(&entry) {
            Ok(a) => approvers.push(a),
            Err(e) => dropped.push(e),
        }
    }
    Ok(ParsedApprovers {
        approvers: dedup(approvers),
        dropped,
    })
}

fn parse_entry(entry: &Value) -> Result<Approver, String> {
    match entry {
        Value::String(s) => Approver::parse(s),
        Value::Object(o) => {
            let email = o
                .get("email")
                .and_then(Value::as_str)
                .ok_or_else(|| "an approver object without an \"email\" string".to_owned())?;
            let name = o.get("name").and_then(Value::as_str).map(str::to_owned);
            Ok(Approver::new(name, ApproverEmail::parse(email)?))
        }
        other => Err(format!(
            "an entry that is neither a string nor an object: {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(body: &str) -> Vec<String> {
        parse_response(body.as_bytes())
            .unwrap()
            .approvers
            .iter()
            .map(|a| a.email.to_string())
            .collect()
    }

    #[test]
    fn reads_the_challenge_mock_shape() {
        assert_eq!(
            emails(r#"{"approvers": ["ana@example.com", "bruno@example.com"]}"#),
            ["ana@example.com", "bruno@example.com"]
        );
    }

    #[test]
    fn reads_objects_and_bare_lists() {
        let parsed =
            parse_response(br#"[{"name":"Ana","email":"ana@example.com"},"bruno@example.com"]"#)
                .unwrap();
        assert_eq!(parsed.approvers[0].name.as_deref(), Some("Ana"));
        assert_eq!(parsed.approvers.len(), 2);
    }

    #[test]
    fn drops_invalid_entries_and_merges_duplicates() {
        let parsed = parse_response(
            br#"{"approvers": ["ana@example.com", "nope", 42, {"name":"x"}, "ANA@example.com", null]}"#,
        )
        .unwrap();
        assert_eq!(parsed.approvers.len(), 1);
        assert_eq!(parsed.dropped.len(), 4);
    }

    #[test]
    fn refuses_other_shapes() {
        for body in [
            "",
            "{",
            "42",
            "\"ana@example.com\"",
            "{}",
            r#"{"approvers": "ana@example.com"}"#,
        ] {
            assert!(parse_response(body.as_bytes()).is_err(), "{body:?}");
        }
    }

    #[test]
    fn an_empty_list_parses_to_no_approvers() {
        assert!(emails(r#"{"approvers": []}"#).is_empty());
    }

    #[test]
    fn expands_the_url_template_encoded() {
        let key = ReleaseKey::parse("Dev X/é", None, "38&6").unwrap();
        assert_eq!(
            expand("http://h/a?p={team_project}&r={release_id}", &key),
            "http://h/a?p=Dev%20X%2F%C3%A9&r=38%266"
        );
    }
}
