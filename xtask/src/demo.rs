//! `cargo xtask demo --model`: the seed's end-to-end scenarios (DESIGN.md §9) walked through
//! the core with the in-process simulator [`ctrmgr_model::sim`], printed step by step.
//!
//! The simulator plays every part around the core the way the driver and the daemons do
//! (systemd, the local engine, the master and kubelet with a DaemonSet, hostcfgd, kube-monit);
//! here it reacts by itself (kubelet deploys from the label and the DaemonSet, hostcfgd
//! approves, systemd restarts a unit whose owner exited) and each scenario is a script of
//! outside events. Reactions run one at a time until the world is quiet, so each scenario is
//! deterministic; the asynchrony of the real system is what the model checker explores. The
//! same simulator, driven by random events, is the proptest world of `ctrmgr-core`'s tests.

use std::io::{self, Write};

use ctrmgr_core::{ContainerId, FeatureConfig, Owner, Timestamp, next_deadline};
use ctrmgr_model::sim::{DownTiming, KubePhase, Line, Options, Sim, StepLine, input_text};

use crate::render;

/// The feature every scenario runs.
const FEATURE: &str = "snmp";
/// The clock at the start of every scenario.
const START: Timestamp = Timestamp::from_secs(1_700_000_000);
/// Bound on reactions after one event: a world that never settles is a bug to report, not to
/// loop on.
const MAX_REACTIONS: usize = 50;

/// The simulator as the demo runs it: kubelet, hostcfgd and systemd react by themselves; the
/// Down of a container the core's own effects stopped is not shown (the step that stopped it
/// already recorded it).
const OPTIONS: Options = Options {
    downs: DownTiming::Deferred,
    sync_kubelet: false,
    reactive: true,
    unit_follows_owner: true,
    max_reactions: MAX_REACTIONS,
    feature: FEATURE,
};

/// Something that happens to the world from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The operator (or boot) runs `systemctl start <feature>`.
    SystemctlStart,
    /// The operator runs `systemctl stop <feature>`.
    SystemctlStop,
    /// `sonic-kube config feature owner <feature> <owner>`: set_owner, then stop and start.
    ConfigOwner(Owner),
    /// The fleet operator applies (or updates) the feature's DaemonSet with this image version.
    Manifest(u32),
    /// The fleet operator deletes the feature's DaemonSet.
    ManifestRemoved,
    /// The master becomes unreachable.
    MasterDown,
    /// The master is reachable again.
    MasterUp,
    /// Minutes pass.
    MinutesPass(u32),
}

impl Event {
    fn text(&self) -> String {
        match self {
            Event::SystemctlStart => format!("operator: systemctl start {FEATURE}"),
            Event::SystemctlStop => format!("operator: systemctl stop {FEATURE}"),
            Event::ConfigOwner(o) => format!(
                "operator: sonic-kube config feature owner {FEATURE} {o} \
                 (set_owner={o}, then systemctl stop + start)"
            ),
            Event::Manifest(v) => format!("fleet: apply the {FEATURE} DaemonSet, image v{v}"),
            Event::ManifestRemoved => format!("fleet: delete the {FEATURE} DaemonSet"),
            Event::MasterDown => "network: the master becomes unreachable".to_owned(),
            Event::MasterUp => "network: the master is reachable again".to_owned(),
            Event::MinutesPass(m) => format!("clock: {m} minutes pass"),
        }
    }
}

/// One scenario of the seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in DESIGN.md §9.
    pub title: &'static str,
    /// What it shows.
    pub story: &'static str,
    /// The feature's configuration at the start.
    pub config: FeatureConfig,
    /// What happens, in order.
    pub events: Vec<Event>,
}

fn config(owner: Owner, fallback: bool, minutes: u32) -> FeatureConfig {
    FeatureConfig {
        kube_failure_detection_mins: minutes,
        ..FeatureConfig::new(owner, fallback)
    }
}

