//! What every request must be before a handler sees it, so that a web page
//! elsewhere cannot use a visitor's browser against Greenlight:
//!
//! - addressed to a `Host` we answer to (else 421): DNS rebinding points a
//!   name of the attacker's at our address, and its pages could then read
//!   our answers as their own;
//! - when it changes state, sent from our own site (`Origin`, else
//!   `Referer`; else 403): a form or a `fetch` elsewhere would otherwise
//!   carry the visitor's Basic credentials.
//!
//! Every answer also gets the headers that keep it out of other sites'
//! frames and content sniffing.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError};

use super::problem::ApiError;

/// Probes are addressed by whatever name or address the prober knows
/// (a pod's IP): they answer whatever the `Host`. They change nothing and
/// tell a page elsewhere nothing worth a rebinding.
const ANY_HOST: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The API docs (Swagger UI, served from the binary) load their scripts,
/// styles and data: icons from here, and nothing else.
const DOCS_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The host names (lower case, no port) requests may be addressed to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: Vec<String>,
    any: bool,
}

impl AllowedHosts {
    /// The public URL's host, the listen address's host (and, when it is
    /// loopback or every address, the loopback names), and `extra`
    /// (`GREENLIGHT_ALLOWED_HOSTS`; `*` allows any).
    pub fn new(public_url: &str, listen: &str, extra: &[String]) -> Self {
        let mut names: Vec<String> = extra.iter().map(|h| h.to_ascii_lowercase()).collect();
        if let Some(host) = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            names.push(host.to_ascii_lowercase());
        }
        if let Some(host) = host_name(listen) {
            let local = host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
            if local {
                names.extend(["localhost", "127.0.0.1", "[::1]"].map(str::to_owned));
            }
            names.push(host);
        }
        let any = names.iter().any(|n| n == "*");
        Self { names, any }
    }

    pub fn allows(&self, host: &str) -> bool {
        self.any || host_name(host).is_some_and(|name| self.names.contains(&name))
    }
}

/// The host of `host[:port]` (IPv6 in brackets), lower case; `None` if it
/// is not one.
fn host_name(authority: &str) -> Option<String> {
    let port_ok = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let bare = after.is_empty() || after.strip_prefix(':').is_some_and(port_ok);
        return bare.then(|| format!("[{}]", inside.to_ascii_lowercase()));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port_ok(port) => host,
        Some(_) => return None,
        None => authority,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = match req.app_data::<actix_web::web::Data<super::AppState>>() {
        Some(state) => check(req.request(), &state.allowed_hosts, &state.public_origin).err(),
        None => None,
    };
    let mut response = match refusal {
        Some(error) => {
            let answer = error.error_response();
            req.into_response(answer).map_into_right_body()
        }
        None => next.call(req).await?.map_into_left_body(),
    };
    let docs = response.request().path().starts_with("/docs");
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ]
    .into_iter()
    .chain(docs.then_some((header::CONTENT_SECURITY_POLICY, DOCS_POLICY)))
    {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
    Ok(response)
}

fn check(req: &HttpRequest, hosts: &AllowedHosts, public_origin: &str) -> Result<(), ApiError> {
    if !ANY_HOST.contains(&req.path()) {
        // HTTP/1.0 without a Host is no browser; HTTP/2 names it in the URI.
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            });
        if let Some(host) = host {
            if !hosts.allows(&host) {
                return Err(ApiError::MisdirectedRequest);
            }
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        same_site(req, public_origin)?;
    }
    Ok(())
}

/// Refuses a browser's request from another site: where a browser says
/// where it came from (`Origin`, else `Referer`), it must be our public URL
/// or the host the request was sent to. Scripts and pipelines send
/// neither.
pub fn same_site(req: &HttpRequest, public_origin: &str) -> Result<(), ApiError> {
    let headers = req.headers();
    let origin = match headers.get(header::ORIGIN) {
        Some(origin) => origin.to_str().map_err(|_| ApiError::CrossSite)?.to_owned(),
        None => match headers.get(header::REFERER) {
            Some(referer) => referer
                .to_str()
                .ok()
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| u.origin().ascii_serialization())
                .ok_or(ApiError::CrossSite)?,
            None => return Ok(()),
        },
    };
    if origin.eq_ignore_ascii_case(public_origin) {
        return Ok(());
    }
    // `null` (a sandboxed or privacy-stripped origin) parses to no host.
    let origin_host = url::Url::parse(&origin).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(match u.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::CrossSite),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn same(headers: &[(&str, &str)]) -> bool {
        let mut req = TestRequest::post().insert_header(("Host", "127.0.0.1:8080"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        same_site(&req.to_http_request(), "https://greenlight.example.com").is_ok()
    }

    #[test]
    fn only_our_own_pages_may_post_from_a_browser() {
        assert!(same(&[]), "scripts send no origin");
        assert!(same(&[("Origin", "https://greenlight.example.com")]));
        assert!(
            same(&[("Origin", "http://127.0.0.1:8080")]),
            "the host asked"
        );
        assert!(same(&[(
            "Referer",
            "https://greenlight.example.com/approval?token=x"
        )]));
        assert!(!same(&[("Origin", "https://evil.example")]));
        assert!(!same(&[("Origin", "null")]));
        assert!(!same(&[(
            "Origin",
            "https://greenlight.example.com.evil.example"
        )]));
        assert!(!same(&[("Referer", "https://evil.example/form.html")]));
        assert!(!same(&[("Referer", "not a url")]));
        assert!(
            !same(&[
                ("Origin", "https://evil.example"),
                ("Referer", "https://greenlight.example.com/")
            ]),
            "Origin wins over Referer"
        );
    }

    #[test]
    fn hosts_are_the_public_one_the_listen_address_and_the_allowed() {
        let hosts = AllowedHosts::new(
            "https://Greenlight.example.com",
            "0.0.0.0:8080",
            &["gl.internal".to_owned()],
        );
        for ok in [
            "greenlight.example.com",
            "GREENLIGHT.example.com:443",
            "gl.internal:8080",
            "0.0.0.0:8080",
            "localhost:8080",
            "127.0.0.1",
            "[::1]:8080",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "greenlight.example.com.evil.example",
            "10.0.0.5:8080",
            "gl.internal:x",
            "",
            "[::1",
            "é:80",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        // Listening on one address: only that one (and the public host).
        let narrow = AllowedHosts::new("https://gl.example.com", "10.0.0.5:80", &[]);
        assert!(narrow.allows("10.0.0.5"));
        assert!(!narrow.allows("localhost"));
        assert!(AllowedHosts::new("http://a", "10.0.0.5:80", &["*".to_owned()]).allows("b"));
    }
}
