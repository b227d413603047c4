//! Failed-attempt throttling of sign-ins: per account and per client
//! address, counted before the slow hash, locked at the configured limits.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use super::Aegis;
use crate::error::{Error, Result};
use crate::telemetry;
use crate::throttle::{ip_key, ThrottleState};

fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (until - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

impl Aegis {
    /// A failed login attempt: locks the account at its limit and counts one
    /// failure for the client address.
    pub(super) async fn count_failed_login(
        &self,
        acct: &str,
        attempt: u32,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let limits = &self.config.throttle;
        if limits.account_failures > 0 && attempt >= limits.account_failures {
            self.lock(acct, now).await?;
        }
        if let Some(key) = ip {
            self.count_failure(key, limits.ip_failures, now).await?;
        }
        Ok(())
    }

    /// The throttle key of a client address, refused while that address is
    /// locked (when addresses are throttled at all).
    pub(super) async fn admit_address(
        &self,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let key = ip.map(|ip| ip_key(&ip));
        if let (Some(key), true) = (&key, self.config.throttle.ip_failures > 0) {
            self.check_lock(key, now).await?;
        }
        Ok(key)
    }

    /// Refuses while `key` is locked; returns its state.
    pub(super) async fn check_lock(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ThrottleState>> {
        let state = self.store.find_throttle(key).await?;
        if let Some(until) = state.and_then(|s| s.locked_until) {
            if until > now {
                return Err(Error::Locked {
                    retry_after: retry_after(until, now),
                });
            }
        }
        Ok(state)
    }

    /// Counts one attempt on an account key (0 = throttling off) and refuses it
    /// when it is past the limit; returns the attempt's number in the window.
    pub(super) async fn admit_attempt(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        if max == 0 {
            return Ok(0);
        }
        self.check_lock(key, now).await?;
        let window = Duration::seconds(self.config.throttle.lockout_s as i64);
        let state = self.store.record_failure(key, now, now - window).await?;
        if state.failures > max {
            let until = self.lock(key, now).await?;
            return Err(Error::Locked {
                retry_after: retry_after(until, now),
            });
        }
        Ok(state.failures)
    }

    pub(super) async fn lock(&self, key: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let until = now + Duration::seconds(self.config.throttle.lockout_s as i64);
        self.store.lock_throttle(key, until).await?;
        telemetry::lockout(key);
        tracing::warn!("login throttled after repeated failures");
        Ok(until)
    }

    /// Counts a failure and locks the key when it reaches `max` (0 = off).
    pub(super) async fn count_failure(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if max == 0 {
            return Ok(());
        }
        let window = Duration::seconds(self.config.throttle.lockout_s as i64);
        let state = self.store.record_failure(key, now, now - window).await?;
        if state.failures >= max {
            self.lock(key, now).await?;
        }
        Ok(())
    }
}
