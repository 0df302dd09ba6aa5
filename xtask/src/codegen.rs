//! `cargo xtask codegen [--check]`: `docs/state-machine.md`, generated from
//! `ctrmgr_core::step` itself, so that the documented table cannot drift from the code.
//!
//! Every state is put on its canonical record (`FeatureRecord::of_state`, with the id
//! ⟨recorded⟩ when the state owns a container), fed every input kind in every variant
//! (ids equal to or other than the recorded one, service active or not, failure deadline passed
//! or not), under every configuration (owner local/kube × fallback off/on × N = 0 / N > 0).
//! Outcomes that agree on target state, effects and reason are merged into one row, and the
//! configurations and variants that lead to it are written as the shortest condition found
//! (a cover by cubes, like a Karnaugh map); "—" means nothing matters.
//!
//! The last section quotes the stateright model (`ctrmgr-model`): states explored and each
//! property's verdict, for this project's flow and for the seed's literal flow.
//!
//! The output is deterministic: rows follow `State::ALL` and the input order of DESIGN.md §4,
//! the model is checked on one thread, and nothing depends on hashing or the clock.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctrmgr_core::{
    ContainerId, FeatureConfig, FeatureRecord, Input, Owner, Reason, State, StopOptions, Timestamp,
    UnitActivity, step,
};

use crate::render;

/// Where the document lives, relative to the workspace root.
pub const DOC_PATH: &str = "docs/state-machine.md";

/// The `now` of every step, and the `transition_mode_update_ts` of every record.
const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
/// The failure-detection minutes used for "N > 0".
const N_MINUTES: u32 = 5;

/// Writes the document.
pub fn write(root: &Path) -> Result<()> {
    let path = root.join(DOC_PATH);
    let text = generate();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == text);
    if unchanged {
        eprintln!("{DOC_PATH} is up to date");
    } else {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {DOC_PATH}");
    }
    Ok(())
}

/// Regenerates the document in memory and compares: exit 1 naming the file when it is stale.
pub fn check(root: &Path) -> Result<ExitCode> {
    let path = root.join(DOC_PATH);
    let on_disk = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if on_disk.as_deref() == Some(generate().as_str()) {
        eprintln!("{DOC_PATH} is up to date");
        Ok(ExitCode::SUCCESS)
    } else {
        let what = if on_disk.is_some() {
            "is stale"
        } else {
            "is missing"
        };
        eprintln!("xtask: {DOC_PATH} {what}: run `cargo xtask codegen` and commit the result");
        Ok(ExitCode::FAILURE)
    }
}

/// The input kinds of DESIGN.md §4, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    Stop,
    Kill,
    LocalUp,
    KubeUp,
    Down,
    Approve,
    FailureTimeout,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Start,
        Kind::Stop,
        Kind::Kill,
        Kind::LocalUp,
        Kind::KubeUp,
        Kind::Down,
        Kind::Approve,
        Kind::FailureTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Start => "Start",
            Kind::Stop => "Stop",
            Kind::Kill => "Kill",
            Kind::LocalUp => "LocalUp(id)",
            Kind::KubeUp => "KubeUp(id)",
            Kind::Down => "Down(id)",
            Kind::Approve => "Approve",
            Kind::FailureTimeout => "FailureTimeout",
        }
    }

    /// The variants this kind takes in a state; `has_id` says whether the state's canonical
    /// record holds ⟨recorded⟩ (without one, an input id can only differ from it).
    fn variants(self, has_id: bool) -> &'static [Variant] {
        match self {
            Kind::Start => &[Variant::NotDue, Variant::Due],
            Kind::Stop | Kind::Kill => &[Variant::Only],
            Kind::LocalUp | Kind::KubeUp | Kind::Down if has_id => {
                &[Variant::RecordedId, Variant::OtherId]
            }
            Kind::LocalUp | Kind::KubeUp | Kind::Down => &[Variant::OtherId],
            Kind::Approve => &[
                Variant::Active,
                Variant::Inactive,
                Variant::Failed,
                Variant::RequestedActive,
                Variant::RequestedInactive,
            ],
            Kind::FailureTimeout => &[
                Variant::DueActive,
                Variant::DueInactive,
                Variant::DueFailed,
                Variant::DueRequested,
                Variant::NotDue,
            ],
        }
    }

    /// The input and the `now` to step it at.
    fn input(self, variant: Variant) -> (Input, Timestamp) {
        let id = match variant {
            Variant::RecordedId => recorded_id(),
            _ => input_id(),
        };
        let unit = match variant {
            Variant::Active | Variant::RequestedActive | Variant::DueActive => UnitActivity::Active,
            Variant::Failed | Variant::DueFailed => UnitActivity::Failed,
            _ => UnitActivity::Inactive,
        };
        // Due: an hour after the mode changed, past any N used here; not due: at once.
        let now = match variant {
            Variant::Due
            | Variant::DueActive
            | Variant::DueInactive
            | Variant::DueFailed
            | Variant::DueRequested => T0.plus_secs(3600),
            _ => T0,
        };
        match self {
            Kind::Start => (Input::Start, now),
            Kind::Stop => (Input::Stop(StopOptions::default()), T0),
            Kind::Kill => (Input::Kill, T0),
            Kind::LocalUp => (Input::LocalUp(id), T0),
            Kind::KubeUp => (Input::KubeUp(id), T0),
            Kind::Down => (Input::Down(id), T0),
            Kind::Approve => (Input::Approve { unit }, now),
            Kind::FailureTimeout => (Input::FailureTimeout { unit }, now),
        }
    }
}

