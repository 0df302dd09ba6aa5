//! The feature state machine of DESIGN.md §4 as one pure, total, deterministic function.
//!
//! [`step`] takes what is recorded ([`FeatureRecord`]), what is configured ([`FeatureConfig`]),
//! one [`Input`] (an observation or a command) and `now`, and answers a [`Step`]: the state the
//! feature will be in, the [`Effect`]s to carry out in order, and the [`Reason`] — the row of
//! the table that applied. It never fails and never panics: an input that a state does not
//! take answers "unchanged" with a reason.
//!
//! The driver contract (like str0m's run loop): execute the effects in order; an
//! [`Effect::DockerStart`] that succeeds is followed by feeding [`Input::LocalUp`] with the new
//! id; a [`Effect::Write`] whose `guard` no longer matches the DB is re-read and re-stepped (at
//! most [`CAS_RETRIES`] times); a label operation that cannot reach the master is queued (see
//! [`crate::label`]) and, for a kube Stop, makes [`Effect::AwaitExit`] stop the container at
//! once instead of waiting for kubelet.

mod effect;
mod reason;
mod repair;
mod table;

pub use effect::{Effect, Input, KubeAnswer, OwnerWrite, StateWrite, StopOptions, Target};
pub use reason::Reason;

use serde::Serialize;

use crate::types::{FeatureConfig, FeatureRecord, State, Timestamp};

/// How many times the driver re-reads and re-steps after a compare-and-set write lost a race.
pub const CAS_RETRIES: u32 = 5;

/// The outcome of one [`step`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The state once the effects (and the inputs they feed back) are carried out.
    pub next: State,
    /// What to do, in order.
    pub effects: Vec<Effect>,
    /// Which row applied.
    pub reason: Reason,
}

/// One transition of DESIGN.md §4. Pure, total and deterministic.
///
/// A record that is none of the seven canonical pairs is read as the nearest state
/// ([`FeatureRecord::classify`]); a step from it that writes the record also writes the
/// canonical mode of the state it goes to (guarded on the mode it saw), so that the record is
/// canonical again. Without that, `local`/`kube_ready` read as LOCAL and stopped would leave
/// `none`/`kube_ready` — an approval that no Start gave.
pub fn step(rec: &FeatureRecord, cfg: &FeatureConfig, input: Input, now: Timestamp) -> Step {
    repair::step_repairing(rec, &[], cfg, input, now)
}

/// [`step`] for a record read by the total rule ([`crate::codec::decode_feature_state`]) with
/// the fields it read past (docs/decisions.md, rel-1). When a field was read past, the step's
/// writes rewrite it: every write carries the canonical mode of the state the step goes to
/// (guarded on the mode read), the owner too when the write leaves it and the owner was read
/// past, and a `start_requested_ts` read past is cleared; a Stop or Kill that would write
/// nothing writes the canonical record of the state it leaves. So the next write repairs
/// the row, and a Stop always leaves a canonical record with no owner.
pub fn step_decoded(
    decoded: &crate::codec::DecodedRecord,
    cfg: &FeatureConfig,
    input: Input,
    now: Timestamp,
) -> Step {
    let fields: Vec<&str> = decoded.warnings.iter().map(|w| w.field.as_str()).collect();
    repair::step_repairing(&decoded.record, &fields, cfg, input, now)
}

/// When kube-monit must come back for this feature: `transition_mode_update_ts + N minutes`
/// while failure detection is armed (owner kube, fallback, N > 0), nothing claims the feature
/// and the mode is `kube_ready` or `kube_stopped`. `None` when nothing is due. A record with no
/// timestamp counts from the epoch, so it is due at once: a clock that cannot be read must not
/// keep the feature down for ever.
pub fn next_deadline(rec: &FeatureRecord, cfg: &FeatureConfig) -> Option<Timestamp> {
    if !cfg.failure_detection_armed() {
        return None;
    }
    match rec.state() {
        State::KubeReady | State::KubeStopped => Some(
            rec.transition_mode_update_ts
                .unwrap_or(Timestamp::EPOCH)
                .plus_minutes(
                    u64::from(cfg.kube_failure_detection_mins),
                    u64::from(cfg.minute_secs),
                ),
        ),
        _ => None,
    }
}

/// Whether hostcfgd-watcher has something to carry out for this record: an approval (the
/// record reads as LOCAL_TO_KUBE or KUBE_PENDING, by the same total rule as [`step`]), or a
/// start that this system began and may not have finished (`start_requested_ts` set). It then
/// asks systemd about the unit and feeds [`Input::Approve`].
pub fn approval_pending(rec: &FeatureRecord) -> bool {
    matches!(rec.state(), State::LocalToKube | State::KubePending)
        || rec.start_requested_ts.is_some()
}

/// Applies the [`Effect::Write`]s of a step to a record, as the DB would after the driver ran
/// them (used by tests, the model and the demo).
pub fn apply_writes(rec: &mut FeatureRecord, effects: &[Effect]) {
    for e in effects {
        if let Effect::Write(w) = e {
            w.apply(rec);
        }
    }
}
