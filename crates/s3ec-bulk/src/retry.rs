//! How often and how patiently a retryable fault is tried again.

use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` (from 1) waits a uniformly random time in
/// `[0, min(cap, base * 2^(n-1))]` before the next try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per object, the first included.
    pub max_attempts: u32,
    /// The first delay's upper bound.
    pub base: Duration,
    /// The largest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}