/// The scenarios of DESIGN.md §9 "End to end", in its order.
pub fn scenarios() -> Vec<Scenario> {
    use Event::*;
    vec![
        Scenario {
            title: "default",
            story: "No feature is owned by kube: start and stop swing between INIT and LOCAL.",
            config: config(Owner::Local, false, 0),
            events: vec![SystemctlStart, SystemctlStop, SystemctlStart],
        },
        Scenario {
            title: "kube with fallback",
            story: "Start runs the local image and adds the label; when kube deploys, the \
                    container asks for approval and hostcfgd hands the feature over.",
            config: config(Owner::Kube, true, 0),
            events: vec![Manifest(1), SystemctlStart],
        },
        Scenario {
            title: "kube without fallback",
            story: "Start pre-approves kube (kube_ready) and adds the label; the deployed \
                    container claims the feature at once.",
            config: config(Owner::Kube, false, 0),
            events: vec![Manifest(1), SystemctlStart],
        },
        Scenario {
            title: "local to kube",
            story: "A feature running locally is switched to kube: stop, then start with \
                    owner kube.",
            config: config(Owner::Local, false, 0),
            events: vec![Manifest(1), SystemctlStart, ConfigOwner(Owner::Kube)],
        },
        Scenario {
            title: "kube to local",
            story: "A feature running from kube is switched back to the local image: the stop \
                    removes the label and ends in INIT, the start runs the local image.",
            config: config(Owner::Kube, false, 0),
            events: vec![Manifest(1), SystemctlStart, ConfigOwner(Owner::Local)],
        },
        Scenario {
            title: "manifest update",
            story: "The fleet updates the image: kubelet replaces the container; the unit \
                    restarts and the new container claims the feature (the label stays).",
            config: config(Owner::Kube, false, 0),
            events: vec![Manifest(1), SystemctlStart, Manifest(2)],
        },
        Scenario {
            title: "master unreachable with pending labels",
            story: "While the master is unreachable, label operations are queued and kubelet \
                    is stopped; the stop falls back to docker stop. When the master returns the \
                    queue is drained, kubelet starts and kube deploys again.",
            config: config(Owner::Kube, false, 0),
            events: vec![
                Manifest(1),
                SystemctlStart,
                MasterDown,
                SystemctlStop,
                SystemctlStart,
                MasterUp,
            ],
        },
        Scenario {
            title: "failure fallback",
            story: "With fallback and failure detection (N = 5 minutes), a feature that kube \
                    stops running is restarted on the local image by kube-monit.",
            config: config(Owner::Kube, true, 5),
            events: vec![Manifest(1), SystemctlStart, ManifestRemoved, MinutesPass(5)],
        },
    ]
}

/// Plays every scenario and prints it.
pub fn run(out: &mut impl Write) -> io::Result<()> {
    for (i, scenario) in scenarios().iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let world = play(scenario);
        print(&world, i + 1, scenario, out)?;
    }
    Ok(())
}

/// Plays a scenario from INIT.
pub fn play(scenario: &Scenario) -> Sim {
    let mut w = Sim::new(scenario.config.clone(), START, OPTIONS);
    for event in &scenario.events {
        w.now = w.now.plus_secs(1);
        w.event(event.text());
        happen(&mut w, event);
        w.settle();
    }
    w
}

fn happen(w: &mut Sim, event: &Event) {
    match event {
        Event::SystemctlStart => w.systemctl_start(),
        Event::SystemctlStop => w.systemctl_stop(),
        Event::ConfigOwner(owner) => {
            w.cfg.set_owner = *owner;
            w.systemctl_stop();
            w.systemctl_start();
        }
        Event::Manifest(v) => w.daemonset = Some(*v),
        Event::ManifestRemoved => w.daemonset = None,
        Event::MasterDown => w.master_up = false,
        Event::MasterUp => {
            w.master_up = true;
            w.drain();
        }
        Event::MinutesPass(m) => {
            w.now = w.now.plus_minutes(u64::from(*m), 60);
            if next_deadline(&w.rec, &w.cfg).is_some_and(|d| d <= w.now) {
                w.event("kube-monit: the failure deadline passed");
                w.failure_timeout();
            }
        }
    }
}

