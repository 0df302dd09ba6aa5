//! # ctrmgr-model
//!
//! A [stateright](https://docs.rs/stateright) model of one SONiC feature and the world around it
//! (DESIGN.md §4 and §9 "Core"), checked exhaustively by breadth-first search. Every decision in
//! the model is taken by the real [`ctrmgr_core::step`]; the model only plays the world that
//! carries out its effects and feeds it inputs.
//!
//! A tour:
//! - [`world`]: the state — the STATE_DB row, the configuration, the local container, the
//!   DaemonSet's pod and its container, the node label and the pending-label list, the master,
//!   the systemd unit with its `container wait` main process, hostcfgd-watcher, kube-monit, the
//!   operator, and the environment's budgets.
//! - [`model`]: [`FeatureWorld`], the [`stateright::Model`]: its [`Action`]s, how a driver
//!   executes effects one at a time (so that every multi-step plan can be interrupted), and the
//!   properties: invariants 1–4 of DESIGN.md §4 as `always`, liveness 5 as `eventually` and as
//!   `always` over end states, and a few `sometimes` reachability checks.
//! - [`check`], [`check_default`], [`check_seed_flow`]: run the checker and report
//!   ([`ModelReport`]), for the tests and for `cargo xtask codegen`.
//! - [`sim`]: not the model, but the one deterministic in-process simulator of the same world
//!   ([`sim::Sim`]), with real container ids and timestamps, driven by `ctrmgr-core`'s
//!   proptest world (random events) and by `cargo xtask demo --model` (scripted scenarios).
//!
//! ## What is modelled, and how
//!
//! - **`container` commands** (`start`, `stop`, `state up kube|local`, `state down`, the Down
//!   recorded by `wait`) hold the per-feature lock from their decision until they are done,
//!   except while they wait for a container to exit (`docker stop`, the bounded wait of a kube
//!   Stop): DESIGN.md §5. A container's graceful stop runs its pre-stop `container state down`,
//!   which takes the lock, so a graceful stop happens only when nobody holds it. Daemons and the
//!   operator take no lock: their writes are compare-and-set.
//! - **Compare-and-set**: a guarded write whose guard no longer matches re-reads and re-steps
//!   the same input, as the driver contract in `ctrmgr_core::machine` says.
//! - **systemd**: the unit is inactive, starting (`container start` runs as ExecStartPre),
//!   active (`container wait` is the main process), stopping (`container stop` runs as
//!   ExecStop), or waiting to restart (Restart=always after the main process exits by itself).
//!   Jobs are serialised: a `systemctl` call waits until no job runs, starts its job (a restart
//!   is one stop-then-start job) and returns when it is done.
//! - **Kubernetes**: the DaemonSet controller acts asynchronously on the label as the API
//!   server has it (creating a pod when present, deleting it when absent), in separate actions
//!   that interleave with everything else — so a label that flaps between two of its actions is
//!   never seen. kubelet starts a container in the pod (a new id each time, also after a crash
//!   or a `docker stop`) and stops a deleted pod's container gracefully. A kube container runs
//!   `container state up kube` at post-start; told to wait, it blocks until the mode changes
//!   (or the owner turns local) and asks again; parked, it does not run the feature but keeps
//!   watching and asks again once `set_owner` is kube (core's `KubeAnswer::Park`: a container
//!   parked for ever would hold the DaemonSet's slot); told to proceed, it claims the feature.
//!   A manifest update replaces the pod; a manifest removal stops kube deploying.
//! - **Master down**, coarsely: label operations fail and are queued (coalesced to their final
//!   value: there is one key), kubelet is stopped while the queue is not empty, the controller
//!   does not act while the master is down, and the queue is drained (kubelet started) once it
//!   is back.
//! - **hostcfgd-watcher** handles each keyspace notification of the row for which
//!   [`ctrmgr_core::approval_pending`] holds (after a crash it rescans); **kube-monit** acts
//!   when [`ctrmgr_core::next_deadline`] is due (and `transition_mode_update_ts` is then in
//!   the past: [`world::Row::due`]). Both pass the unit's activity as systemd reports it.
//!   Their plans (the start limit reset of a still-active unit together with `systemctl
//!   try-restart` — one job that systemd runs only on an active unit — or, for a failed unit,
//!   the `start_requested_ts` marker, `reset-failed`, `start`) run one effect per action, so
//!   another actor may run between any two of them, and are lost when they crash. When a plan
//!   is done and the unit's activity is no longer what it was fed, the daemon looks again.
//! - **systemd**: the unit may also be *failed*: with a start rate limit (`StartLimitBurst`,
//!   [`CRASH_LOOP_BURST`] in the crash-loop scenarios; the interval never passes, so every
//!   start counts until a `reset-failed`), a start beyond the limit fails the unit instead;
//!   `systemctl stop` leaves a failed unit failed.
//! - **The operator** boots the unit, and may change `set_owner` once, then runs `systemctl
//!   stop` and `systemctl start` (as `sonic-kube config feature owner` does); or, in other
//!   scenarios, run a lone `systemctl stop` and never start the unit again.
//! - **Time** is abstract: timestamps are not part of the state, every step gets the same
//!   `now`, and "kube-monit's deadline passed" is an action, possible whenever
//!   `next_deadline` is `Some` — at most twice per run while kube deploys (so that kube-monit
//!   and a deploying kube cannot cycle for ever), without limit once no manifest exists.
//! - **Faults**: the local or the kube container crashes (no Down recorded), hostcfgd or
//!   kube-monit crashes at any step of its plan (losing the plan; the jobs it already gave
//!   systemd go on), or the master goes down; at most one per run — and, in the crash-loop
//!   scenarios, a kube image that crashes three times on a unit with a start limit.
//! - **Properties** (DESIGN.md §4): invariants 1–4 and 6 as `always`; liveness 5 as
//!   `eventually` on fault-free runs; liveness 5 and 7 as `always` over end states, on faulted
//!   runs too (an end state comes after `Retire`, so after the last fault): with owner kube
//!   and a manifest, KUBE_RUNNING; with fallback, N > 0 and no manifest, LOCAL; with owner
//!   local, LOCAL — unless the operator's lone stop holds the unit down.
//! - Not modelled: `container kill` (reboot scripts), the 30 s local `container wait` timeout,
//!   retries of a compare-and-set beyond what the world causes, crashes of `container`
//!   commands themselves.
//!
//! ## Scenarios and depth
//!
//! [`default_scenarios`]: every owner and fallback/failure-detection combination, with and
//! without a node label left from before a reboot, kube deploying or never deploying, and with
//! owner kube a crash-looping image on a rate-limited unit, alone and with one fault; while
//! kube deploys, each scenario allows two kinds of environment event ([`FAMILIES`]), because
//! allowing all at once multiplies the state space (that is [`extended_scenarios`]: 6.7 million
//! distinct states, 28 million generated, about 60 s on one thread here, against 3.0 million
//! and 10.6 million, about 30–40 s, for the default scenarios). The BFS runs to [`DEFAULT_DEPTH`] and
//! completes well before it, so the numbers do not depend on the bound; one thread keeps them
//! deterministic.
//!
//! ## Why the liveness properties are checkable
//!
//! stateright's `eventually` is judged on paths that end in a state with no successor. So the
//! environment is finite (budgets), every action that changes nothing is dropped (no
//! self-loops), and an [`Action::Retire`] action lets the environment stop for good at any
//! point — a world stuck with budget left then has a terminal twin, where the property is
//! judged. Because stateright remembers only the first path into a state, `eventually` can
//! miss a stuck state first reached along a path where the goal held earlier; the `always`
//! "end states" properties close that gap by judging every terminal state directly. Cycles
//! (a livelock that never reaches a terminal state) are detected by neither.
//!
//! ```no_run
//! let report = ctrmgr_model::check_default();
//! assert!(report.properties.iter().all(|(_, holds)| *holds));
//! ```

