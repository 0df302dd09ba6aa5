//! The DESIGN.md §4 transition table, as rows of data stepped by one runner.
//!
//! A [`Row`] starts from a record and a config and holds one or more [`Stage`]s: the input,
//! the next state, the exact effects in order and the reason, and what the record must hold
//! once the step's writes are applied as the DB would apply them (owner, id, mode, and which
//! timestamps were rewritten to `NOW` or kept at `EARLIER`). Rows whose effects feed an input
//! back (docker start → LocalUp, systemctl → Stop/Start) carry that follow-up as a further
//! stage, so that the table's "record owner local + id" is checked end to end.
//!
//! [`run`] steps every row and reports every failing row by name, not just the first. Rows
//! that need checks of another shape (deadlines, decoding, totality) keep a small named test.

mod daemons;
mod rules;
mod start_stop;
mod ups;

use ctrmgr_core::{
    CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, Owner, OwnerWrite, Reason, State,
    StateWrite, Step, StopOptions, Target, Timestamp, TransitionMode, apply_writes,
    approval_pending, step,
};

use crate::{EARLIER, NOW, cid};

use CurrentOwner as O;

/// Stop options that differ from the defaults, so that a row sees they are passed through.
pub const OPTS: StopOptions = StopOptions {
    grace_secs: 7,
    kube_exit_wait_secs: 13,
};

/// The id of the local container in these rows.
pub const LOCAL_ID: &str = "local0123";
/// The id of the kube container that owns the feature in these rows.
pub const KUBE_ID: &str = "kube4567";
/// The id of another container.
pub const OTHER_ID: &str = "other89ab";

/// What the record must hold after a stage.
#[derive(Debug, Clone)]
pub enum After {
    /// Not checked.
    Unchecked,
    /// Exactly the record the stage started from: no field and no timestamp was written.
    Unchanged,
    /// Exactly this record.
    Is(FeatureRecord),
}

/// One step of a row and everything expected of it.
#[derive(Debug, Clone)]
pub struct Stage {
    input: Input,
    now: Timestamp,
    want: Step,
    after: After,
    pending: Option<bool>,
}

/// A named row: the record and config it starts from, and its stages in order.
#[derive(Debug, Clone)]
pub struct Row {
    name: String,
    from: FeatureRecord,
    cfg: FeatureConfig,
    stages: Vec<Stage>,
}

/// A row named `name` starting from `from` under `cfg`, with no stage yet.
pub fn row(name: impl Into<String>, from: FeatureRecord, cfg: &FeatureConfig) -> Row {
    Row {
        name: name.into(),
        from,
        cfg: cfg.clone(),
        stages: Vec::new(),
    }
}

impl Row {
    /// Adds a stage: `input` at `NOW` must give `next`, exactly `effects`, and `reason`.
    pub fn step(mut self, input: Input, next: State, effects: Vec<Effect>, reason: Reason) -> Self {
        self.stages.push(Stage {
            input,
            now: NOW,
            want: Step {
                next,
                effects,
                reason,
            },
            after: After::Unchecked,
            pending: None,
        });
        self
    }

    fn last(&mut self) -> &mut Stage {
        self.stages.last_mut().expect("a row check follows a stage")
    }

    /// The last stage is taken at `now` instead of `NOW`.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.last().now = now;
        self
    }

    /// The last stage writes nothing.
    pub fn unchanged(mut self) -> Self {
        self.last().after = After::Unchanged;
        self
    }

    /// The last stage leaves exactly `rec`.
    pub fn leaves(mut self, rec: FeatureRecord) -> Self {
        self.last().after = After::Is(rec);
        self
    }

    /// After the last stage, [`approval_pending`] is `pending`.
    pub fn pending(mut self, pending: bool) -> Self {
        self.last().pending = Some(pending);
        self
    }
}

