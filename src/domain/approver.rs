//! Approvers: who must decide on a release.

use std::fmt;
use std::str::FromStr;

use lettre::message::Mailbox;
use lettre::Address;

/// A syntactically valid email address, kept as the approver gave it but
/// compared case-insensitively (what mail servers do in practice).
#[derive(Debug, Clone)]
pub struct ApproverEmail(Address);

impl ApproverEmail {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.chars().any(char::is_control) {
            return Err(format!("{raw:?} contains control characters"));
        }
        Address::from_str(raw)
            .map(Self)
            .map_err(|e| format!("{raw:?} is not an email address: {e}"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The form used for equality and storage keys.
    pub fn normalized(&self) -> String {
        self.as_str().to_lowercase()
    }

    pub fn address(&self) -> &Address {
        &self.0
    }
}

impl PartialEq for ApproverEmail {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for ApproverEmail {}

impl fmt::Display for ApproverEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub name: Option<String>,
    pub email: ApproverEmail,
}

impl Approver {
    /// Parses `Name <email>` or a bare email.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.contains('<') {
            let mailbox = Mailbox::from_str(raw).map_err(|e| format!("{raw:?}: {e}"))?;
            let email = ApproverEmail::parse(mailbox.email.as_ref())?;
            Ok(Self::new(mailbox.name, email))
        } else {
            Ok(Self::new(None, ApproverEmail::parse(raw)?))
        }
    }

    pub fn new(name: Option<String>, email: ApproverEmail) -> Self {
        let name = name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty() && !n.chars().any(char::is_control));
        Self { name, email }
    }

    pub fn mailbox(&self) -> Mailbox {
        Mailbox::new(self.name.clone(), self.email.address().clone())
    }
}

/// Keeps the first occurrence of each email (case-insensitive).
pub fn dedup(approvers: Vec<Approver>) -> Vec<Approver> {
    let mut seen = std::collections::HashSet::new();
    approvers
        .into_iter()
        .filter(|a| seen.insert(a.email.normalized()))
        .collect()
}

/// Parses the static list of `GREENLIGHT_APPROVERS`: comma-separated
/// `Name <email>` or bare emails.
pub fn parse_list(raw: &str) -> Result<Vec<Approver>, String> {
    let approvers = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Approver::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dedup(approvers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_and_named_addresses() {
        let a = Approver::parse("ana@example.com").unwrap();
        assert_eq!((a.name, a.email.as_str()), (None, "ana@example.com"));
        let b = Approver::parse(" Bruno Silva <bruno@example.com> ").unwrap();
        assert_eq!(b.name.as_deref(), Some("Bruno Silva"));
        assert_eq!(b.email.as_str(), "bruno@example.com");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for raw in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "a b@example.com",
            "ana@example.com\r\nBcc: x@y.z",
        ] {
            assert!(Approver::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn emails_compare_case_insensitively() {
        let a = ApproverEmail::parse("Ana@Example.com").unwrap();
        let b = ApproverEmail::parse("ana@example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "Ana@Example.com");
    }

    #[test]
    fn static_list_merges_duplicates_and_keeps_order() {
        let list = parse_list("Ana <ana@example.com>, bruno@example.com,,ANA@example.com").unwrap();
        let emails: Vec<_> = list.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(emails, ["ana@example.com", "bruno@example.com"]);
    }

    #[test]
    fn static_list_reports_a_bad_entry() {
        assert!(parse_list("ana@example.com, nope").is_err());
    }
}
