//! Per-client rate limits (GCRA, from the `governor` crate), keyed by the
//! peer's IP address.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct ClientLimiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
}

impl ClientLimiter {
    /// `per_minute` requests per client, all of them at once if they come
    /// in a burst.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        Some(Self {
            inner: RateLimiter::keyed(Quota::per_minute(n)),
        })
    }

    /// Counts one request of `req`'s client: how long it must wait if it
    /// is over the limit.
    pub fn check(&self, req: &HttpRequest) -> Result<(), Duration> {
        let ip = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        self.inner
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets clients that are back to a full allowance (bounds memory).
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
    }
}

/// Whole seconds for `Retry-After`, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
        assert_eq!(retry_after_secs(Duration::from_millis(6001)), 7);
    }

    #[test]
    fn a_client_over_its_allowance_is_told_how_long_to_wait() {
        let limiter = ClientLimiter::per_minute(2).unwrap();
        let req = actix_web::test::TestRequest::default()
            .peer_addr("10.0.0.1:1234".parse().unwrap())
            .to_http_request();
        let other = actix_web::test::TestRequest::default()
            .peer_addr("10.0.0.2:1234".parse().unwrap())
            .to_http_request();
        assert!(limiter.check(&req).is_ok() && limiter.check(&req).is_ok());
        let wait = limiter.check(&req).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            limiter.check(&other).is_ok(),
            "another client has its own allowance"
        );
        assert!(ClientLimiter::per_minute(0).is_none());
    }
}