/// Steps one row; the first thing that differs, as one line.
fn run_row(row: &Row) -> Result<usize, String> {
    let mut rec = row.from.clone();
    for (i, stage) in row.stages.iter().enumerate() {
        let at = format!("stage {i} ({:?} from {})", stage.input, rec.state());
        let got = step(&rec, &row.cfg, stage.input.clone(), stage.now);
        if got != stage.want {
            return Err(format!("{at}: want {:?}, got {got:?}", stage.want));
        }
        let mut after = rec.clone();
        apply_writes(&mut after, &got.effects);
        let want = match &stage.after {
            After::Unchecked => None,
            After::Unchanged => Some(&rec),
            After::Is(r) => Some(r),
        };
        if let Some(want) = want.filter(|w| **w != after) {
            return Err(format!("{at}: record want {want:?}, got {after:?}"));
        }
        if let Some(p) = stage.pending.filter(|p| *p != approval_pending(&after)) {
            return Err(format!("{at}: approval_pending want {p}, got {}", !p));
        }
        rec = after;
    }
    Ok(row.stages.len())
}

/// Steps every row, and panics listing every failing row by name. `rows` and `stages` are the
/// number of rows and of stages the group must hold, so that a row cannot silently go missing.
fn run(group: &str, rows: &[Row], want_rows: usize, want_stages: usize) {
    let mut failures = Vec::new();
    let mut stages = 0;
    for row in rows {
        match run_row(row) {
            Ok(n) => stages += n,
            Err(e) => failures.push(format!("{}: {e}", row.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{group}: {} of {} rows fail:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    assert_eq!(
        (rows.len(), stages),
        (want_rows, want_stages),
        "{group}: (rows, stages)"
    );
}

#[test]
fn start_stop_and_kill_rows() {
    run("start/stop/kill", &start_stop::rows(), 40, 45);
}

#[test]
fn local_up_kube_up_and_down_rows() {
    run("localup/kubeup/down", &ups::rows(), 68, 69);
}

#[test]
fn approve_and_failure_timeout_rows() {
    run("approve/failure", &daemons::rows(), 54, 64);
}

#[test]
fn the_runner_reports_every_failing_row_by_name() {
    let by_name = docker_stop_by_name(StopOptions::default().grace_secs);
    let good = row("good", rec_of(State::Init), &kube()).step(
        Input::Kill,
        State::Init,
        vec![by_name],
        Reason::KillAsStop,
    );
    let wrong_reason = row("wrong_reason", rec_of(State::Init), &kube()).step(
        Input::Kill,
        State::Init,
        vec![],
        Reason::StopNothingRuns,
    );
    let wrong_record = row("wrong_record", rec_of(State::KubePending), &kube())
        .step(
            Input::Stop(OPTS),
            State::KubePending,
            vec![],
            Reason::StopPendingKeepsApproval,
        )
        .leaves(rec_of(State::Init));
    let failed = std::panic::catch_unwind(|| {
        run("self-test", &[wrong_reason, good, wrong_record], 3, 3);
    });
    let message = failed.expect_err("two rows are wrong");
    let text = message
        .downcast_ref::<String>()
        .expect("the runner panics with a formatted message");
    assert!(text.contains("2 of 3 rows fail"), "{text}");
    assert!(text.contains("\nwrong_reason: stage 0"), "{text}");
    assert!(text.contains("\nwrong_record: stage 0"), "{text}");
    assert!(!text.contains("\ngood:"), "{text}");
}

// ---- building rows ----------------------------------------------------------------------------

/// A config with owner `owner` and `fallback`.
pub fn cfg(owner: Owner, fallback: bool) -> FeatureConfig {
    FeatureConfig::new(owner, fallback)
}

/// Owner local, no fallback.
pub fn local() -> FeatureConfig {
    cfg(Owner::Local, false)
}

/// Owner kube, no fallback.
pub fn kube() -> FeatureConfig {
    cfg(Owner::Kube, false)
}

/// Owner kube with fallback.
pub fn kube_fb() -> FeatureConfig {
    cfg(Owner::Kube, true)
}

/// Failure detection armed: owner kube, fallback, N minutes.
pub fn armed(n: u32) -> FeatureConfig {
    FeatureConfig {
        kube_failure_detection_mins: n,
        ..kube_fb()
    }
}

/// A short name of a config, for the names of rows generated over several configs.
pub fn cfg_name(c: &FeatureConfig) -> String {
    format!(
        "owner={} fb={} n={}",
        c.set_owner, c.fallback_to_local, c.kube_failure_detection_mins
    )
}

/// The canonical record of `state`, with `id` when the state has an owner, and both
/// timestamps at `EARLIER`.
pub fn rec(state: State, id: Option<&str>) -> FeatureRecord {
    let mut r = FeatureRecord::of_state(state, id.map(cid));
    r.current_owner_update_ts = Some(EARLIER);
    r.transition_mode_update_ts = Some(EARLIER);
    r
}

/// A record of `state` with the id the rows use for its owner.
pub fn rec_of(state: State) -> FeatureRecord {
    match state.pair().0 {
        O::Local => rec(state, Some(LOCAL_ID)),
        O::Kube => rec(state, Some(KUBE_ID)),
        O::None => rec(state, None),
    }
}

/// What a record must hold after a step: the fields, and whether each timestamp was rewritten.
pub fn expect(
    owner: CurrentOwner,
    id: Option<&str>,
    mode: TransitionMode,
    owner_written: bool,
    mode_written: bool,
) -> FeatureRecord {
    let ts = |written: bool| Some(if written { NOW } else { EARLIER });
    FeatureRecord {
        current_owner: owner,
        current_owner_update_ts: ts(owner_written),
        docker_id: id.map(cid),
        transition_mode: mode,
        transition_mode_update_ts: ts(mode_written),
        start_requested_ts: None,
    }
}

fn write(
    guard: Option<TransitionMode>,
    owner: Option<(CurrentOwner, Option<&str>)>,
    mode: Option<TransitionMode>,
    start_requested: Option<bool>,
) -> Effect {
    Effect::Write(StateWrite {
        guard,
        owner: owner.map(|(owner, id)| OwnerWrite {
            owner,
            docker_id: id.map(cid),
        }),
        mode,
        start_requested,
        now: NOW,
    })
}

/// An unguarded write of the owner and id.
pub fn owner_write(owner: CurrentOwner, id: Option<&str>) -> Effect {
    write(None, Some((owner, id)), None, None)
}

/// A write of the mode, guarded on `guard`.
/// A Start that hands the feature over to kube first stops a local container nobody recorded
/// (docs/decisions.md, crash-1).
pub fn stop_local_by_name() -> Effect {
    Effect::DockerStop {
        target: Target::LocalByName,
        grace_secs: StopOptions::default().grace_secs,
    }
}

pub fn mode_write(guard: TransitionMode, mode: TransitionMode) -> Effect {
    write(Some(guard), None, Some(mode), None)
}

/// A write of owner, id and mode, guarded on `guard`.
pub fn both_write(
    guard: TransitionMode,
    owner: CurrentOwner,
    id: Option<&str>,
    mode: TransitionMode,
) -> Effect {
    write(Some(guard), Some((owner, id)), Some(mode), None)
}

/// A write of `start_requested_ts` (set, guarded on `guard`; or cleared, unguarded).
pub fn requested_write(guard: Option<TransitionMode>, requested: bool) -> Effect {
    write(guard, None, None, Some(requested))
}

/// docker stop of container `id`.
pub fn docker_stop(id: &str, grace_secs: u32) -> Effect {
    Effect::DockerStop {
        target: Target::Id(cid(id)),
        grace_secs,
    }
}

/// docker stop of the local container by its name.
pub fn docker_stop_by_name(grace_secs: u32) -> Effect {
    Effect::DockerStop {
        target: Target::LocalByName,
        grace_secs,
    }
}

/// docker kill of container `id`.
pub fn docker_kill(id: &str) -> Effect {
    Effect::DockerKill {
        target: Target::Id(cid(id)),
    }
}

/// The wait for kube container `id` to exit, with the stop options of these rows.
pub fn await_exit(id: &str) -> Effect {
    Effect::AwaitExit {
        id: cid(id),
        timeout_secs: OPTS.kube_exit_wait_secs,
        grace_secs: OPTS.grace_secs,
    }
}
