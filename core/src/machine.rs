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

use serde::Serialize;

use crate::types::{
    ContainerId, CurrentOwner, FeatureConfig, FeatureRecord, Owner, State, Timestamp,
    TransitionMode, UnitActivity,
};

/// How many times the driver re-reads and re-steps after a compare-and-set write lost a race.
pub const CAS_RETRIES: u32 = 5;

/// Options of a Stop (`container stop -t SECS`, and the bounded wait for a kube container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct StopOptions {
    /// Seconds between SIGTERM and SIGKILL when the container is stopped with `docker stop`.
    pub grace_secs: u32,
    /// Seconds to wait for kubelet to stop a kube container after the label is removed.
    pub kube_exit_wait_secs: u32,
}

impl Default for StopOptions {
    fn default() -> Self {
        Self {
            grace_secs: 10,
            kube_exit_wait_secs: 30,
        }
    }
}

/// What happened, or what was asked: the inputs of DESIGN.md §4.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Input {
    /// `container start` (systemd ExecStartPre / ExecStart).
    Start,
    /// `container stop` (systemd ExecStop).
    Stop(StopOptions),
    /// `container kill` (reboot scripts): like Stop, with `docker kill`, Down recorded at once.
    Kill,
    /// The local container with this id is up (after `docker start`, or `container state up
    /// local` from inside it).
    LocalUp(ContainerId),
    /// A kube-deployed container with this id is up (`container state up kube`). The caller
    /// has already fed [`Input::Down`] for a recorded owner that no longer runs.
    KubeUp(ContainerId),
    /// The container with this id went down (`container state down`, or `wait`/`kill` seeing
    /// it exit). Ignored unless it is the recorded `docker_id`.
    Down(ContainerId),
    /// hostcfgd-watcher saw a row for which [`approval_pending`] holds (`transition_mode =
    /// kube_pending`, or `start_requested_ts` set), and asked systemd about the feature's unit
    /// just before.
    Approve {
        /// What `systemctl is-active <feature>` said.
        unit: UnitActivity,
    },
    /// kube-monit's failure deadline ([`next_deadline`]) passed; it asked systemd about the
    /// feature's unit just before.
    FailureTimeout {
        /// What `systemctl is-active <feature>` said.
        unit: UnitActivity,
    },
}

impl Input {
    /// A short name for logs and docs (`Start`, `KubeUp`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Input::Start => "Start",
            Input::Stop(_) => "Stop",
            Input::Kill => "Kill",
            Input::LocalUp(_) => "LocalUp",
            Input::KubeUp(_) => "KubeUp",
            Input::Down(_) => "Down",
            Input::Approve { .. } => "Approve",
            Input::FailureTimeout { .. } => "FailureTimeout",
        }
    }
}

/// Which container an effect acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Target {
    /// The container with this id.
    Id(ContainerId),
    /// The feature's local container by its name (the feature's name), used when no id is
    /// recorded.
    LocalByName,
}

/// The answer to a kube container's `container state up kube`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KubeAnswer {
    /// Approved: run the feature.
    Proceed,
    /// Wait for approval (block on STATE_DB events, then ask again).
    Wait,
    /// Do not proceed: `set_owner` is local. Block (never run the feature) until stopped,
    /// but keep watching CONFIG_DB and ask again if `set_owner` turns back to kube: a container
    /// that parked for ever would hold the DaemonSet's slot on this node, so no other container
    /// would ever ask, and the feature would never reach KUBE_RUNNING (a liveness failure the
    /// property tests found in the literal seed behaviour).
    Park,
}

/// New owner fields for one HSET: `current_owner`, `docker_id`, `current_owner_update_ts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OwnerWrite {
    /// The new `current_owner`.
    pub owner: CurrentOwner,
    /// The new `docker_id` (`None` writes `""`).
    pub docker_id: Option<ContainerId>,
}

/// Fields of STATE_DB `FEATURE|<f>` to write in one HSET, with the timestamps of what changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StateWrite {
    /// Compare-and-set guard: write only if `transition_mode` still has this value.
    pub guard: Option<TransitionMode>,
    /// New owner and id, and `current_owner_update_ts = now`.
    pub owner: Option<OwnerWrite>,
    /// New mode, and `transition_mode_update_ts = now`.
    pub mode: Option<TransitionMode>,
    /// `Some(true)`: set `start_requested_ts = now` (a daemon is about to reset a failed unit
    /// to start it); `Some(false)`: clear it (a Start ran); `None`: leave it.
    pub start_requested: Option<bool>,
    /// The time to record.
    pub now: Timestamp,
}

impl StateWrite {
    /// Applies the write to a record, as the DB would.
    pub fn apply(&self, rec: &mut FeatureRecord) {
        if let Some(o) = &self.owner {
            rec.current_owner = o.owner;
            rec.docker_id = o.docker_id.clone();
            rec.current_owner_update_ts = Some(self.now);
        }
        if let Some(m) = self.mode {
            rec.transition_mode = m;
            rec.transition_mode_update_ts = Some(self.now);
        }
        if let Some(requested) = self.start_requested {
            rec.start_requested_ts = requested.then_some(self.now);
        }
    }
}

