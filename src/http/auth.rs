//! Who is calling: the API key a pipeline or operator presents, and what
//! it may see. Approver routes never come here: their token is the
//! credential.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine;

use super::limits::{retry_after_secs, ClientLimiter};
use super::problem::ApiError;
use crate::api_key::{self, KeyHasher, Scope};
use crate::db::{self, api_keys, Db};

/// A key's last use is recorded at most this often.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

pub struct Auth {
    pub required: bool,
    pub hasher: KeyHasher,
    /// Failed key attempts per client (a guess is answered 429 beyond it).
    pub failures: Option<ClientLimiter>,
}

/// What a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Keys are not required: everything.
    Open,
    /// A key (its id, as `greenlight api-key list` shows it) and what it
    /// may see.
    Key(Scope, i64),
}

impl Access {
    /// 403 unless this caller may see releases of the project
    /// `team_project_key` (folded).
    pub fn check(&self, team_project_key: &str) -> Result<(), ApiError> {
        match self {
            Self::Key(scope, _) if !scope.allows(team_project_key) => Err(ApiError::Forbidden(
                "this API key belongs to another project".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// Narrows a list's project filter to what this caller may see: a
    /// project key lists its own project, and asking for another is a 403.
    pub fn scope(&self, team_project_key: &mut Option<String>) -> Result<(), ApiError> {
        if let Some(own) = self.project() {
            if let Some(asked) = team_project_key.as_deref() {
                self.check(asked)?;
            }
            *team_project_key = Some(own.to_owned());
        }
        Ok(())
    }

    /// The only project a project key sees in lists.
    pub fn project(&self) -> Option<&str> {
        match self {
            Self::Key(Scope::Project(p), _) => Some(p),
            _ => None,
        }
    }

    /// Who acts, as the audit trail names them: `key 3`; none when keys
    /// are off.
    pub fn actor(&self) -> Option<String> {
        match self {
            Self::Open => None,
            Self::Key(_, id) => Some(format!("key {id}")),
        }
    }

    /// 403 unless this is an operator (or keys are off).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Key(Scope::Project(_), _) => Err(ApiError::Forbidden(
                "this needs an admin key (greenlight api-key create --admin)".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

impl Auth {
    /// The caller's access: 401 without a valid key when keys are
    /// required, 429 for a client that keeps presenting wrong ones.
    pub async fn authenticate(&self, db: &Db, req: &HttpRequest) -> Result<Access, ApiError> {
        if !self.required {
            return Ok(Access::Open);
        }
        let Some(presented) = presented_key(req) else {
            return Err(ApiError::Unauthorized(
                "an API key is required: send it as X-API-Key, as Authorization: Bearer, or as the password of HTTP Basic",
            ));
        };
        // Anything not shaped like a key fails without a database trip.
        let found = if api_key::looks_like_a_key(&presented) {
            let hash = self.hasher.hash(&presented);
            db.read(move |conn| Ok(api_keys::by_hash(conn, &hash)?))
                .await?
                .filter(|row| row.revoked_at.is_none())
                .filter(|row| self.hasher.matches(&presented, &row.key_hash))
        } else {
            None
        };
        let Some(row) = found else {
            if let Some(wait) = self.failures.as_ref().and_then(|l| l.check(req).err()) {
                return Err(ApiError::TooManyRequests(retry_after_secs(wait)));
            }
            return Err(ApiError::Unauthorized(
                "the API key is not valid or was revoked",
            ));
        };
        let now = db::now();
        if row.last_used_at.is_none_or(|at| at < now - TOUCH_EVERY) {
            // Best effort, off the request's path: a lost update costs a
            // minute of precision in `api-key list`, nothing else.
            let (db, id) = (db.clone(), row.id);
            actix_web::rt::spawn(async move {
                let touched = db
                    .write(move |conn| Ok(api_keys::touch(conn, id, now, now - TOUCH_EVERY)?))
                    .await;
                if let Err(e) = touched {
                    tracing::debug!(error = %e, "could not record an API key's use");
                }
            });
        }
        let scope = match row.team_project_key {
            Some(project) => Scope::Project(project),
            None => Scope::Admin,
        };
        Ok(Access::Key(scope, row.id))
    }
}

/// The key in `X-API-Key`, `Authorization: Bearer`, or the password of
/// `Authorization: Basic` (any user name: what an Azure DevOps Generic
/// service connection sends).
fn presented_key(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_owned());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, value) = authorization.split_once(' ')?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(value.to_owned())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        decoded
            .split_once(':')
            .map(|(_, password)| password.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn key_of(headers: &[(&str, &str)]) -> Option<String> {
        let mut req = TestRequest::default();
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        presented_key(&req.to_http_request())
    }

    #[test]
    fn the_key_is_read_from_each_accepted_header() {
        assert_eq!(key_of(&[("X-API-Key", "glk_a")]).as_deref(), Some("glk_a"));
        assert_eq!(
            key_of(&[("Authorization", "Bearer glk_b")]).as_deref(),
            Some("glk_b")
        );
        assert_eq!(
            key_of(&[("Authorization", "bearer  glk_b ")]).as_deref(),
            Some("glk_b")
        );
        // "azdo:glk_c" and ":glk_c" (no user name)
        assert_eq!(
            key_of(&[("Authorization", "Basic YXpkbzpnbGtfYw==")]).as_deref(),
            Some("glk_c")
        );
        assert_eq!(
            key_of(&[("Authorization", "Basic Omdsa19j")]).as_deref(),
            Some("glk_c")
        );
    }

    #[test]
    fn anything_else_is_no_key() {
        for header in ["Digest x", "Basic !!!", "Basic Z2xrX2M=", "Bearer", "glk_x"] {
            assert_eq!(key_of(&[("Authorization", header)]), None, "{header}");
        }
        assert_eq!(key_of(&[]), None);
    }

    #[test]
    fn a_project_key_sees_its_project_only() {
        let access = Access::Key(Scope::project("Devx"), 3);
        assert_eq!(access.actor().as_deref(), Some("key 3"));
        assert_eq!(Access::Open.actor(), None);
        assert!(access.check("devx").is_ok());
        assert!(matches!(access.check("other"), Err(ApiError::Forbidden(_))));
        assert!(access.require_admin().is_err());
        assert!(Access::Key(Scope::Admin, 1).check("other").is_ok());
        assert!(Access::Open.require_admin().is_ok());
    }
}
