//! `cargo xtask demo`: the seed's end-to-end scenarios (DESIGN.md §9) walked through the core
//! with a tiny in-process world, printed step by step.
//!
//! The world plays every part around the core the way the driver and the daemons will:
//! systemd (`systemctl start/stop/restart` feed Start/Stop; when the owning container exits
//! outside a stop, `container wait` returns, systemd runs ExecStop and restarts the unit), the
//! local engine (`docker start` answers a new id, fed back as LocalUp), the master and kubelet
//! (the node label, the pending-label list while the master is unreachable, a DaemonSet whose
//! containers call `container state up kube` and `down`), hostcfgd (Approve on kube_pending)
//! and kube-monit (FailureTimeout at its deadline). Reactions are run one at a time until the
//! world is quiet, so each scenario is deterministic; the asynchrony of the real system is
//! what the model checker explores.

use std::io::{self, Write};

use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, KubeAnswer, Owner,
    State, StopOptions, Target, Timestamp, UnitActivity, approval_pending, next_deadline, step,
};

use crate::render;

/// The feature every scenario runs.
const FEATURE: &str = "snmp";
/// The clock at the start of every scenario.
const START: Timestamp = 1_700_000_000;
/// Bound on reactions after one event: a world that never settles is a bug to report, not to
/// loop on.
const MAX_REACTIONS: usize = 50;

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
        let world = World::play(scenario);
        world.print(i + 1, scenario, out)?;
    }
    Ok(())
}

/// Where a kube container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubePhase {
    /// Blocked in `container state up kube`, waiting for approval.
    Waiting,
    /// Approved: it runs the feature.
    Running,
    /// Told never to proceed (owner local): it sleeps.
    Parked,
}

/// The kube container of the DaemonSet on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeContainer {
    /// Its id.
    pub id: ContainerId,
    /// The DaemonSet image version it runs.
    pub version: u32,
    /// Where it is.
    pub phase: KubePhase,
}

/// One line of a scenario's output.
#[derive(Debug, Clone)]
enum Line {
    Event(String),
    Step(Row),
    Note(String),
}

/// One step of the core.
#[derive(Debug, Clone)]
struct Row {
    n: usize,
    depth: usize,
    input: String,
    from: State,
    to: State,
    effects: Vec<String>,
    reason: &'static str,
}

/// The feature and everything around it.
#[derive(Debug, Clone)]
pub struct World {
    /// CONFIG_DB `FEATURE|snmp`.
    pub cfg: FeatureConfig,
    /// STATE_DB `FEATURE|snmp`.
    pub rec: FeatureRecord,
    now: Timestamp,
    /// Whether the systemd unit is active.
    pub service_active: bool,
    /// The running local container.
    pub local: Option<ContainerId>,
    /// The kube container on this node.
    pub kube: Option<KubeContainer>,
    /// The node label `snmp_enabled=true` as the master has it.
    pub label: bool,
    /// Queued label operations (true = add), in order.
    pub pending: Vec<bool>,
    /// Whether the master is reachable.
    pub master_up: bool,
    /// Whether kubelet runs.
    pub kubelet_running: bool,
    /// The DaemonSet's image version, when one is applied.
    pub daemonset: Option<u32>,
    next_local: u32,
    next_kube: u32,
    hostcfgd_seen: Option<FeatureRecord>,
    steps: usize,
    depth: usize,
    lines: Vec<Line>,
    /// Invariants of DESIGN.md §4 found broken, with when.
    pub violations: Vec<String>,
}