/// An imperative for the driver. Effects are data; the driver carries them out in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    /// Add the node label `<feature>_enabled=true` (queued when the master is unreachable).
    LabelAdd,
    /// Remove the node label `<feature>_enabled` (queued when the master is unreachable).
    LabelRemove,
    /// `docker start <feature>` (the local image); on success feed [`Input::LocalUp`].
    DockerStart,
    /// `docker stop` with a grace period.
    DockerStop {
        /// Which container.
        target: Target,
        /// Seconds before SIGKILL.
        grace_secs: u32,
    },
    /// `docker kill`.
    DockerKill {
        /// Which container.
        target: Target,
    },
    /// Wait up to `timeout_secs` for the kube container to exit after its label was removed;
    /// if it still runs then, or the label removal had to be queued (kubelet is stopped and will
    /// not stop it), `docker stop` it with `grace_secs`.
    AwaitExit {
        /// The kube container.
        id: ContainerId,
        /// Bound of the wait.
        timeout_secs: u32,
        /// Grace of the fallback `docker stop`.
        grace_secs: u32,
    },
    /// Write STATE_DB fields in one HSET (compare-and-set when guarded).
    Write(StateWrite),
    /// `systemctl reset-failed <feature>`, only for a unit that is failed or that this system
    /// reset already ([`FeatureRecord::start_requested_ts`]): clears the failed state and
    /// systemd's start rate limit counter, so that the start that follows is not refused.
    SystemctlResetFailed,
    /// If the unit is still active (`systemctl is-active`), `systemctl reset-failed
    /// <feature>` to clear its start rate limit counter, so that the try-restart that follows
    /// is not refused by `StartLimitBurst`; a unit that is not active is left alone (a failed
    /// one stays failed, so that a new look still sees it wanted).
    SystemctlResetStartLimit,
    /// `systemctl try-restart <feature>`: one systemd job that restarts the unit (ExecStop,
    /// then ExecStartPre: `container stop`, then `container start`) only if it is active when
    /// systemd runs the job; an operator's stop that came first wins.
    SystemctlTryRestart,
    /// `systemctl start <feature>`, only ever for a unit that is wanted (failed, or reset by
    /// this system: see [`FeatureRecord::start_requested_ts`]).
    SystemctlStart,
    /// Answer the kube container that asked.
    Answer(KubeAnswer),
}

/// Why a step did what it did: the row of DESIGN.md §4 that applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // each variant's text() is its documentation
pub enum Reason {
    StartLocal,
    StartKubeFallbackLocal,
    StartKubeApproved,
    StartLocalAgain,
    StartApprovesPending,
    StartLocalDropsPending,
    StartKubeAfterStopped,
    StartLocalAfterStopped,
    StartAlreadyUnderWay,
    StopLocal,
    StopLocalKeepsPendingApproval,
    StopLocalToKubeOwnerLocal,
    StopPendingKeepsApproval,
    StopPendingOwnerLocal,
    StopReady,
    StopKubeRunning,
    StopKubeStoppedKeepsLabel,
    StopKubeStoppedOwnerLocal,
    StopNothingRuns,
    KillLocal,
    KillLocalKeepsPendingApproval,
    KillLocalToKubeOwnerLocal,
    KillKubeRunning,
    KillAsStop,
    LocalUpRecorded,
    LocalUpIdRecorded,
    LocalUpWhilePending,
    LocalUpRefusedWhileKube,
    KubeUpParkedOwnerLocal,
    KubeUpProceeds,
    KubeUpRequestsApproval,
    KubeUpInterruptsLocal,
    KubeUpWaits,
    KubeUpAlreadyRunning,
    KubeUpWaitsForOldContainer,
    DownLocal,
    DownLocalPending,
    DownKube,
    DownKubeOwnerLocal,
    DownNotOwner,
    StartFallsBackAfterDeadline,
    ApproveRestartsUnit,
    ApproveStartsFailedUnit,
    ApproveFinishesRequestedStart,
    ApproveDeferredUnitStopped,
    ApproveRequestDone,
    ApproveNothingPending,
    FailureRestartsUnit,
    FailureStartsFailedUnit,
    FailureFinishesRequestedStart,
    FailureUnitStopped,
    FailureNotDue,
    FailureNotApplicable,
}

