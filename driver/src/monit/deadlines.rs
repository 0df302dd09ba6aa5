//! kube-monit's armed failure deadlines, and the clocks they are read against.
//!
//! The rule (issue 8, item 8): a deadline is stored in STATE_DB as wall-clock epoch seconds, so
//! that it survives a restart; inside one process it is fired by the monotonic clock. When a
//! deadline is read (a row is armed), it is converted **once** to a tokio [`Instant`]: the time
//! remaining by the wall clock then (`deadline - wall_now`, at least 0) from the monotonic now.
//! It is derived again only when the deadline itself changes (the row's timestamp or the
//! configuration) or when kube-monit restarts, which reads every wall-clock deadline again. So
//! a wall-clock step after arming (NTP after boot, an operator's `date -s`) neither fires an
//! armed deadline early nor delays it; a step before a restart moves the deadlines read at that
//! restart by its size.

use std::collections::BTreeMap;
use std::time::Duration;

use ctrmgr_core::{FeatureConfig, FeatureName, FeatureRecord, Timestamp};
use tokio::time::Instant;

use crate::WallClock;

/// One armed deadline: the wall-clock deadline read from the rows, and the monotonic instant it
/// fires at, derived once when it was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Armed {
    /// The deadline as the rows give it (epoch seconds).
    pub wall: Timestamp,
    /// When it fires.
    pub at: Instant,
}

/// The armed deadlines, and what each feature looked like when its deadline last fired: a
/// deadline fires at most once per (record, configuration), so a fallback that changed nothing
/// (the unit is stopped: the operator's stop wins) does not spin on a passed deadline; it is
/// armed again when the row or the configuration changes.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    pub at: BTreeMap<FeatureName, Armed>,
    pub fired: BTreeMap<FeatureName, (FeatureRecord, FeatureConfig)>,
}

impl Deadlines {
    /// The earliest instant armed.
    pub fn next(&self) -> Option<Instant> {
        self.at.values().map(|a| a.at).min()
    }

    /// Takes out the deadlines due at `now` (monotonic).
    pub fn take_due(&mut self, now: Instant) -> Vec<(FeatureName, Armed)> {
        let due: Vec<(FeatureName, Armed)> = self
            .at
            .iter()
            .filter(|(_, a)| a.at <= now)
            .map(|(f, a)| (f.clone(), *a))
            .collect();
        for (f, _) in &due {
            self.at.remove(f);
        }
        due
    }

    /// Arms `f` for the wall-clock deadline `wall`. The instant is derived from `clock` only
    /// when `f` is not armed for that same deadline already (an armed instant is kept across
    /// re-reads of an unchanged deadline, whatever the wall clock did since). Returns the
    /// seconds left when it was (re)derived, `None` when it was kept.
    pub fn arm(&mut self, f: &FeatureName, wall: Timestamp, clock: &WallClock) -> Option<u64> {
        if self.at.get(f).is_some_and(|a| a.wall == wall) {
            return None;
        }
        let left = wall.secs().saturating_sub(clock.now().secs());
        let at = Instant::now() + Duration::from_secs(left);
        self.at.insert(f.clone(), Armed { wall, at });
        Some(left)
    }

    /// Arms `f` again for the same deadline, `after` from now (a failed fallback's retry).
    pub fn retry(&mut self, f: &FeatureName, wall: Timestamp, after: Duration) {
        let at = Instant::now() + after;
        self.at.insert(f.clone(), Armed { wall, at });
    }
}