/// The world at the end of a scenario, in one line.
fn summary(w: &Sim) -> String {
    let kube = w.kube.as_ref().map_or_else(
        || "none".to_owned(),
        |k| {
            let phase = match k.phase {
                KubePhase::Waiting => "waiting",
                KubePhase::Running => "running",
                KubePhase::Parked => "parked",
            };
            format!("{} (v{}, {phase})", k.id, k.version)
        },
    );
    let on_off = |b: bool| if b { "on" } else { "off" };
    format!(
        "end: {}; local container: {}; kube container: {kube}; label: {}; pending labels: {}; \
         kubelet: {}; unit: {}",
        w.state(),
        w.local.as_ref().map_or("none", ContainerId::as_str),
        on_off(w.label),
        w.pending.len(),
        if w.kubelet_running {
            "running"
        } else {
            "stopped"
        },
        if w.service_active {
            "active"
        } else {
            "inactive"
        },
    )
}

/// The cells of one step's row.
struct Cells {
    n: String,
    input: String,
    from: String,
    to: String,
    effects: Vec<String>,
    reason: &'static str,
}

impl Cells {
    fn of(r: &StepLine) -> Self {
        let mut input = input_text(&r.input);
        if r.attempt > 0 {
            input.push_str(" (again)");
        }
        if r.depth > 0 {
            input = format!("{}↳ {input}", "  ".repeat(r.depth - 1));
        }
        Cells {
            n: r.n.to_string(),
            input,
            from: r.from.to_string(),
            to: r.to.to_string(),
            effects: r
                .effects
                .iter()
                .map(|e| render::effect(e, &|id| id.to_string()))
                .collect(),
            reason: r.reason.text(),
        }
    }
}

/// The widest of `head` and `cells`, in characters.
fn width<'a>(head: &str, cells: impl Iterator<Item = &'a String>) -> usize {
    cells
        .map(|c| c.chars().count())
        .chain([head.chars().count()])
        .max()
        .unwrap_or(0)
}

/// Prints a played scenario: its heading, one row per step (events and notes between), the
/// end state and any broken invariant.
fn print(w: &Sim, number: usize, scenario: &Scenario, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "=== {number}. {} ===", scenario.title)?;
    writeln!(
        out,
        "{FEATURE}: set_owner={}, fallback_to_local={}, kube_failure_detection={}",
        scenario.config.set_owner,
        scenario.config.fallback_to_local,
        scenario.config.kube_failure_detection_mins
    )?;
    writeln!(out, "{}\n", scenario.story)?;
    let rows: Vec<Cells> = w
        .lines
        .iter()
        .filter_map(|l| match l {
            Line::Step(r) => Some(Cells::of(r)),
            _ => None,
        })
        .collect();
    let w_n = width("#", rows.iter().map(|r| &r.n));
    let w_in = width("input", rows.iter().map(|r| &r.input));
    let w_from = width("from", rows.iter().map(|r| &r.from));
    let w_to = width("to", rows.iter().map(|r| &r.to));
    let w_fx = width("effects", rows.iter().flat_map(|r| r.effects.iter())).max("nothing".len());
    let indent = w_n + w_in + w_from + w_to + 8;
    let line = |out: &mut dyn Write, cols: [&str; 6]| -> io::Result<()> {
        let text = format!(
            "{:>w_n$}  {}  {}  {}  {}  {}",
            cols[0],
            pad(cols[1], w_in),
            pad(cols[2], w_from),
            pad(cols[3], w_to),
            pad(cols[4], w_fx),
            cols[5]
        );
        writeln!(out, "{}", text.trim_end())
    };
    line(out, ["#", "input", "from", "to", "effects", "reason"])?;
    let mut rows = rows.iter();
    for l in &w.lines {
        match l {
            Line::Event(text) => writeln!(out, "» {text}")?,
            Line::Note(text) => writeln!(out, "{}· {text}", " ".repeat(indent))?,
            Line::Step(_) => {
                let Some(r) = rows.next() else { continue };
                let first = r.effects.first().map_or("nothing", String::as_str);
                line(out, [&r.n, &r.input, &r.from, &r.to, first, r.reason])?;
                for fx in r.effects.iter().skip(1) {
                    line(out, ["", "", "", "", fx, ""])?;
                }
            }
        }
    }
    writeln!(out, "{}", summary(w))?;
    for v in &w.violations {
        writeln!(out, "INVARIANT VIOLATED: {v}")?;
    }
    Ok(())
}