impl Reason {
    /// The row in words, as logged and as written in `docs/state-machine.md`.
    pub fn text(self) -> &'static str {
        use Reason::*;
        match self {
            StartLocal => "start the local image",
            StartKubeFallbackLocal => {
                "owner kube with fallback: add the label and run the local image until kube deploys"
            }
            StartKubeApproved => {
                "owner kube without fallback: stop an unrecorded local container, pre-approve (kube_ready) and add the label"
            }
            StartLocalAgain => {
                "already local: docker start is a no-op on a running container; ensure the label when owner is kube"
            }
            StartApprovesPending => {
                "a kube container waits: approve it in place (kube_ready) and add the label"
            }
            StartLocalDropsPending => {
                "owner local: drop the pending kube request and start the local image"
            }
            StartKubeAfterStopped => {
                "the kube container exited: approve the next deployment and add the label"
            }
            StartLocalAfterStopped => {
                "owner local after a kube container: clear the mode and start the local image"
            }
            StartAlreadyUnderWay => {
                "already started: idempotent; ensure the label when owner is kube"
            }
            StopLocal => "stop the local container (remove the label when owner is kube)",
            StopLocalKeepsPendingApproval => {
                "an approval is under way: stop the local container, keep the label"
            }
            StopLocalToKubeOwnerLocal => {
                "owner local: remove the label, stop the local container, clear the mode"
            }
            StopPendingKeepsApproval => "an approval is under way: nothing to stop, keep the label",
            StopPendingOwnerLocal => "owner local: remove the label and clear the pending request",
            StopReady => "not deployed yet: remove the label and clear the mode",
            StopKubeRunning => {
                "remove the label, wait (bounded) for kubelet to stop the container, else docker stop it; record the exit"
            }
            StopKubeStoppedKeepsLabel => {
                "the kube container already exited: keep the label so that its replacement is not undeployed"
            }
            StopKubeStoppedOwnerLocal => "owner local: remove the label and clear the mode",
            StopNothingRuns => {
                "nothing is recorded: docker stop the local container by name in case a cancelled start left it running"
            }
            KillLocal => {
                "kill the local container and record the exit (remove the label when owner is kube)"
            }
            KillLocalKeepsPendingApproval => {
                "an approval is under way: kill the local container, keep the label"
            }
            KillLocalToKubeOwnerLocal => {
                "owner local: remove the label, kill the local container, clear the mode"
            }
            KillKubeRunning => {
                "remove the label, kill the kube container and record the exit at once"
            }
            KillAsStop => "no container runs: as Stop",
            LocalUpRecorded => "record the local container as owner",
            LocalUpIdRecorded => "record the local container's id",
            LocalUpWhilePending => {
                "a local container came up while a kube container waits: record it"
            }
            LocalUpRefusedWhileKube => {
                "kube owns or is about to own the feature: stop that local container (never two owners)"
            }
            KubeUpParkedOwnerLocal => {
                "owner local: the kube container must never run the feature (parked)"
            }
            KubeUpProceeds => "approved: the kube container claims the feature",
            KubeUpRequestsApproval => {
                "a kube container asks to run: request approval (kube_pending)"
            }
            KubeUpInterruptsLocal => {
                "a kube container asks to replace the local one: request approval (kube_pending)"
            }
            KubeUpWaits => "an approval is already under way: wait",
            KubeUpAlreadyRunning => "this container already owns the feature",
            KubeUpWaitsForOldContainer => {
                "another kube container still owns the feature: wait until it exits"
            }
            DownLocal => "the local container exited",
            DownLocalPending => "the local container exited while a kube container waits",
            DownKube => "the kube container exited",
            DownKubeOwnerLocal => "the kube container exited and owner is local: back to INIT",
            DownNotOwner => "not the recorded container: nothing changes",
            StartFallsBackAfterDeadline => {
                "owner kube with fallback: kube did not run the feature for N minutes: clear the mode, keep the label, run the local image"
            }
            ApproveRestartsUnit => {
                "approve: reset the start limit of the active unit, one try-restart job (its Start from KUBE_PENDING sets kube_ready); an operator's stop that comes first wins"
            }
            ApproveStartsFailedUnit => {
                "approve a failed unit: mark start_requested_ts, reset-failed, start (its Start approves)"
            }
            ApproveFinishesRequestedStart => {
                "this system reset the unit to start it and did not finish: reset-failed, start"
            }
            ApproveDeferredUnitStopped => {
                "the unit is stopped (by the operator, or not started yet): never start it; its next Start approves"
            }
            ApproveRequestDone => {
                "the unit is active: the start this system requested happened; clear start_requested_ts"
            }
            ApproveNothingPending => "no kube container waits for approval",
            FailureRestartsUnit => {
                "kube did not run the feature for N minutes: reset the start limit of the active unit, one try-restart job; its Start falls back to the local image"
            }
            FailureStartsFailedUnit => {
                "kube did not run the feature for N minutes and the unit failed: mark start_requested_ts, reset-failed, start; the Start falls back"
            }
            FailureFinishesRequestedStart => {
                "kube did not run the feature for N minutes; this system reset the unit to start it: reset-failed, start"
            }
            FailureUnitStopped => {
                "the operator stopped the unit: no fallback until it is started again (that Start falls back)"
            }
            FailureNotDue => "the failure deadline has not passed",
            FailureNotApplicable => {
                "failure detection does not apply in this state or configuration"
            }
        }
    }
}

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