impl Variant {
    /// Whether the record is fed with `start_requested_ts` set.
    fn requested(self) -> bool {
        matches!(
            self,
            Variant::RequestedActive | Variant::RequestedInactive | Variant::DueRequested
        )
    }
}

/// One variant of an input kind: the fourth dimension of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Only,
    RecordedId,
    OtherId,
    Active,
    Inactive,
    Failed,
    RequestedActive,
    RequestedInactive,
    Due,
    NotDue,
    DueActive,
    DueInactive,
    DueFailed,
    DueRequested,
}

impl Variant {
    fn text(self) -> &'static str {
        match self {
            Variant::Only => "",
            Variant::RecordedId => "id = docker_id",
            Variant::OtherId => "id ≠ docker_id",
            Variant::Active => "unit active",
            Variant::Inactive => "unit inactive",
            Variant::Failed => "unit failed",
            Variant::RequestedActive => "start requested, unit active",
            Variant::RequestedInactive => "start requested, unit inactive or failed",
            Variant::Due => "deadline passed",
            Variant::NotDue => "deadline not passed",
            Variant::DueActive => "deadline passed, unit active",
            Variant::DueInactive => "deadline passed, unit inactive",
            Variant::DueFailed => "deadline passed, unit failed",
            Variant::DueRequested => "deadline passed, start requested, unit inactive or failed",
        }
    }
}

const RECORDED: &str = "recorded";
const INPUT: &str = "input";

fn recorded_id() -> ContainerId {
    ContainerId::new(RECORDED).expect("\"recorded\" is a valid container id")
}

fn input_id() -> ContainerId {
    ContainerId::new(INPUT).expect("\"input\" is a valid container id")
}

fn name_id(id: &ContainerId) -> String {
    format!("⟨{id}⟩")
}

/// A point of a condition space: owner (local, kube), fb (off, on), N (0, > 0), variant index.
type Point = [usize; 4];
/// A cube: each dimension fixed to a value or free.
type Cube = [Option<usize>; 4];

/// What a step answered, as shown in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    to: State,
    effects: Vec<String>,
    reason: Reason,
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    from: State,
    kind: Kind,
    variants: &'static [Variant],
    outcome: Outcome,
    points: Vec<Point>,
}

impl Row {
    fn condition(&self) -> String {
        describe(&self.points, self.sizes(), &|d, v| self.literal(d, v))
    }

    fn sizes(&self) -> [usize; 4] {
        [2, 2, 2, self.variants.len()]
    }

    fn literal(&self, dim: usize, value: usize) -> String {
        match (dim, value) {
            (0, 0) => "owner=local".to_owned(),
            (0, _) => "owner=kube".to_owned(),
            (1, 0) => "!fb".to_owned(),
            (1, _) => "fb".to_owned(),
            (2, 0) => "N=0".to_owned(),
            (2, _) => "N>0".to_owned(),
            (_, v) => self
                .variants
                .get(v)
                .map_or_else(String::new, |x| x.text().to_owned()),
        }
    }
}