/// Pads to a width in characters (not bytes: the tables use `↳` and `≤`).
fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::State;

    fn play(title: &str) -> Sim {
        let scenario = scenarios()
            .into_iter()
            .find(|s| s.title == title)
            .expect("the scenario exists");
        super::play(&scenario)
    }

    fn running_kube(w: &Sim) -> Option<&str> {
        w.kube
            .as_ref()
            .filter(|k| k.phase == KubePhase::Running)
            .map(|k| k.id.as_str())
    }

    #[test]
    fn no_scenario_breaks_an_invariant() {
        for s in scenarios() {
            let w = super::play(&s);
            assert!(w.violations.is_empty(), "{}: {:?}", s.title, w.violations);
        }
    }

    #[test]
    fn default_scenario_ends_with_the_local_image_running_again() {
        let w = play("default");
        assert_eq!(w.state(), State::Local);
        assert_eq!(w.local.as_ref().map(ContainerId::as_str), Some("local-2"));
        assert!(!w.label, "owner local never adds the label");
    }

    #[test]
    fn kube_with_fallback_hands_over_from_the_local_image_to_kube() {
        let w = play("kube with fallback");
        assert_eq!(w.state(), State::KubeRunning);
        assert_eq!(running_kube(&w), Some("kube-1"));
        assert_eq!(
            w.local, None,
            "the local container was stopped by the approval"
        );
        assert!(w.label && w.service_active);
    }

    #[test]
    fn kube_without_fallback_runs_the_first_kube_container_without_a_local_one() {
        let w = play("kube without fallback");
        assert_eq!(w.state(), State::KubeRunning);
        assert_eq!(running_kube(&w), Some("kube-1"));
        assert_eq!(w.local_starts(), 0, "no local container was ever started");
    }

    #[test]
    fn local_to_kube_ends_with_kube_running_and_the_local_image_stopped() {
        let w = play("local to kube");
        assert_eq!(w.state(), State::KubeRunning);
        assert_eq!(w.local, None);
        assert_eq!(running_kube(&w), Some("kube-1"));
    }

    #[test]
    fn kube_to_local_removes_the_label_and_runs_the_local_image() {
        let w = play("kube to local");
        assert_eq!(w.state(), State::Local);
        assert_eq!(w.kube, None);
        assert!(!w.label);
        assert_eq!(w.rec.docker_id, w.local);
    }

    #[test]
    fn manifest_update_replaces_the_kube_container_and_keeps_the_label() {
        let w = play("manifest update");
        assert_eq!(w.state(), State::KubeRunning);
        assert_eq!(running_kube(&w), Some("kube-2"));
        assert_eq!(w.kube.as_ref().map(|k| k.version), Some(2));
        assert!(w.label);
    }

    #[test]
    fn pending_labels_are_drained_when_the_master_returns_and_kube_runs_again() {
        let w = play("master unreachable with pending labels");
        assert_eq!(w.state(), State::KubeRunning);
        assert!(w.pending.is_empty() && w.label && w.kubelet_running);
        assert_eq!(running_kube(&w), Some("kube-2"));
    }

    #[test]
    fn failure_fallback_restarts_the_feature_on_the_local_image() {
        let w = play("failure fallback");
        assert_eq!(w.state(), State::Local);
        assert_eq!(w.kube, None);
        assert!(w.local.is_some());
        assert!(w.label, "the label stays so that kube can take over again");
    }

    #[test]
    fn every_scenario_prints_a_table_and_its_end_state() {
        let mut out = Vec::new();
        run(&mut out).expect("writing to a Vec cannot fail");
        let text = String::from_utf8(out).expect("the demo prints UTF-8");
        for (i, s) in scenarios().iter().enumerate() {
            assert!(text.contains(&format!("=== {}. {} ===", i + 1, s.title)));
        }
        assert_eq!(text.matches("\nend: ").count(), scenarios().len());
        assert!(!text.contains("INVARIANT VIOLATED"));
    }
}