fn step_to(next: State, effects: Vec<Effect>, reason: Reason) -> Step {
    Step {
        next,
        effects,
        reason,
    }
}

/// The container a local Stop/Kill acts on: the recorded id, else the feature's name.
fn local_target(rec: &FeatureRecord) -> Target {
    rec.docker_id
        .clone()
        .map_or(Target::LocalByName, Target::Id)
}

fn write_owner(owner: CurrentOwner, docker_id: Option<ContainerId>, now: Timestamp) -> Effect {
    Effect::Write(StateWrite {
        guard: None,
        owner: Some(OwnerWrite { owner, docker_id }),
        mode: None,
        start_requested: None,
        now,
    })
}

/// `docker stop` of the local container by name, before a Start hands the feature over to
/// kube: a `container start` killed between its docker start and its record leaves that
/// container running unrecorded (docs/decisions.md, crash-1); a no-op when it does not run.
fn stop_local_by_name() -> Effect {
    Effect::DockerStop {
        target: Target::LocalByName,
        grace_secs: StopOptions::default().grace_secs,
    }
}

fn write_mode(guard: TransitionMode, mode: TransitionMode, now: Timestamp) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: None,
        mode: Some(mode),
        start_requested: None,
        now,
    })
}

/// Sets (`true`, guarded on the mode a daemon decided on) or clears (`false`, unguarded)
/// `start_requested_ts`.
fn write_start_requested(guard: Option<TransitionMode>, requested: bool, now: Timestamp) -> Effect {
    Effect::Write(StateWrite {
        guard,
        owner: None,
        mode: None,
        start_requested: Some(requested),
        now,
    })
}

fn write_both(
    guard: TransitionMode,
    owner: CurrentOwner,
    docker_id: Option<ContainerId>,
    mode: TransitionMode,
    now: Timestamp,
) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: Some(OwnerWrite { owner, docker_id }),
        mode: Some(mode),
        start_requested: None,
        now,
    })
}

/// One transition of DESIGN.md §4. Pure, total and deterministic.
///
/// A record that is none of the seven canonical pairs is read as the nearest state
/// ([`FeatureRecord::classify`]); a step from it that writes the record also writes the
/// canonical mode of the state it goes to (guarded on the mode it saw), so that the record is
/// canonical again. Without that, `local`/`kube_ready` read as LOCAL and stopped would leave
/// `none`/`kube_ready` — an approval that no Start gave.
pub fn step(rec: &FeatureRecord, cfg: &FeatureConfig, input: Input, now: Timestamp) -> Step {
    step_repairing(rec, &[], cfg, input, now)
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
    step_repairing(&decoded.record, &fields, cfg, input, now)
}