fn config_of(point: Point) -> FeatureConfig {
    FeatureConfig {
        set_owner: if point[0] == 0 {
            Owner::Local
        } else {
            Owner::Kube
        },
        fallback_to_local: point[1] == 1,
        kube_failure_detection_mins: if point[2] == 1 { N_MINUTES } else { 0 },
        state: None,
        ..FeatureConfig::default()
    }
}

fn owns_container(state: State) -> bool {
    matches!(
        state,
        State::Local | State::LocalToKube | State::KubeRunning
    )
}

/// The canonical record of a state, as the table uses it.
fn record_of(state: State) -> FeatureRecord {
    let mut rec = FeatureRecord::of_state(state, owns_container(state).then(recorded_id));
    rec.current_owner_update_ts = Some(T0);
    rec.transition_mode_update_ts = Some(T0);
    rec
}

/// Every row: each state × input kind, outcomes merged where only the condition differs.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for from in State::ALL {
        let rec = record_of(from);
        for kind in Kind::ALL {
            let variants = kind.variants(owns_container(from));
            let mut group: Vec<Row> = Vec::new();
            for point in space([2, 2, 2, variants.len()]) {
                let variant = variants[point[3]];
                let (input, now) = kind.input(variant);
                let mut rec = rec.clone();
                if variant.requested() {
                    rec.start_requested_ts = Some(T0);
                }
                let s = step(&rec, &config_of(point), input, now);
                let outcome = Outcome {
                    to: s.next,
                    effects: s
                        .effects
                        .iter()
                        .map(|e| render::effect(e, &name_id))
                        .collect(),
                    reason: s.reason,
                };
                match group.iter_mut().find(|r| r.outcome == outcome) {
                    Some(row) => row.points.push(point),
                    None => group.push(Row {
                        from,
                        kind,
                        variants,
                        outcome,
                        points: vec![point],
                    }),
                }
            }
            rows.extend(group);
        }
    }
    rows
}

/// Every point of a space with these dimension sizes, first dimension outermost.
fn space(sizes: [usize; 4]) -> Vec<Point> {
    let mut points = Vec::new();
    for a in 0..sizes[0] {
        for b in 0..sizes[1] {
            for c in 0..sizes[2] {
                for d in 0..sizes[3] {
                    points.push([a, b, c, d]);
                }
            }
        }
    }
    points
}

fn cube_has(cube: &Cube, p: &Point) -> bool {
    cube.iter().zip(p).all(|(c, v)| c.is_none_or(|c| c == *v))
}

/// Whether `outer` contains `inner` (every point of `inner` is in `outer`).
fn cube_contains(outer: &Cube, inner: &Cube) -> bool {
    outer.iter().zip(inner).all(|(o, i)| o.is_none() || o == i)
}

