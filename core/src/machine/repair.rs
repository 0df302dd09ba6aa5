//! The repair of a record that is not canonical or was read past: the writes of a step also
//! make it canonical (docs/decisions.md, rel-1).

use crate::machine::table::{step_by_table, write_start_requested};
use crate::machine::{Effect, Input, OwnerWrite, StateWrite, Step};
use crate::types::{CurrentOwner, FeatureConfig, FeatureRecord, Owner, Timestamp};

pub(super) fn step_repairing(
    rec: &FeatureRecord,
    read_past: &[&str],
    cfg: &FeatureConfig,
    input: Input,
    now: Timestamp,
) -> Step {
    let start = matches!(input, Input::Start);
    let stop_or_kill = matches!(input, Input::Stop(_) | Input::Kill);
    let start_or_stop = matches!(input, Input::Start | Input::Stop(_));
    let mut s = step_by_table(rec, cfg, input, now);
    let (_, anomaly) = rec.classify();
    if !read_past.is_empty() {
        repair_writes(&mut s, rec, read_past);
    }
    // A Stop or Kill leaves a canonical record whatever it read: from a non-canonical or
    // repaired record it writes the state it goes to even when its row writes nothing.
    if stop_or_kill
        && (anomaly.is_some() || !read_past.is_empty())
        && !s.effects.iter().any(|e| matches!(e, Effect::Write(_)))
    {
        let (owner, mode) = s.next.pair();
        s.effects.push(Effect::Write(StateWrite {
            guard: Some(rec.transition_mode),
            owner: Some(OwnerWrite {
                owner,
                docker_id: (owner != CurrentOwner::None)
                    .then(|| rec.docker_id.clone())
                    .flatten(),
            }),
            mode: Some(mode),
            start_requested: read_past
                .contains(&crate::codec::START_REQUESTED_TS)
                .then_some(false),
            now,
        }));
    }
    if let (read_as, Some(_)) = rec.classify() {
        // Every write from a non-canonical record makes it canonical: the mode of the state it
        // goes to (guarded on the mode it saw), and — when the state it was read as has no
        // owner but the record names one (`kube` without an id) or an id — the owner `none`
        // with no id. Without the owner, `kube` stayed for ever: every later read was
        // KUBE_STOPPED again, and the LocalUp of a Start's own local container was refused.
        let (_, canonical_mode) = s.next.pair();
        let stray_owner = read_as.pair().0 == CurrentOwner::None
            && (rec.current_owner != CurrentOwner::None || rec.docker_id.is_some());
        for e in &mut s.effects {
            if let Effect::Write(w) = e {
                if w.mode.is_none() {
                    w.mode = Some(canonical_mode);
                    w.guard.get_or_insert(rec.transition_mode);
                }
                if w.owner.is_none() && stray_owner {
                    w.owner = Some(OwnerWrite {
                        owner: CurrentOwner::None,
                        docker_id: None,
                    });
                }
            }
        }
    }
    // Invariant 8: with owner local, every Start and Stop removes the feature's label (it is
    // idempotent, and queued when the master is down), so that no DaemonSet pod is left
    // parked for ever on the node.
    if start_or_stop && cfg.set_owner == Owner::Local && !s.effects.contains(&Effect::LabelRemove) {
        s.effects.insert(0, Effect::LabelRemove);
    }
    // The start a daemon requested (it reset the failed unit) is running: the marker has done
    // its work. Cleared first, so that a Start that fails afterwards leaves a failed unit and
    // no marker (systemd's own record then says what happened).
    if start && rec.start_requested_ts.is_some() {
        s.effects.insert(0, write_start_requested(None, false, now));
    }
    s
}

/// The repair of [`step_decoded`]: every write of `s` also rewrites the fields read past.
fn repair_writes(s: &mut Step, rec: &FeatureRecord, read_past: &[&str]) {
    let (next_owner, canonical_mode) = s.next.pair();
    let owner_read_past = [
        crate::codec::CURRENT_OWNER,
        crate::codec::DOCKER_ID,
        crate::codec::CURRENT_OWNER_UPDATE_TS,
    ]
    .iter()
    .any(|f| read_past.contains(f));
    for e in &mut s.effects {
        if let Effect::Write(w) = e {
            if w.mode.is_none() {
                w.mode = Some(canonical_mode);
                w.guard.get_or_insert(rec.transition_mode);
            }
            // The owner is rewritten as read only when the step keeps it: a write that leaves
            // the owner to a later one (a Start's, once its container runs) is not pre-empted.
            if w.owner.is_none() && owner_read_past && rec.current_owner == next_owner {
                w.owner = Some(OwnerWrite {
                    owner: rec.current_owner,
                    docker_id: (rec.current_owner != CurrentOwner::None)
                        .then(|| rec.docker_id.clone())
                        .flatten(),
                });
            }
            if w.start_requested.is_none()
                && read_past.contains(&crate::codec::START_REQUESTED_TS)
                && rec.start_requested_ts.is_none()
            {
                w.start_requested = Some(false);
            }
        }
    }
}
