//! Rate limits per client address on signup, login, refresh and upload
//! (DESIGN §8), kept in each API process (governor's GCRA). They stop floods:
//! the defaults leave room for an office behind one address, and a replica
//! counts only what reaches it.
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use kpix_shared::config::RateLimits;

use crate::error::{ApiError, ApiResult};

/// One limit: `None` when turned off (0 in the configuration).
pub struct Limit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    what: &'static str,
}

impl Limit {
    fn new(what: &'static str, per: Duration, count: u32) -> Self {
        let limiter = NonZeroU32::new(count).and_then(|burst| {
            Quota::with_period(per / count)
                .map(|quota| DefaultKeyedRateLimiter::keyed(quota.allow_burst(burst)))
        });
        Self { limiter, what }
    }

    /// Counts a request of `client`; 429 with the wait when over the limit.
    pub fn check(&self, client: IpAddr) -> ApiResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            tracing::warn!(audit = "rate_limited", what = self.what, client = %client, "request refused: rate limit");
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
                detail: format!("too many {} from this address", self.what),
            }
        })
    }

    /// Forgets the addresses whose limit is back to full.
    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct RateLimiters {
    pub signup: Limit,
    pub login: Limit,
    pub refresh: Limit,
    pub upload: Limit,
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            signup: Limit::new("signups", MINUTE * 60, limits.signups_per_hour),
            login: Limit::new("logins", MINUTE, limits.logins_per_minute),
            refresh: Limit::new("token refreshes", MINUTE, limits.refreshes_per_minute),
            upload: Limit::new("uploads", MINUTE, limits.uploads_per_minute),
        }
    }

    /// Keeps memory bounded by the addresses seen recently.
    pub fn forget_idle(&self) {
        for limit in [&self.signup, &self.login, &self.refresh, &self.upload] {
            limit.forget_idle();
        }
    }
}