/// The shortest readable condition for a set of points: a greedy cover by the largest cubes
/// that lie inside the set, each written as its fixed dimensions ("owner=kube, fb"), joined by
/// " or "; "—" when the set is the whole space.
fn describe(
    points: &[Point],
    sizes: [usize; 4],
    literal: &dyn Fn(usize, usize) -> String,
) -> String {
    let domain = space(sizes);
    // Every cube; a dimension with a single value is never fixed (it says nothing).
    let mut cubes: Vec<Cube> = vec![[None; 4]];
    for (dim, &size) in sizes.iter().enumerate() {
        if size < 2 {
            continue;
        }
        let mut more = Vec::new();
        for cube in &cubes {
            for v in 0..size {
                let mut c = *cube;
                c[dim] = Some(v);
                more.push(c);
            }
        }
        cubes.extend(more);
    }
    let inside: Vec<Cube> = cubes
        .into_iter()
        .filter(|c| {
            domain
                .iter()
                .filter(|p| cube_has(c, p))
                .all(|p| points.contains(p))
        })
        .collect();
    let primes: Vec<Cube> = inside
        .iter()
        .filter(|c| !inside.iter().any(|o| o != *c && cube_contains(o, c)))
        .copied()
        .collect();
    let mut uncovered: Vec<Point> = points.to_vec();
    let mut chosen: Vec<Cube> = Vec::new();
    while !uncovered.is_empty() {
        // Most points first, then fewest literals; `max_by_key` keeps the last of equals, so
        // walk the primes backwards to keep the first in enumeration order.
        let best = primes
            .iter()
            .rev()
            .max_by_key(|c| {
                let covers = uncovered.iter().filter(|p| cube_has(c, p)).count();
                let fixed = c.iter().filter(|x| x.is_some()).count();
                (covers, std::cmp::Reverse(fixed))
            })
            .copied();
        let Some(best) = best.filter(|c| uncovered.iter().any(|p| cube_has(c, p))) else {
            break;
        };
        uncovered.retain(|p| !cube_has(&best, p));
        chosen.push(best);
    }
    let terms: Vec<String> = chosen
        .iter()
        .map(|c| {
            c.iter()
                .enumerate()
                .filter_map(|(d, v)| v.map(|v| literal(d, v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    if terms.iter().all(String::is_empty) {
        "—".to_owned()
    } else {
        terms.join(" or ")
    }
}

/// The whole document, running the model checker for its last section.
pub fn generate() -> String {
    document(&model_section())
}

/// The document around a given "Model check" section.
fn document(model_section: &str) -> String {
    let rows = rows();
    let mut md = String::new();
    md.push_str(HEADER);

    md.push_str("## Transitions\n\n");
    md.push_str("| from | input | condition | to | effects, in order | reason |\n");
    md.push_str("|---|---|---|---|---|---|\n");
    for row in &rows {
        let effects = if row.outcome.effects.is_empty() {
            "nothing".to_owned()
        } else {
            row.outcome.effects.join("; ")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | `{:?}`: {} |",
            row.from,
            row.kind.label(),
            cell(&row.condition()),
            row.outcome.to,
            cell(&effects),
            row.outcome.reason,
            cell(row.outcome.reason.text()),
        );
    }
    let _ = writeln!(
        md,
        "\n{} rows from {} steps ({} states × {} input kinds × their variants × 8 configurations).\n",
        rows.len(),
        rows.iter().map(|r| r.points.len()).sum::<usize>(),
        State::ALL.len(),
        Kind::ALL.len(),
    );

    md.push_str(DIAGRAM_INTRO);
    md.push_str("```mermaid\nstateDiagram-v2\n");
    let _ = writeln!(md, "    [*] --> {}", State::Init);
    for (from, to, label) in edges(&rows) {
        let _ = writeln!(md, "    {from} --> {to} : {label}");
    }
    md.push_str("```\n");

    if !model_section.is_empty() {
        md.push('\n');
        md.push_str(model_section);
    }
    md
}

/// The state changes of the table: one edge per (from, input, to), its condition recomputed
/// over the union of the rows it merges.
fn edges(rows: &[Row]) -> Vec<(State, State, String)> {
    let mut edges: Vec<(State, Kind, State, Row)> = Vec::new();
    for row in rows.iter().filter(|r| r.outcome.to != r.from) {
        match edges
            .iter_mut()
            .find(|(f, k, t, _)| *f == row.from && *k == row.kind && *t == row.outcome.to)
        {
            Some((_, _, _, merged)) => merged.points.extend(row.points.iter().copied()),
            None => edges.push((row.from, row.kind, row.outcome.to, row.clone())),
        }
    }
    edges
        .into_iter()
        .map(|(from, kind, to, merged)| {
            let cond = merged.condition();
            let name = kind.label().trim_end_matches("(id)");
            let label = if cond == "—" {
                name.to_owned()
            } else {
                format!("{name} [{cond}]")
            };
            (from, to, label)
        })
        .collect()
}

/// A markdown table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The "Model check" section: the numbers of the stateright model (`ctrmgr-model`) for this
/// project's flow and for the seed's literal flow.
fn model_section() -> String {
    eprintln!("running the model checker on this project's flow (ctrmgr_model::check_default)");
    let ours = ctrmgr_model::check_default();
    eprintln!("running the model checker on the seed's flow (ctrmgr_model::check_seed_flow)");
    let seed = ctrmgr_model::check_seed_flow();
    model_section_from(&[
        ("this project's flow", ours),
        ("the seed's literal flow", seed),
    ])
}

fn model_section_from(reports: &[(&str, ctrmgr_model::ModelReport)]) -> String {
    let mut md = String::from(MODEL_INTRO);
    md.push_str("| flow | depth | states | unique states |\n|---|---|---|---|\n");
    for (flow, r) in reports {
        let _ = writeln!(
            md,
            "| {flow} | {} | {} | {} |",
            r.depth, r.states, r.unique_states
        );
    }
    md.push_str("\n| property |");
    for (flow, _) in reports {
        let _ = write!(md, " {flow} |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(reports.len()));
    md.push('\n');
    // Properties in the order of the first report, then any the others add.
    let mut names: Vec<&str> = Vec::new();
    for (_, r) in reports {
        for (name, _) in &r.properties {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    for name in names {
        let _ = write!(md, "| {} |", cell(name));
        for (_, r) in reports {
            let verdict = r
                .properties
                .iter()
                .find(|(n, _)| n == name)
                .map_or("—", |(_, holds)| if *holds { "holds" } else { "fails" });
            let _ = write!(md, " {verdict} |");
        }
        md.push('\n');
    }
    md
}

const HEADER: &str = "\
# The feature state machine

<!-- Generated by `cargo xtask codegen` from `ctrmgr_core::step`. Do not edit by hand:
     change the core, run `cargo xtask codegen`, commit both. CI runs `codegen --check`. -->

This document is generated from the transition function itself, not written beside it, so it
cannot drift from the code. DESIGN.md §4 is the specification; this is what the code does.

How the table is made: every state is put on its canonical STATE_DB record
(`FeatureRecord::of_state`; the states that own a container — LOCAL, LOCAL_TO_KUBE,
KUBE_RUNNING — hold the id ⟨recorded⟩), and fed every input under every configuration:
`owner` = `set_owner` (local or kube), `fb` = `fallback_to_local`, `N` =
`kube_failure_detection` (0, or 5 minutes). Inputs that carry a container id are fed ⟨recorded⟩
(`id = docker_id`) and another id ⟨input⟩ (`id ≠ docker_id`); Start before and after the failure
deadline (`transition_mode_update_ts` + N minutes); Approve with the unit active, inactive and
failed (`systemctl is-active`), with and without `start_requested_ts` on the record (a daemon
reset the failed unit to start it); FailureTimeout before and after its deadline, likewise.
A Start from a record with `start_requested_ts` set first clears it (one HSET, not shown).
Outcomes with the same target state, effects and reason are merged into one row and
the condition is the shortest description of what led there; `—` means nothing matters.

Effects are carried out by the driver in the order shown. `write …` is one HSET of STATE_DB
`FEATURE|<feature>`; it also stamps `current_owner_update_ts` / `transition_mode_update_ts` with
`now` for what it changes, and `(if mode=…)` makes it a compare-and-set on `transition_mode`
(the driver re-reads and steps again when it loses). `label add` / `label remove` act on the
node label `<feature>_enabled=true` (queued in `KUBE_SERVER|PENDING_LABELS` when the master is
unreachable). `to` is the state once the effects, and the inputs they feed back (`docker start`
→ LocalUp, `systemctl start` → Start, `systemctl try-restart` → Stop then Start, only if the
unit is still active when systemd runs the job), are carried out.

";

const DIAGRAM_INTRO: &str = "\
## Diagram

The state changes of the table (rows whose `to` differs from `from`), labelled
`input [condition]`.

";

const MODEL_INTRO: &str = "\
## Model check

`ctrmgr-model` checks one feature and its world exhaustively by breadth-first search with
stateright: the real `step` makes every decision, while the model plays systemd, the local
engine, an asynchronous DaemonSet controller and kubelet, the label and its pending list, the
master going down and up, hostcfgd-watcher, kube-monit, crashes of either daemon at every step
of its plans, a lone operator stop that is never followed by a start, and a crash-looping kube
image on a unit with a start rate limit (`StartLimitBurst`). Liveness is checked on faulted
runs too: the end-state properties judge every state where the world comes to rest, which is
after the last fault. It checks this project's
flow and the seed's literal approval flow (the pending kube container sleeps for ever and relies
on the DaemonSet to undeploy and redeploy it), which must fail liveness (DESIGN.md §4).
`sometimes` properties hold when an example was found. Depth is the longest shortest path from
an initial state; states counts generated states with repeats.

";

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_for(from: State, kind: Kind) -> Vec<(String, State, Reason)> {
        rows()
            .into_iter()
            .filter(|r| r.from == from && r.kind == kind)
            .map(|r| (r.condition(), r.outcome.to, r.outcome.reason))
            .collect()
    }

    #[test]
    fn init_start_has_the_three_rows_of_the_design_table() {
        // Rows come in enumeration order: owner local before kube, fb off before on.
        assert_eq!(
            rows_for(State::Init, Kind::Start),
            vec![
                ("owner=local".to_owned(), State::Local, Reason::StartLocal),
                (
                    "owner=kube, !fb".to_owned(),
                    State::KubeReady,
                    Reason::StartKubeApproved
                ),
                (
                    "owner=kube, fb".to_owned(),
                    State::Local,
                    Reason::StartKubeFallbackLocal
                ),
            ]
        );
    }

    #[test]
    fn failure_timeout_restarts_only_a_wanted_unit_when_armed_and_due() {
        let rows = rows_for(State::KubeReady, Kind::FailureTimeout);
        let restart: Vec<_> = rows
            .iter()
            .filter(|(_, _, r)| *r == Reason::FailureRestartsUnit)
            .collect();
        assert_eq!(
            restart,
            vec![&(
                "owner=kube, fb, N>0, deadline passed, unit active".to_owned(),
                State::Local,
                Reason::FailureRestartsUnit
            )]
        );
        assert!(
            rows.iter()
                .any(|(c, to, r)| *r == Reason::FailureUnitStopped
                    && *to == State::KubeReady
                    && c.contains("unit inactive")),
            "{rows:?}"
        );
    }

    #[test]
    fn init_stop_stays_in_init_whatever_the_configuration() {
        // It stops the local container by name (a cancelled start may have left it running),
        // and with owner local also removes the label: two rows, one reason.
        let rows = rows_for(State::Init, Kind::Stop);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows.iter()
                .all(|(_, to, r)| *to == State::Init && *r == Reason::StopNothingRuns),
            "{rows:?}"
        );
    }

    #[test]
    fn every_state_and_input_kind_has_a_row() {
        let rows = rows();
        for from in State::ALL {
            for kind in Kind::ALL {
                assert!(
                    rows.iter().any(|r| r.from == from && r.kind == kind),
                    "no row for {from} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn a_set_that_is_no_cube_is_written_as_alternatives() {
        // owner=local with fb, or owner=kube without fb (an exclusive or).
        let points = [[0, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0]];
        let lit = |d: usize, v: usize| format!("d{d}={v}");
        assert_eq!(
            describe(&points, [2, 2, 2, 1], &lit),
            "d0=0, d1=1 or d0=1, d1=0"
        );
    }

    #[test]
    fn the_document_is_the_same_every_time() {
        assert_eq!(document(""), document(""));
    }

    #[test]
    fn the_diagram_has_an_edge_for_every_state_change_of_the_table() {
        let doc = document("");
        for row in rows().iter().filter(|r| r.outcome.to != r.from) {
            let prefix = format!("    {} --> {} : ", row.from, row.outcome.to);
            assert!(doc.contains(&prefix), "missing edge {prefix}");
        }
    }

    #[test]
    fn the_model_section_lists_each_flow_and_each_property_verdict() {
        let report = |live: bool| ctrmgr_model::ModelReport {
            depth: 12,
            states: 3400,
            unique_states: 1200,
            properties: vec![
                ("never two owners".to_owned(), true),
                ("start leads to KUBE_RUNNING".to_owned(), live),
            ],
        };
        let md = model_section_from(&[("ours", report(true)), ("seed", report(false))]);
        assert!(md.contains("| ours | 12 | 3400 | 1200 |"), "{md}");
        assert!(md.contains("| property | ours | seed |"), "{md}");
        assert!(md.contains("| never two owners | holds | holds |"), "{md}");
        assert!(
            md.contains("| start leads to KUBE_RUNNING | holds | fails |"),
            "{md}"
        );
    }
}
