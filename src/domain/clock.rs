//! Where "now" comes from. Use cases, storage and payments take time from an injected [`Clock`],
//! never from the system directly, so tests move time instead of sleeping through it.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::Timestamp;

/// A source of the current time.
pub trait Clock: Debug + Send + Sync {
    /// The current time, in microseconds.
    fn now(&self) -> Timestamp;
}

/// The clock every use case shares.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(chrono::Utc::now().timestamp_micros())
    }
}

/// A clock that stands still until it is moved (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.micros()))
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to `at` (forward or back).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp(1_000));
        assert_eq!(clock.now(), Timestamp(1_000));
        assert_eq!(clock.now(), Timestamp(1_000));
        clock.advance(Duration::from_millis(2));
        assert_eq!(clock.now(), Timestamp(3_000));
        clock.set(Timestamp(10));
        assert_eq!(clock.now(), Timestamp(10));
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now() > Timestamp(1_577_836_800_000_000));
    }
}
