//! Keeps secrets out of everything people read: release reasons, events,
//! the job's error record and log lines.
//!
//! Two layers. The configured secrets (the signing keys, every URL's
//! credentials and query string) are known at start and replaced wherever
//! they appear, raw or percent-decoded. And any `scheme://user:pass@host`
//! in a text loses its credentials, whatever URL it is (a redirect target,
//! a URL a library printed).

use percent_encoding::percent_decode_str;

const MASK: &str = "[redacted]";
/// Shorter values are not masked: masking `a` would mangle every text, and
/// a credential that short is no secret anyway.
const MIN_SECRET_LEN: usize = 4;

#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// `values` are secrets as they are; `urls` give up their credentials,
    /// query string and fragment.
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut secrets: Vec<String> = values.into_iter().map(str::to_owned).collect();
        for url in urls {
            secrets.extend(url_secrets(url));
        }
        let decoded: Vec<String> = secrets
            .iter()
            .filter_map(|s| percent_decode_str(s).decode_utf8().ok())
            .map(|s| s.into_owned())
            .collect();
        secrets.extend(decoded);
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every known secret masked and every URL's credentials
    /// removed.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = strip_url_credentials(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// The parts of a URL that may be credentials: user, password, the query
/// string (whole and each value: `?code=` is how Azure Functions take their
/// key) and the fragment.
pub fn url_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Vec::new();
    };
    let mut secrets = Vec::new();
    if !parsed.username().is_empty() {
        secrets.push(parsed.username().to_owned());
    }
    if let Some(password) = parsed.password() {
        secrets.push(password.to_owned());
    }
    if let Some(query) = parsed.query() {
        secrets.push(query.to_owned());
        secrets.extend(parsed.query_pairs().map(|(_, v)| v.into_owned()));
    }
    if let Some(fragment) = parsed.fragment() {
        secrets.push(fragment.to_owned());
    }
    secrets
}

/// A URL fit for a log line: scheme, host, port and path only.
pub fn url_for_logs(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// A URL for `greenlight config`: where it points, with its password and
/// query string masked (but their presence shown).
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query().is_some() {
                parsed.set_query(Some("***"));
            }
            parsed.set_fragment(None);
            parsed.to_string()
        }
        // A SQLite path, say: nothing secret in it.
        _ => url.to_owned(),
    }
}

/// Removes `user:pass@` from every `scheme://user:pass@host` in `text`.
fn strip_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | ')' | '"' | '\'' | '>') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(userinfo_end) => rest = &after[userinfo_end + 1..],
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_are_masked_raw_and_decoded() {
        let r = Redactor::new(
            ["signing-secret-value"],
            ["https://bob:p%40ss-word@api.example.com/approvers?code=az-func-key&x=1"],
        );
        let text = "GET https://api.example.com/approvers?code=az-func-key&x=1 failed; \
                    password p@ss-word; key signing-secret-value";
        let scrubbed = r.scrub(text);
        for secret in [
            "az-func-key",
            "p@ss-word",
            "signing-secret-value",
            "code=az",
        ] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("api.example.com"), "{scrubbed}");
    }

    #[test]
    fn any_url_loses_its_credentials() {
        let r = Redactor::default();
        assert_eq!(
            r.scrub("redirected to http://u:secret@evil.example/x and smtps://me:pw@mail:465"),
            "redirected to http://evil.example/x and smtps://mail:465"
        );
        assert_eq!(r.scrub("no url here: a@b"), "no url here: a@b");
        assert_eq!(
            r.scrub("ana@example.com via http://host/a@b"),
            "ana@example.com via http://host/a@b"
        );
    }

    #[test]
    fn urls_for_logs_keep_only_where_they_point() {
        assert_eq!(
            url_for_logs("https://u:p@h.example:8443/a/{team_project}?code=k#f"),
            "https://h.example:8443/a/%7Bteam_project%7D"
        );
    }

    #[test]
    fn masked_urls_show_where_they_point_and_that_secrets_are_set() {
        assert_eq!(
            mask_url("smtps://me:hunter2@mail.example.com:465"),
            "smtps://me:***@mail.example.com:465"
        );
        assert_eq!(
            mask_url("https://api.example.com/approvers?code=k"),
            "https://api.example.com/approvers?***"
        );
        assert_eq!(mask_url("greenlight.db"), "greenlight.db");
    }

    #[test]
    fn short_values_are_not_masked() {
        let r = Redactor::new(["ab"], ["http://x:y@h/"]);
        assert_eq!(r.scrub("abc x y"), "abc x y");
    }
}
