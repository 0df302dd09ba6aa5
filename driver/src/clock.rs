//! [`WallClock`]: the wall clock the driver writes timestamps and reads STATE_DB deadlines
//! against, injectable so that a test can step it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ctrmgr_core::Timestamp;

/// The wall clock: the system's, or (tests) the system's shifted by seconds that
/// [`WallClock::step`] changes, to play a clock step (NTP after boot, `date -s`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock {
    shift: Option<&'static AtomicI64>,
}

impl WallClock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system's wall clock, shifted by what [`WallClock::step`] adds (no shift at first).
    /// Each call leaks one small counter: for tests.
    pub fn steppable() -> Self {
        Self {
            shift: Some(Box::leak(Box::new(AtomicI64::new(0)))),
        }
    }

    /// Steps a [`WallClock::steppable`] clock (and its copies) by `secs` (forward when
    /// positive); does nothing to [`WallClock::system`].
    pub fn step(&self, secs: i64) {
        if let Some(shift) = self.shift {
            shift.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// Seconds since the epoch now (0 before the epoch).
    pub fn now(&self) -> Timestamp {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let shift = self.shift.map_or(0, |s| s.load(Ordering::SeqCst));
        Timestamp::from_secs(real.saturating_add_signed(shift))
    }
}

impl PartialEq for WallClock {
    /// The same clock: both the system's, or copies of one steppable clock.
    fn eq(&self, other: &Self) -> bool {
        match (self.shift, other.shift) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

impl Eq for WallClock {}