#![deny(missing_docs)]

pub mod model;
pub mod sim;
pub mod world;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use stateright::{Checker, Expectation, Model, Path, Property};

pub use model::{
    Action, CRASH_LOOP_BURST, FAMILIES, FeatureWorld, Flow, Scenario, default_scenarios,
    extended_scenarios, names, seed_scenarios,
};
pub use world::{Budget, Cfg, Kube, World};

/// The BFS depth bound of the default checks. The default scenarios are explored completely
/// well within it (about 110 levels; see [`Outcome::complete`]), so the counts do not depend
/// on it.
pub const DEFAULT_DEPTH: usize = 200;

/// What a check found, in the numbers `docs/state-machine.md` quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReport {
    /// The depth explored: the longest of the shortest paths from an initial state to any
    /// state (BFS levels). Below [`Outcome::bound`] when the exploration was complete.
    pub depth: usize,
    /// States generated, with repeats (transitions explored).
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// Each property and whether it holds (for a `sometimes` property: whether an example
    /// was found).
    pub properties: Vec<(String, bool)>,
}

/// A path through the model: where it starts, then each action and the world after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The initial world.
    pub start: World,
    /// Each action and the world it led to.
    pub steps: Vec<(Action, World)>,
}

impl Trace {
    fn from_path(path: Path<World, Action>) -> Option<Trace> {
        let pairs = path.into_vec();
        let mut steps = Vec::with_capacity(pairs.len());
        for pair in pairs.windows(2) {
            if let [(_, Some(action)), (next, _)] = pair {
                steps.push((*action, next.clone()));
            }
        }
        let (start, _) = pairs.into_iter().next()?;
        Some(Trace { start, steps })
    }