fn step_repairing(
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

/// The state a Start leads to from `rec` (for the `next` of a step whose effect starts the
/// unit).
fn after_start(rec: &FeatureRecord, cfg: &FeatureConfig, now: Timestamp) -> State {
    step_by_table(rec, cfg, Input::Start, now).next
}

/// The state a restart (the unit's Stop, then its Start) leads to from `rec`.
fn after_restart(rec: &FeatureRecord, cfg: &FeatureConfig, now: Timestamp) -> State {
    let stop = step_by_table(rec, cfg, Input::Stop(StopOptions::default()), now);
    let mut stopped = rec.clone();
    apply_writes(&mut stopped, &stop.effects);
    after_start(&stopped, cfg, now)
}

/// The rows of DESIGN.md §4, on the state the record reads as.
fn step_by_table(rec: &FeatureRecord, cfg: &FeatureConfig, input: Input, now: Timestamp) -> Step {
    use Effect as E;
    use Reason as R;
    use State as S;
    use TransitionMode as M;

    let state = rec.state();
    let kube = cfg.set_owner == Owner::Kube;
    let mode = rec.transition_mode;
    let label_if_kube = || if kube { vec![E::LabelAdd] } else { vec![] };
    // This system reset the unit to start it (start_requested_ts), and has not seen the Start.
    let requested = rec.start_requested_ts.is_some();
    // kube-monit's deadline has passed: a Start from KUBE_READY or KUBE_STOPPED falls back.
    let fallback_due = next_deadline(rec, cfg).is_some_and(|d| now >= d);

    match (state, input) {
        // ---- Start ---------------------------------------------------------------------
        // INIT | Start | owner=local → LOCAL: docker start local; record owner local + id
        (S::Init, Input::Start) if !kube => step_to(S::Local, vec![E::DockerStart], R::StartLocal),
        // INIT | Start | owner=kube, fb → LOCAL: label add; docker start local; record
        (S::Init, Input::Start) if cfg.fallback_to_local => step_to(
            S::Local,
            vec![E::LabelAdd, E::DockerStart],
            R::StartKubeFallbackLocal,
        ),
        // INIT | Start | owner=kube, !fb → KUBE_READY: docker stop the local container by
        // name (a `container start` killed between its docker start and its record left it
        // running unrecorded, and a failed unit is started again without its ExecStop: the
        // kube container about to be approved must not run beside it; a no-op otherwise);
        // mode kube_ready; label add
        (S::Init, Input::Start) => step_to(
            S::KubeReady,
            vec![
                stop_local_by_name(),
                write_mode(mode, M::KubeReady, now),
                E::LabelAdd,
            ],
            R::StartKubeApproved,
        ),
        // LOCAL | Start | — → LOCAL: idempotent (ensure label when owner=kube)
        (S::Local, Input::Start) => {
            let mut effects = label_if_kube();
            effects.push(E::DockerStart);
            step_to(S::Local, effects, R::StartLocalAgain)
        }
        // KUBE_READY, KUBE_STOPPED | Start | owner=kube, fb, N>0, deadline passed → LOCAL:
        // mode none; label add (kept: kube may still deploy and ask); docker start local.
        // kube-monit's fallback is a bare restart of the unit, and this Start decides it, so
        // that a kube-monit crash cannot leave the feature down with no deadline.
        (S::KubeReady | S::KubeStopped, Input::Start) if fallback_due => step_to(
            S::Local,
            vec![write_mode(mode, M::None, now), E::LabelAdd, E::DockerStart],
            R::StartFallsBackAfterDeadline,
        ),
        // KUBE_PENDING | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        // (and, as INIT | Start, first docker stop the local container by name: a `container
        // start` killed after its docker start leaves KUBE_PENDING's pod beside it; crash-1)
        (S::KubePending, Input::Start) if kube => step_to(
            S::KubeReady,
            vec![
                stop_local_by_name(),
                write_mode(mode, M::KubeReady, now),
                E::LabelAdd,
            ],
            R::StartApprovesPending,
        ),
        // KUBE_PENDING | Start | owner=local → LOCAL: label remove; mode none; docker start
        (S::KubePending, Input::Start) => step_to(
            S::Local,
            vec![
                E::LabelRemove,
                write_mode(mode, M::None, now),
                E::DockerStart,
            ],
            R::StartLocalDropsPending,
        ),
        // KUBE_STOPPED | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        // (first docker stop the local container by name, as above)
        (S::KubeStopped, Input::Start) if kube => step_to(
            S::KubeReady,
            vec![
                stop_local_by_name(),
                write_mode(mode, M::KubeReady, now),
                E::LabelAdd,
            ],
            R::StartKubeAfterStopped,
        ),
        // KUBE_STOPPED | Start | owner=local → LOCAL: mode none; docker start local
        (S::KubeStopped, Input::Start) => step_to(
            S::Local,
            vec![write_mode(mode, M::None, now), E::DockerStart],
            R::StartLocalAfterStopped,
        ),
        // KUBE_READY, KUBE_RUNNING, LOCAL_TO_KUBE | Start | — → same: idempotent
        (s @ (S::KubeReady | S::KubeRunning | S::LocalToKube), Input::Start) => {
            step_to(s, label_if_kube(), R::StartAlreadyUnderWay)
        }

        // ---- Stop ----------------------------------------------------------------------
        // INIT | Stop | — → INIT: docker stop the local container by name (a `container
        // start` cancelled between its docker start and its record leaves it running
        // unrecorded; stopping a stopped or missing container is a no-op)
        (S::Init, Input::Stop(o)) => step_to(
            S::Init,
            vec![E::DockerStop {
                target: Target::LocalByName,
                grace_secs: o.grace_secs,
            }],
            R::StopNothingRuns,
        ),
        // LOCAL | Stop | — → INIT: label remove if owner=kube; docker stop id; owner none
        (S::Local, Input::Stop(o)) => {
            let mut effects = if kube { vec![E::LabelRemove] } else { vec![] };
            effects.push(E::DockerStop {
                target: local_target(rec),
                grace_secs: o.grace_secs,
            });
            effects.push(write_owner(CurrentOwner::None, None, now));
            step_to(S::Init, effects, R::StopLocal)
        }
        // LOCAL_TO_KUBE | Stop | owner=kube → KUBE_PENDING: docker stop local; label kept
        (S::LocalToKube, Input::Stop(o)) if kube => step_to(
            S::KubePending,
            vec![
                E::DockerStop {
                    target: local_target(rec),
                    grace_secs: o.grace_secs,
                },
                write_owner(CurrentOwner::None, None, now),
            ],
            R::StopLocalKeepsPendingApproval,
        ),
        // LOCAL_TO_KUBE | Stop | owner=local → INIT: label remove; docker stop; mode none
        (S::LocalToKube, Input::Stop(o)) => step_to(
            S::Init,
            vec![
                E::LabelRemove,
                E::DockerStop {
                    target: local_target(rec),
                    grace_secs: o.grace_secs,
                },
                write_both(mode, CurrentOwner::None, None, M::None, now),
            ],
            R::StopLocalToKubeOwnerLocal,
        ),
        // KUBE_PENDING | Stop | owner=kube → KUBE_PENDING: nothing (label kept)
        (S::KubePending, Input::Stop(_)) if kube => {
            step_to(S::KubePending, vec![], R::StopPendingKeepsApproval)
        }
        // KUBE_PENDING | Stop | owner=local → INIT: label remove; mode none
        (S::KubePending, Input::Stop(_)) => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopPendingOwnerLocal,
        ),
        // KUBE_READY | Stop | — → INIT: label remove; mode none
        (S::KubeReady, Input::Stop(_)) => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopReady,
        ),
        // KUBE_RUNNING | Stop | — → KUBE_STOPPED (INIT if owner=local): label remove;
        // bounded wait, else docker stop; record Down
        (S::KubeRunning, Input::Stop(o)) => {
            let (next, to_mode) = if kube {
                (S::KubeStopped, M::KubeStopped)
            } else {
                (S::Init, M::None)
            };
            let mut effects = vec![E::LabelRemove];
            if let Some(id) = rec.docker_id.clone() {
                effects.push(E::AwaitExit {
                    id,
                    timeout_secs: o.kube_exit_wait_secs,
                    grace_secs: o.grace_secs,
                });
            }
            effects.push(write_both(mode, CurrentOwner::None, None, to_mode, now));
            step_to(next, effects, R::StopKubeRunning)
        }
        // KUBE_STOPPED | Stop | owner=kube → KUBE_STOPPED: nothing (label kept)
        (S::KubeStopped, Input::Stop(_)) if kube => {
            step_to(S::KubeStopped, vec![], R::StopKubeStoppedKeepsLabel)
        }
        // KUBE_STOPPED | Stop | owner=local → INIT: label remove; mode none
        (S::KubeStopped, Input::Stop(_)) => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopKubeStoppedOwnerLocal,
        ),

        // ---- Kill: as Stop, with docker kill, Down recorded at once --------------------
        // any running | Kill | — → as Stop (LOCAL)
        (S::Local, Input::Kill) => {
            let mut effects = if kube { vec![E::LabelRemove] } else { vec![] };
            effects.push(E::DockerKill {
                target: local_target(rec),
            });
            effects.push(write_owner(CurrentOwner::None, None, now));
            step_to(S::Init, effects, R::KillLocal)
        }
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=kube)
        (S::LocalToKube, Input::Kill) if kube => step_to(
            S::KubePending,
            vec![
                E::DockerKill {
                    target: local_target(rec),
                },
                write_owner(CurrentOwner::None, None, now),
            ],
            R::KillLocalKeepsPendingApproval,
        ),
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=local)
        (S::LocalToKube, Input::Kill) => step_to(
            S::Init,
            vec![
                E::LabelRemove,
                E::DockerKill {
                    target: local_target(rec),
                },
                write_both(mode, CurrentOwner::None, None, M::None, now),
            ],
            R::KillLocalToKubeOwnerLocal,
        ),
        // any running | Kill | — → as Stop (KUBE_RUNNING), docker kill, Down at once
        (S::KubeRunning, Input::Kill) => {
            let (next, to_mode) = if kube {
                (S::KubeStopped, M::KubeStopped)
            } else {
                (S::Init, M::None)
            };
            let mut effects = vec![E::LabelRemove];
            if let Some(id) = rec.docker_id.clone() {
                effects.push(E::DockerKill {
                    target: Target::Id(id),
                });
            }
            effects.push(write_both(mode, CurrentOwner::None, None, to_mode, now));
            step_to(next, effects, R::KillKubeRunning)
        }
        // INIT, KUBE_PENDING, KUBE_READY, KUBE_STOPPED | Kill | — → as Stop: nothing runs
        (S::Init | S::KubePending | S::KubeReady | S::KubeStopped, Input::Kill) => {
            let s = step(rec, cfg, Input::Stop(StopOptions::default()), now);
            Step {
                reason: R::KillAsStop,
                ..s
            }
        }

        // ---- LocalUp -------------------------------------------------------------------
        // INIT, LOCAL | LocalUp(id) | current_owner ≠ kube → LOCAL: record owner local + id
        (S::Init | S::Local, Input::LocalUp(id)) => {
            let effects = if state == S::Local && rec.docker_id.as_ref() == Some(&id) {
                vec![]
            } else {
                vec![write_owner(CurrentOwner::Local, Some(id), now)]
            };
            step_to(S::Local, effects, R::LocalUpRecorded)
        }
        // LOCAL_TO_KUBE | LocalUp(id) | — → LOCAL_TO_KUBE: record id
        (S::LocalToKube, Input::LocalUp(id)) => {
            let effects = if rec.docker_id.as_ref() == Some(&id) {
                vec![]
            } else {
                vec![write_owner(CurrentOwner::Local, Some(id), now)]
            };
            step_to(S::LocalToKube, effects, R::LocalUpIdRecorded)
        }
        // KUBE_PENDING | LocalUp(id) | — → LOCAL_TO_KUBE: record owner local + id
        (S::KubePending, Input::LocalUp(id)) => step_to(
            S::LocalToKube,
            vec![write_owner(CurrentOwner::Local, Some(id), now)],
            R::LocalUpWhilePending,
        ),
        // KUBE_READY, KUBE_RUNNING, KUBE_STOPPED | LocalUp(id) | — → same: refuse
        (s @ (S::KubeReady | S::KubeRunning | S::KubeStopped), Input::LocalUp(id)) => step_to(
            s,
            vec![E::DockerStop {
                target: Target::Id(id),
                grace_secs: StopOptions::default().grace_secs,
            }],
            R::LocalUpRefusedWhileKube,
        ),

        // ---- KubeUp --------------------------------------------------------------------
        // any | KubeUp(id) | owner=local → same: parked
        (s, Input::KubeUp(_)) if !kube => step_to(
            s,
            vec![E::Answer(KubeAnswer::Park)],
            R::KubeUpParkedOwnerLocal,
        ),
        // KUBE_READY | KubeUp(id) | owner=kube → KUBE_RUNNING: record owner kube + id; proceed
        (S::KubeReady, Input::KubeUp(id)) => step_to(
            S::KubeRunning,
            vec![
                write_both(mode, CurrentOwner::Kube, Some(id), M::KubeRunning, now),
                E::Answer(KubeAnswer::Proceed),
            ],
            R::KubeUpProceeds,
        ),
        // INIT, KUBE_STOPPED | KubeUp(id) | owner=kube → KUBE_PENDING: mode kube_pending; wait
        (S::Init | S::KubeStopped, Input::KubeUp(_)) => step_to(
            S::KubePending,
            vec![
                write_mode(mode, M::KubePending, now),
                E::Answer(KubeAnswer::Wait),
            ],
            R::KubeUpRequestsApproval,
        ),
        // LOCAL | KubeUp(id) | owner=kube → LOCAL_TO_KUBE: mode kube_pending; wait
        (S::Local, Input::KubeUp(_)) => step_to(
            S::LocalToKube,
            vec![
                write_mode(mode, M::KubePending, now),
                E::Answer(KubeAnswer::Wait),
            ],
            R::KubeUpInterruptsLocal,
        ),
        // LOCAL_TO_KUBE, KUBE_PENDING | KubeUp(id) | owner=kube → same: wait
        (s @ (S::LocalToKube | S::KubePending), Input::KubeUp(_)) => {
            step_to(s, vec![E::Answer(KubeAnswer::Wait)], R::KubeUpWaits)
        }
        // KUBE_RUNNING | KubeUp(id) | the recorded container asks again → proceed
        (S::KubeRunning, Input::KubeUp(id)) if rec.docker_id.as_ref() == Some(&id) => step_to(
            S::KubeRunning,
            vec![E::Answer(KubeAnswer::Proceed)],
            R::KubeUpAlreadyRunning,
        ),
        // KUBE_RUNNING | KubeUp(id) | the recorded container still runs (the caller checked) → wait
        (S::KubeRunning, Input::KubeUp(_)) => step_to(
            S::KubeRunning,
            vec![E::Answer(KubeAnswer::Wait)],
            R::KubeUpWaitsForOldContainer,
        ),

        // ---- Down ----------------------------------------------------------------------
        // any | Down(id) | id ≠ docker_id → same: nothing
        (s, Input::Down(id)) if rec.docker_id.as_ref() != Some(&id) => {
            step_to(s, vec![], R::DownNotOwner)
        }
        // LOCAL | Down(id) | id = docker_id → INIT: record owner none
        (S::Local, Input::Down(_)) => step_to(
            S::Init,
            vec![write_owner(CurrentOwner::None, None, now)],
            R::DownLocal,
        ),
        // LOCAL_TO_KUBE | Down(id) | id = docker_id → KUBE_PENDING: record owner none
        (S::LocalToKube, Input::Down(_)) => step_to(
            S::KubePending,
            vec![write_owner(CurrentOwner::None, None, now)],
            R::DownLocalPending,
        ),
        // KUBE_RUNNING | Down(id) | id = docker_id → KUBE_STOPPED: owner none, mode kube_stopped
        (S::KubeRunning, Input::Down(_)) if kube => step_to(
            S::KubeStopped,
            vec![write_both(
                mode,
                CurrentOwner::None,
                None,
                M::KubeStopped,
                now,
            )],
            R::DownKube,
        ),
        // KUBE_RUNNING | Down(id) | id = docker_id, owner=local → INIT: owner none, mode none
        (S::KubeRunning, Input::Down(_)) => step_to(
            S::Init,
            vec![write_both(mode, CurrentOwner::None, None, M::None, now)],
            R::DownKubeOwnerLocal,
        ),

        // ---- Approve (hostcfgd-watcher) -----------------------------------------------
        // Deviation from DESIGN §4 (docs/decisions.md b, k): the unit's state in systemd is
        // the record of what the operator wants, and hostcfgd writes no approval of its own.
        // An active unit gets one `systemctl try-restart` job, which systemd runs only if the
        // unit is still active then (an operator's stop that came first wins), and whose Start
        // from KUBE_PENDING approves in place (kube_ready) or, with owner local, runs the local
        // image. A failed unit is still wanted (systemd gave up on it, e.g. StartLimitBurst):
        // marked, reset (which also clears the start limit counter), started. An inactive unit
        // was stopped by the operator (or not started yet): never started. Before the
        // try-restart, the start limit counter of the unit is reset only if it is still active
        // (SystemctlResetStartLimit): so that this system's restarts never trip
        // StartLimitBurst (a refused start after the restart's Stop went to INIT would leave
        // the feature down with nothing pending), while a unit that failed since the daemon
        // looked stays failed — a plain reset-failed would make it inactive, the try-restart
        // would do nothing, and a new look could not tell that from an operator's stop (both
        // found by the model checker). A try-restart that did nothing leaves the row pending,
        // and the daemon looks again (contract: a changed activity is fed again).
        (S::LocalToKube | S::KubePending, Input::Approve { unit }) => match (unit, requested) {
            (UnitActivity::Active, _) => step_to(
                after_restart(rec, cfg, now),
                vec![E::SystemctlResetStartLimit, E::SystemctlTryRestart],
                R::ApproveRestartsUnit,
            ),
            (UnitActivity::Failed, false) => step_to(
                after_start(rec, cfg, now),
                vec![
                    write_start_requested(Some(mode), true, now),
                    E::SystemctlResetFailed,
                    E::SystemctlStart,
                ],
                R::ApproveStartsFailedUnit,
            ),
            (_, true) => step_to(
                after_start(rec, cfg, now),
                vec![E::SystemctlResetFailed, E::SystemctlStart],
                R::ApproveFinishesRequestedStart,
            ),
            (UnitActivity::Inactive, false) => {
                step_to(state, vec![], R::ApproveDeferredUnitStopped)
            }
        },
        // any | Approve | start_requested_ts set: finish the start this system began
        (s, Input::Approve { unit }) if requested => match unit {
            UnitActivity::Active => step_to(
                s,
                vec![write_start_requested(None, false, now)],
                R::ApproveRequestDone,
            ),
            UnitActivity::Inactive | UnitActivity::Failed => step_to(
                after_start(rec, cfg, now),
                vec![E::SystemctlResetFailed, E::SystemctlStart],
                R::ApproveFinishesRequestedStart,
            ),
        },

        // ---- FailureTimeout (kube-monit) -----------------------------------------------
        // KUBE_READY, KUBE_STOPPED | FailureTimeout | owner=kube, fb, N>0, deadline passed:
        // a bare restart of a wanted unit; its Start falls back (StartFallsBackAfterDeadline).
        (s @ (S::KubeReady | S::KubeStopped), Input::FailureTimeout { unit })
            if cfg.failure_detection_armed() =>
        {
            if !fallback_due {
                return step_to(s, vec![], R::FailureNotDue);
            }
            match (unit, requested) {
                (UnitActivity::Active, _) => step_to(
                    after_restart(rec, cfg, now),
                    vec![E::SystemctlResetStartLimit, E::SystemctlTryRestart],
                    R::FailureRestartsUnit,
                ),
                (UnitActivity::Failed, false) => step_to(
                    after_start(rec, cfg, now),
                    vec![
                        write_start_requested(Some(mode), true, now),
                        E::SystemctlResetFailed,
                        E::SystemctlStart,
                    ],
                    R::FailureStartsFailedUnit,
                ),
                (_, true) => step_to(
                    after_start(rec, cfg, now),
                    vec![E::SystemctlResetFailed, E::SystemctlStart],
                    R::FailureFinishesRequestedStart,
                ),
                (UnitActivity::Inactive, false) => step_to(s, vec![], R::FailureUnitStopped),
            }
        }

        // ---- everything else: unchanged, with a reason ---------------------------------
        (s, Input::Approve { .. }) => step_to(s, vec![], R::ApproveNothingPending),
        (s, Input::FailureTimeout { .. }) => step_to(s, vec![], R::FailureNotApplicable),
        (s, Input::Down(_)) => step_to(s, vec![], R::DownNotOwner),
    }
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
            rec.transition_mode_update_ts.unwrap_or(0).saturating_add(
                u64::from(cfg.kube_failure_detection_mins)
                    .saturating_mul(u64::from(cfg.minute_secs)),
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

/// Exponential backoff for retries against the master or Redis: 250 ms doubling to 30 s.
pub fn backoff_ms(attempt: u32) -> u64 {
    250u64.saturating_mul(1u64 << attempt.min(7)).min(30_000)
}
