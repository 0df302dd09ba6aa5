//! One in-process simulator of a feature's world, carrying out the core's effects the way the
//! driver and the daemons do: the proptest world of `ctrmgr-core`'s tests drives it with random
//! events, and `cargo xtask demo --model` with the seed's scripted scenarios (as quinn-proto's
//! test `Pair` serves both its scripted and its random tests). docs/decisions.md shape-2.
//!
//! It plays every part around [`ctrmgr_core::step`]: systemd (`systemctl start/stop/
//! try-restart` feed Start/Stop; with [`Options::unit_follows_owner`], when the owning
//! container exits outside a stop, `container wait` returns, systemd runs ExecStop and restarts
//! the unit), the local engine (`docker start` answers an id, fed back as LocalUp), the master
//! and kubelet (the node label, the pending-label list while the master is unreachable, a
//! DaemonSet whose containers call `container state up kube` and `down`), hostcfgd (Approve)
//! and kube-monit (FailureTimeout). Unlike the stateright model (`crate::model`), reactions
//! run one at a time until the world is quiet, so a run is deterministic.
//!
//! Every step is checked against the invariants of DESIGN.md §4 it can break (1: kube_ready
//! and proceed only as the table allows; 2: never two owners; 3: in a stable state the record
//! is the truth; and the step's announced `next` is where its effects led); the first broken
//! one is recorded in [`Sim::violations`] and the simulator then stops carrying out effects.

mod checks;
mod driver;
mod outside;

use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, Reason, State,
    Timestamp, UnitActivity,
};

/// When the `Down` of a container that the core's own effects stopped reaches the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownTiming {
    /// At once: its pre-stop hook races the step that stopped it.
    Immediate,
    /// Later, when [`Sim::deliver_downs`] is called (its `container wait`); never, if it is
    /// not called.
    Deferred,
}

/// How the simulator's world behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// When the Down of a container stopped by the core's effects arrives.
    pub downs: DownTiming,
    /// kubelet stops the kube container as soon as the label goes (a cooperative kube).
    pub sync_kubelet: bool,
    /// kubelet deploys and stops the DaemonSet's container by itself (from the label and
    /// [`Sim::daemonset`]) and hostcfgd approves by itself, while the world settles; else
    /// both act only when called ([`Sim::kube_deploys`], [`Sim::approve`]).
    pub reactive: bool,
    /// When the container that owns the feature exits on its own, systemd restarts the unit.
    pub unit_follows_owner: bool,
    /// Reactions after one event before the world counts as not settling.
    pub max_reactions: usize,
    /// The feature's name, for the transcript.
    pub feature: &'static str,
}

/// Where a kube container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubePhase {
    /// Blocked in `container state up kube`: it asks again when the mode becomes kube_ready or
    /// set_owner turns local.
    Waiting,
    /// Told never to proceed (owner local). It keeps watching its CONFIG_DB row and asks again
    /// once set_owner is kube (docs/decisions.md: taken literally, "blocks forever" leaves the
    /// DaemonSet's slot taken and the feature never reaches KUBE_RUNNING).
    Parked,
    /// Proceeded: it runs the feature.
    Running,
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

/// One step of the core, as the simulator took it.
#[derive(Debug, Clone)]
pub struct StepLine {
    /// Its number in the run, from 1.
    pub n: usize,
    /// How deep in feedback (0: fed by an outside event).
    pub depth: usize,
    /// What was fed.
    pub input: Input,
    /// The attempt (above 0 after a lost compare-and-set).
    pub attempt: u32,
    /// The state the record read as.
    pub from: State,
    /// The state the step announced.
    pub to: State,
    /// Its effects, in order.
    pub effects: Vec<Effect>,
    /// Its reason.
    pub reason: Reason,
}

/// One line of a run's transcript.
#[derive(Debug, Clone)]
pub enum Line {
    /// Something that happened outside the core.
    Event(String),
    /// A step of the core.
    Step(StepLine),
    /// A remark about how an effect was carried out.
    Note(String),
}

/// The feature and everything around it.
#[derive(Debug, Clone)]
pub struct Sim {
    /// CONFIG_DB `FEATURE|<f>`.
    pub cfg: FeatureConfig,
    /// STATE_DB `FEATURE|<f>`.
    pub rec: FeatureRecord,
    /// The clock.
    pub now: Timestamp,
    /// Whether the systemd unit is active (this world's unit never fails).
    pub service_active: bool,
    /// The running local container.
    pub local: Option<ContainerId>,
    /// The kube container on this node.
    pub kube: Option<KubeContainer>,
    /// The node label `<f>_enabled=true` as the master has it.
    pub label: bool,
    /// Queued label operations (true = add), in order.
    pub pending: Vec<bool>,
    /// Whether the master is reachable.
    pub master_up: bool,
    /// Whether kubelet runs.
    pub kubelet_running: bool,
    /// The DaemonSet's image version, when one is applied.
    pub daemonset: Option<u32>,
    /// Downs of stopped containers not delivered yet ([`DownTiming::Deferred`]).
    pub deferred_downs: Vec<ContainerId>,
    /// How this world behaves.
    pub options: Options,
    /// What happened, in order.
    pub lines: Vec<Line>,
    /// Invariants found broken (the first stops the run).
    pub violations: Vec<String>,
    next_local: u32,
    next_kube: u32,
    hostcfgd_seen: Option<FeatureRecord>,
    steps: usize,
    depth: usize,
}