    /// The world at the end of the path.
    pub fn last(&self) -> &World {
        self.steps.last().map_or(&self.start, |(_, w)| w)
    }

    /// Every world along the path, the start first.
    pub fn worlds(&self) -> impl Iterator<Item = &World> {
        std::iter::once(&self.start).chain(self.steps.iter().map(|(_, w)| w))
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "   start: {}", self.start)?;
        for (i, (action, world)) in self.steps.iter().enumerate() {
            writeln!(f, "{:>4}. {action:?}\n      -> {world}", i + 1)?;
        }
        Ok(())
    }
}

/// A check's full outcome: the report, what was discovered, and how long it took.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The numbers.
    pub report: ModelReport,
    /// The depth bound the check ran with.
    pub bound: usize,
    /// Whether the state space was explored completely (no state was cut off by the bound).
    pub complete: bool,
    /// Names of the `always` and `eventually` properties that do not hold.
    pub violated: Vec<String>,
    /// Names of the `sometimes` properties for which no example was found.
    pub unexampled: Vec<String>,
    /// For each property with a discovery, the (shortest, by BFS) path: a counterexample for
    /// `always` and `eventually`, an example for `sometimes`.
    pub discoveries: BTreeMap<String, Trace>,
    /// Wall-clock time of the check.
    pub elapsed: Duration,
}

impl Outcome {
    /// One line: `model check: N states (M unique) explored to depth D …`.
    pub fn summary(&self) -> String {
        format!(
            "model check: {} states ({} unique) explored to depth {} ({}, bound {}) in {:.1?}",
            self.report.states,
            self.report.unique_states,
            self.report.depth,
            if self.complete {
                "complete"
            } else {
                "cut off by the bound"
            },
            self.bound,
            self.elapsed
        )
    }
}

/// Checks a model by BFS to `depth`, on one thread (so that the numbers are deterministic).
pub fn check_model(model: FeatureWorld, depth: usize) -> Outcome {
    let properties = model.properties();
    let started = Instant::now();
    let checker = model
        .checker()
        .threads(1)
        .target_max_depth(depth)
        .spawn_bfs()
        .join();
    let elapsed = started.elapsed();
    let found = checker.discoveries();
    let max_depth = checker.max_depth();
    let mut violated = Vec::new();
    let mut unexampled = Vec::new();
    let mut results = Vec::new();
    for p in &properties {
        let discovered = found.contains_key(p.name);
        let holds = match p.expectation {
            Expectation::Sometimes => discovered,
            Expectation::Always | Expectation::Eventually => !discovered,
        };
        if !holds {
            match p.expectation {
                Expectation::Sometimes => unexampled.push(p.name.to_owned()),
                _ => violated.push(p.name.to_owned()),
            }
        }
        results.push((p.name.to_owned(), holds));
    }
    Outcome {
        report: ModelReport {
            depth: max_depth,
            states: checker.state_count(),
            unique_states: checker.unique_state_count(),
            properties: results,
        },
        bound: depth,
        complete: max_depth < depth,
        violated,
        unexampled,
        discoveries: found
            .into_iter()
            .filter_map(|(name, path)| Some((name.to_owned(), Trace::from_path(path)?)))
            .collect(),
        elapsed,
    }
}