impl World {
    fn new(cfg: FeatureConfig) -> Self {
        World {
            cfg,
            rec: FeatureRecord::default(),
            now: START,
            service_active: false,
            local: None,
            kube: None,
            label: false,
            pending: Vec::new(),
            master_up: true,
            kubelet_running: true,
            daemonset: None,
            next_local: 1,
            next_kube: 1,
            hostcfgd_seen: None,
            steps: 0,
            depth: 0,
            lines: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// Plays a scenario from INIT.
    pub fn play(scenario: &Scenario) -> Self {
        let mut w = World::new(scenario.config.clone());
        for event in &scenario.events {
            w.now += 1;
            w.lines.push(Line::Event(event.text()));
            w.happen(event);
            w.settle();
            w.check_stable(event);
        }
        w
    }

    /// The state the record is in.
    pub fn state(&self) -> State {
        self.rec.state()
    }

    fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
    }

    fn happen(&mut self, event: &Event) {
        match event {
            Event::SystemctlStart => self.systemctl_start(),
            Event::SystemctlStop => self.systemctl_stop(),
            Event::ConfigOwner(owner) => {
                self.cfg.set_owner = *owner;
                self.systemctl_stop();
                self.systemctl_start();
            }
            Event::Manifest(v) => self.daemonset = Some(*v),
            Event::ManifestRemoved => self.daemonset = None,
            Event::MasterDown => self.master_up = false,
            Event::MasterUp => {
                self.master_up = true;
                self.drain();
            }
            Event::MinutesPass(m) => {
                self.now += u64::from(*m) * 60;
                if next_deadline(&self.rec, &self.cfg).is_some_and(|d| d <= self.now) {
                    self.lines.push(Line::Event(
                        "kube-monit: the failure deadline passed".to_owned(),
                    ));
                    let unit = self.unit();
                    self.feed(Input::FailureTimeout { unit });
                }
            }
        }
    }

    /// Runs the world's reactions one at a time until none applies.
    fn settle(&mut self) {
        for _ in 0..MAX_REACTIONS {
            if !self.react() {
                return;
            }
        }
        self.violations.push(format!(
            "the world did not settle within {MAX_REACTIONS} reactions"
        ));
    }

    /// One reaction, if any applies: kubelet, a waiting container, hostcfgd.
    fn react(&mut self) -> bool {
        let kubelet_acts = self.kubelet_running && self.master_up;
        let desired = self.label && self.daemonset.is_some();
        if kubelet_acts {
            if let Some(k) = self.kube.clone() {
                if !desired || self.daemonset != Some(k.version) {
                    let why = if desired {
                        "the DaemonSet's image changed"
                    } else if self.daemonset.is_none() {
                        "the DaemonSet was deleted"
                    } else {
                        "the label is gone"
                    };
                    self.lines.push(Line::Event(format!(
                        "kubelet: stops {} ({why}); its pre-stop runs `container state {FEATURE} down`",
                        k.id
                    )));
                    self.kube = None;
                    self.container_exited(k.id);
                    return true;
                }
            } else if let (true, Some(version)) = (desired, self.daemonset) {
                let id = self.new_id("kube");
                self.lines.push(Line::Event(format!(
                    "kubelet: deploys {id} (image v{version}); its post-start runs \
                     `container state {FEATURE} up kube`"
                )));
                self.kube = Some(KubeContainer {
                    id: id.clone(),
                    version,
                    phase: KubePhase::Waiting,
                });
                self.feed(Input::KubeUp(id));
                return true;
            }
        }
        if let Some(k) = self.kube.clone()
            && k.phase == KubePhase::Waiting
            && self.rec.transition_mode == ctrmgr_core::TransitionMode::KubeReady
        {
            self.lines.push(Line::Event(format!(
                "{}: sees transition_mode=kube_ready and asks again",
                k.id
            )));
            self.feed(Input::KubeUp(k.id));
            return true;
        }
        if approval_pending(&self.rec) && self.hostcfgd_seen.as_ref() != Some(&self.rec) {
            self.hostcfgd_seen = Some(self.rec.clone());
            let unit = self.unit();
            self.lines.push(Line::Event(format!(
                "hostcfgd: sees transition_mode=kube_pending (unit {unit})"
            )));
            self.feed(Input::Approve { unit });
            return true;
        }
        false
    }

    /// A container went away outside any command: its pre-stop says Down, and when it owned
    /// the feature `container wait` returns, so systemd runs ExecStop and restarts the unit.
    fn container_exited(&mut self, id: ContainerId) {
        let owned = self.rec.docker_id.as_ref() == Some(&id);
        self.feed(Input::Down(id));
        if owned && self.service_active {
            self.lines.push(Line::Event(
                "systemd: `container wait` returned; ExecStop, then Restart=always".to_owned(),
            ));
            self.service_active = false;
            self.feed(Input::Stop(StopOptions::default()));
            self.service_active = true;
            self.feed(Input::Start);
        }
    }

    fn new_id(&mut self, kind: &str) -> ContainerId {
        let n = if kind == "kube" {
            &mut self.next_kube
        } else {
            &mut self.next_local
        };
        let id = format!("{kind}-{n}");
        *n += 1;
        ContainerId::new(&id).expect("kind-N is a valid container id")
    }

    /// What `systemctl is-active` says (this world's unit never fails).
    fn unit(&self) -> UnitActivity {
        if self.service_active {
            UnitActivity::Active
        } else {
            UnitActivity::Inactive
        }
    }

    fn systemctl_start(&mut self) {
        if self.service_active {
            self.note("systemctl start: the unit is already active");
            return;
        }
        self.service_active = true;
        self.feed(Input::Start);
    }

    fn systemctl_stop(&mut self) {
        if !self.service_active {
            self.note("systemctl stop: the unit is not active");
            return;
        }
        self.service_active = false;
        self.feed(Input::Stop(StopOptions::default()));
    }

    /// Steps the core and carries out its effects like the driver, re-stepping after a lost
    /// compare-and-set.
    fn feed(&mut self, input: Input) {
        for attempt in 0..=CAS_RETRIES {
            let from = self.rec.state();
            let s = step(&self.rec, &self.cfg, input.clone(), self.now);
            self.steps += 1;
            let mut shown = input_text(&input);
            if attempt > 0 {
                shown.push_str(" (again)");
            }
            self.lines.push(Line::Step(Row {
                n: self.steps,
                depth: self.depth,
                input: shown,
                from,
                to: s.next,
                effects: s
                    .effects
                    .iter()
                    .map(|e| render::effect(e, &|id| id.to_string()))
                    .collect(),
                reason: s.reason.text(),
            }));
            self.depth += 1;
            let done = self.execute(&s.effects, &input);
            self.depth -= 1;
            self.check_owners(&input);
            if done {
                return;
            }
        }
        self.violations.push(format!(
            "{} lost {CAS_RETRIES} compare-and-sets",
            input_text(&input)
        ));
    }

    /// Carries out effects in order; false when a guarded write lost its compare-and-set.
    fn execute(&mut self, effects: &[Effect], input: &Input) -> bool {
        for e in effects {
            match e {
                Effect::LabelAdd => self.label_op(true),
                Effect::LabelRemove => self.label_op(false),
                Effect::DockerStart => {
                    let id = match &self.local {
                        Some(id) => id.clone(),
                        None => {
                            let id = self.new_id("local");
                            self.local = Some(id.clone());
                            id
                        }
                    };
                    self.feed(Input::LocalUp(id));
                }
                Effect::DockerStop { target, .. } | Effect::DockerKill { target } => {
                    self.remove_container(target);
                }
                Effect::AwaitExit { id, .. } => {
                    let removed = !self.label && self.pending.is_empty();
                    if removed && self.kubelet_running && self.master_up {
                        self.note(format!("kubelet stops {id} after the label removal"));
                    } else {
                        self.note(format!(
                            "the label removal is queued and kubelet is stopped: docker stop {id}"
                        ));
                    }
                    self.remove_container(&Target::Id(id.clone()));
                }
                Effect::Write(w) => {
                    if let Some(g) = w.guard
                        && self.rec.transition_mode != g
                    {
                        self.note(format!(
                            "the write expected mode={g} but finds mode={}: re-read, step again",
                            self.rec.transition_mode
                        ));
                        return false;
                    }
                    w.apply(&mut self.rec);
                }
                Effect::SystemctlResetFailed | Effect::SystemctlResetStartLimit => {}
                Effect::SystemctlTryRestart => {
                    if self.service_active {
                        self.systemctl_stop();
                        self.systemctl_start();
                    } else {
                        self.note("systemctl try-restart: the unit is not active, nothing to do");
                    }
                }
                Effect::SystemctlStart => self.systemctl_start(),
                Effect::Answer(a) => {
                    if let (Input::KubeUp(id), Some(k)) = (input, self.kube.as_mut())
                        && k.id == *id
                    {
                        k.phase = match a {
                            KubeAnswer::Proceed => KubePhase::Running,
                            KubeAnswer::Wait => KubePhase::Waiting,
                            KubeAnswer::Park => KubePhase::Parked,
                        };
                    }
                }
            }
        }
        true
    }

    fn remove_container(&mut self, target: &Target) {
        match target {
            Target::LocalByName => self.local = None,
            Target::Id(id) => {
                if self.local.as_ref() == Some(id) {
                    self.local = None;
                }
                if self.kube.as_ref().is_some_and(|k| k.id == *id) {
                    self.kube = None;
                }
            }
        }
    }

    /// A label operation: sent when the master is reachable and nothing is queued, else
    /// queued behind the pending list, with kubelet stopped (DESIGN.md §6).
    fn label_op(&mut self, add: bool) {
        if self.master_up && self.pending.is_empty() {
            self.label = add;
            return;
        }
        self.pending.push(add);
        let mut text = format!(
            "label {} queued ({} pending)",
            if add { "add" } else { "remove" },
            self.pending.len()
        );
        if self.kubelet_running {
            self.kubelet_running = false;
            text.push_str("; systemctl stop kubelet");
        }
        self.note(text);
    }

    /// kube-labeler: once the master answers, coalesce and send the pending list, then start
    /// kubelet.
    fn drain(&mut self) {
        if let Some(&last) = self.pending.last() {
            self.label = last;
            self.lines.push(Line::Event(format!(
                "kube-labeler: drains {} pending label operations (label {}); systemctl start kubelet",
                self.pending.len(),
                if last { "on" } else { "off" }
            )));
            self.pending.clear();
            self.kubelet_running = true;
        }
    }

    /// Invariant 2: never two owners.
    fn check_owners(&mut self, input: &Input) {
        let claimed = self
            .kube
            .as_ref()
            .is_some_and(|k| k.phase == KubePhase::Running);
        if self.local.is_some() && claimed {
            self.violations.push(format!(
                "after {}: a local and a claimed kube container run together",
                input_text(input)
            ));
        }
    }

    /// Invariant 3: in a stable state the record is the truth.
    fn check_stable(&mut self, event: &Event) {
        let running_kube = self
            .kube
            .as_ref()
            .filter(|k| k.phase == KubePhase::Running)
            .map(|k| k.id.clone());
        let truthful = match self.state() {
            State::Init => self.local.is_none() && running_kube.is_none(),
            State::Local => self.local.is_some() && self.rec.docker_id == self.local,
            State::KubeRunning => running_kube.is_some() && self.rec.docker_id == running_kube,
            _ => true,
        };
        let id_agrees =
            self.rec.docker_id.is_some() == (self.rec.current_owner != CurrentOwner::None);
        if !truthful || !id_agrees {
            self.violations.push(format!(
                "after \"{}\": state {} but local={:?}, kube={:?}, docker_id={:?}",
                event.text(),
                self.state(),
                self.local,
                self.kube,
                self.rec.docker_id
            ));
        }
    }

    fn summary(&self) -> String {
        let kube = self.kube.as_ref().map_or_else(
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
        format!(
            "end: {}; local container: {}; kube container: {kube}; label: {}; pending labels: {}; \
             kubelet: {}; unit: {}",
            self.state(),
            self.local.as_ref().map_or("none", ContainerId::as_str),
            if self.label { "on" } else { "off" },
            self.pending.len(),
            if self.kubelet_running {
                "running"
            } else {
                "stopped"
            },
            if self.service_active {
                "active"
            } else {
                "inactive"
            },
        )
    }

    fn print(&self, number: usize, scenario: &Scenario, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "=== {number}. {} ===", scenario.title)?;
        writeln!(
            out,
            "{FEATURE}: set_owner={}, fallback_to_local={}, kube_failure_detection={}",
            scenario.config.set_owner,
            scenario.config.fallback_to_local,
            scenario.config.kube_failure_detection_mins
        )?;
        writeln!(out, "{}\n", scenario.story)?;

        let rows: Vec<&Row> = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Step(r) => Some(r),
                _ => None,
            })
            .collect();
        let input_cell = |r: &Row| {
            if r.depth == 0 {
                r.input.clone()
            } else {
                format!("{}↳ {}", "  ".repeat(r.depth - 1), r.input)
            }
        };
        let width = |head: &str, cells: &mut dyn Iterator<Item = String>| {
            cells
                .map(|c| c.chars().count())
                .chain([head.chars().count()])
                .max()
                .unwrap_or(0)
        };
        let w_n = width("#", &mut rows.iter().map(|r| r.n.to_string()));
        let w_in = width("input", &mut rows.iter().map(|r| input_cell(r)));
        let w_from = width("from", &mut rows.iter().map(|r| r.from.to_string()));
        let w_to = width("to", &mut rows.iter().map(|r| r.to.to_string()));
        let w_fx = width(
            "effects",
            &mut rows.iter().flat_map(|r| r.effects.iter().cloned()),
        )
        .max("nothing".len());
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
        for l in &self.lines {
            match l {
                Line::Event(text) => writeln!(out, "» {text}")?,
                Line::Note(text) => writeln!(out, "{}· {text}", " ".repeat(indent))?,
                Line::Step(r) => {
                    let n = r.n.to_string();
                    let input = input_cell(r);
                    let (from, to) = (r.from.to_string(), r.to.to_string());
                    let first = r.effects.first().map_or("nothing", String::as_str);
                    line(out, [&n, &input, &from, &to, first, r.reason])?;
                    for fx in r.effects.iter().skip(1) {
                        line(out, ["", "", "", "", fx, ""])?;
                    }
                }
            }
        }
        writeln!(out, "{}", self.summary())?;
        for v in &self.violations {
            writeln!(out, "INVARIANT VIOLATED: {v}")?;
        }
        Ok(())
    }
}

/// Pads to a width in characters (not bytes: the tables use `↳` and `≤`).
fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

fn input_text(input: &Input) -> String {
    match input {
        Input::LocalUp(id) | Input::KubeUp(id) | Input::Down(id) => {
            format!("{}({id})", input.name())
        }
        Input::Approve { unit } | Input::FailureTimeout { unit } => {
            format!("{}({unit})", input.name())
        }
        _ => input.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(title: &str) -> World {
        let scenario = scenarios()
            .into_iter()
            .find(|s| s.title == title)
            .expect("the scenario exists");
        World::play(&scenario)
    }

    fn running_kube(w: &World) -> Option<&str> {
        w.kube
            .as_ref()
            .filter(|k| k.phase == KubePhase::Running)
            .map(|k| k.id.as_str())
    }

    #[test]
    fn no_scenario_breaks_an_invariant() {
        for s in scenarios() {
            let w = World::play(&s);
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
        assert_eq!(w.next_local, 1, "no local container was ever started");
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