impl Sim {
    /// A world in INIT at `now`: nothing runs, no label, the unit inactive, the master up.
    pub fn new(cfg: FeatureConfig, now: Timestamp, options: Options) -> Self {
        Sim {
            cfg,
            rec: FeatureRecord::default(),
            now,
            service_active: false,
            local: None,
            kube: None,
            label: false,
            pending: Vec::new(),
            master_up: true,
            kubelet_running: true,
            daemonset: None,
            deferred_downs: Vec::new(),
            options,
            lines: Vec::new(),
            violations: Vec::new(),
            next_local: 1,
            next_kube: 1,
            hostcfgd_seen: None,
            steps: 0,
            depth: 0,
        }
    }

    /// A world whose record is the canonical record of `state` (timestamps at `now`), with the
    /// containers that state implies running, the unit active unless in INIT, and the label
    /// on when `label` or a kube container exists (kubelet saw it) or in KUBE_READY.
    pub fn in_state(
        state: State,
        cfg: FeatureConfig,
        label: bool,
        now: Timestamp,
        options: Options,
    ) -> Self {
        let mut w = Sim::new(cfg, now, options);
        let local = matches!(state, State::Local | State::LocalToKube).then(|| w.new_local_id());
        let kube = match state {
            State::LocalToKube | State::KubePending => Some(KubePhase::Waiting),
            State::KubeRunning => Some(KubePhase::Running),
            _ => None,
        }
        .map(|phase| KubeContainer {
            id: w.new_kube_id(),
            version: 0,
            phase,
        });
        let owner_id = match state.pair().0 {
            CurrentOwner::Local => local.clone(),
            CurrentOwner::Kube => kube.as_ref().map(|k| k.id.clone()),
            CurrentOwner::None => None,
        };
        w.rec = FeatureRecord::of_state(state, owner_id);
        w.rec.current_owner_update_ts = Some(now);
        w.rec.transition_mode_update_ts = Some(now);
        w.local = local;
        w.label = label || kube.is_some() || matches!(state, State::KubeReady);
        w.kube = kube;
        w.service_active = !matches!(state, State::Init);
        w
    }

    /// The state the record reads as.
    pub fn state(&self) -> State {
        self.rec.state()
    }

    /// The id of the kube container that runs the feature, if one does.
    pub fn claimed(&self) -> Option<&ContainerId> {
        self.kube
            .as_ref()
            .filter(|k| k.phase == KubePhase::Running)
            .map(|k| &k.id)
    }

    /// How many local containers `docker start` created.
    pub fn local_starts(&self) -> u32 {
        self.next_local - 1
    }

    /// What `systemctl is-active` says.
    pub fn unit(&self) -> UnitActivity {
        if self.service_active {
            UnitActivity::Active
        } else {
            UnitActivity::Inactive
        }
    }

    /// Records an outside event.
    pub fn event(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Event(text.into()));
    }

    fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
    }

    fn violate(&mut self, what: String) {
        self.violations.push(what);
    }

    fn new_local_id(&mut self) -> ContainerId {
        let id = format!("local-{}", self.next_local);
        self.next_local += 1;
        ContainerId::new(&id).expect("local-N is a valid container id")
    }

    fn new_kube_id(&mut self) -> ContainerId {
        let id = format!("kube-{}", self.next_kube);
        self.next_kube += 1;
        ContainerId::new(&id).expect("kube-N is a valid container id")
    }

    /// The run so far, one line per event, step and note, then the world: for the message of
    /// a failed check.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let text = match l {
                Line::Event(e) => format!("== {e}"),
                Line::Note(n) => format!("   · {n}"),
                Line::Step(s) => format!(
                    "{}{} {} -> {} {:?} ({:?})",
                    "  ".repeat(s.depth),
                    s.from,
                    input_text(&s.input),
                    s.to,
                    s.effects,
                    s.reason
                ),
            };
            out.push_str(&text);
            out.push('\n');
        }
        out.push_str(&format!(
            "record: {:?}\nconfig: {:?}\nlocal: {:?} kube: {:?} label: {} pending: {:?} active: {}",
            self.rec,
            self.cfg,
            self.local,
            self.kube,
            self.label,
            self.pending,
            self.service_active
        ));
        out
    }
}

/// An input as the transcripts spell it: its name, with its id or the unit's activity.
pub fn input_text(input: &Input) -> String {
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