/// Replaces each counterexample of `outcome` by a shortest one from the same initial
/// situation.
///
/// stateright keeps the *last* violating state it meets for an `always` property (and the
/// last offending terminal state for an `eventually` one), so the path it reports is the
/// deepest of the BFS rather than the shortest. This searches the counterexample's own
/// scenario again, breadth first, and stops at the first state that breaks the property — for
/// `eventually`, with stateright's rule: a state with no successor, reached along the first
/// path that finds it, on which the condition never held. Only violated properties are
/// searched, so a passing check costs nothing more.
pub fn minimize_counterexamples(model: &FeatureWorld, outcome: &mut Outcome) {
    for p in model.properties() {
        if p.expectation == Expectation::Sometimes || !outcome.violated.iter().any(|v| v == p.name)
        {
            continue;
        }
        let Some(found) = outcome.discoveries.get(p.name) else {
            continue;
        };
        let Some(scenario) = model.scenarios.iter().find(|s| s.world() == found.start) else {
            continue;
        };
        let focused = FeatureWorld {
            flow: model.flow,
            scenarios: vec![*scenario],
        };
        if let Some(trace) = shortest_violation(&focused, &p, outcome.bound)
            && trace.steps.len() < found.steps.len()
        {
            outcome.discoveries.insert(p.name.to_owned(), trace);
        }
    }
}

/// Breadth-first search for the first state that breaks `property` (see
/// [`minimize_counterexamples`]).
fn shortest_violation(
    model: &FeatureWorld,
    property: &Property<FeatureWorld>,
    bound: usize,
) -> Option<Trace> {
    let eventually = property.expectation == Expectation::Eventually;
    let fingerprint = |w: &World| {
        let mut h = std::hash::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    };
    let starts = model.init_states();
    // Each state's parent and the action that led to it; the starts have none.
    let mut parents: HashMap<u64, Option<(u64, Action)>> = HashMap::new();
    let mut frontier = VecDeque::new();
    for w in &starts {
        let fp = fingerprint(w);
        if parents.insert(fp, None).is_none() {
            frontier.push_back((w.clone(), fp, false, 0usize));
        }
    }
    let mut actions = Vec::new();
    while let Some((w, fp, mut held, depth)) = frontier.pop_front() {
        let holds = (property.condition)(model, &w);
        if !eventually && !holds {
            return trace_to(model, &starts, &parents, fp);
        }
        held |= holds;
        if depth + 1 >= bound {
            continue;
        }
        actions.clear();
        model.actions(&w, &mut actions);
        let mut terminal = true;
        for a in actions.iter().copied() {
            let Some(next) = model.next_state(&w, a) else {
                continue;
            };
            terminal = false;
            let next_fp = fingerprint(&next);
            if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(next_fp) {
                e.insert(Some((fp, a)));
                frontier.push_back((next, next_fp, held, depth + 1));
            }
        }
        if eventually && terminal && !held {
            return trace_to(model, &starts, &parents, fp);
        }
    }
    None
}

/// The path from a start to the state `fp`, replayed through the model.
fn trace_to(
    model: &FeatureWorld,
    starts: &[World],
    parents: &HashMap<u64, Option<(u64, Action)>>,
    mut fp: u64,
) -> Option<Trace> {
    let mut actions = Vec::new();
    while let Some(Some((parent, action))) = parents.get(&fp) {
        actions.push(*action);
        fp = *parent;
    }
    actions.reverse();
    let start = starts
        .iter()
        .find(|w| {
            let mut h = std::hash::DefaultHasher::new();
            w.hash(&mut h);
            h.finish() == fp
        })
        .cloned()?;
    let mut steps = Vec::with_capacity(actions.len());
    let mut at = start.clone();
    for a in actions {
        match model.next_state(&at, a) {
            Some(next) => {
                steps.push((a, next.clone()));
                at = next;
            }
            None => break,
        }
    }
    Some(Trace { start, steps })
}

/// Checks `flow` with the default scenarios to `depth`.
pub fn check(flow: Flow, depth: usize) -> Outcome {
    check_model(FeatureWorld::new(flow), depth)
}

/// This project's flow: the default scenarios, to [`DEFAULT_DEPTH`].
pub fn check_default() -> ModelReport {
    check(Flow::Ours, DEFAULT_DEPTH).report
}

/// The seed's literal approval flow in the seed's own scenarios ([`seed_scenarios`]), to
/// [`DEFAULT_DEPTH`]. Liveness 5a fails: the label flaps before the DaemonSet controller
/// deletes the sleeping pod, which then sleeps for ever while the feature waits in KUBE_READY.
pub fn check_seed_flow() -> ModelReport {
    check_model(
        FeatureWorld {
            flow: Flow::Seed,
            scenarios: seed_scenarios(),
        },
        DEFAULT_DEPTH,
    )
    .report
}
