//! The stateright [`Model`]: the world's actions, how the driver executes `step`'s effects, and
//! the properties of DESIGN.md §4.

use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::{
    CurrentOwner, KubeAnswer, Owner, State, TransitionMode, UnitActivity, approval_pending,
    next_deadline, step,
};
use stateright::{Model, Property};

use crate::world::{
    AfterStop, Budget, Cfg, Eff, Ghost, Hostcfgd, Id, In, KUBE_IDS, Kube, KubeCtr, Local, Main,
    NOW, Operator, Phase, Pod, Proc, Row, Tgt, Unit, Who, World, Wr,
};

/// Which approval flow the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// This project's flow: [`ctrmgr_core::step`] as it is. A waiting kube container blocks
    /// until the mode changes and asks again; a parked one asks again once `set_owner` is
    /// kube; Stop keeps the label during an approval; hostcfgd approves with `systemctl stop`
    /// and `systemctl start` only (the Start approves in place).
    Ours,
    /// The seed's literal flow: the real `step`, except that Stop with owner kube in
    /// LOCAL_TO_KUBE, KUBE_PENDING and KUBE_STOPPED also removes the label (the seed's
    /// `container stop` removes the label in kube mode), and a kube container told to wait
    /// sleeps for ever, relying on the DaemonSet controller to delete and recreate it (and a
    /// parked one blocks for ever).
    Seed,
    /// The daemons' rules of wave 1, before issue 8 (for the tests that show the model finds
    /// what that issue found): hostcfgd's Approve is `systemctl stop` then `systemctl start`
    /// whenever a local container runs or the unit is active (whatever the operator did), and
    /// kube-monit's FailureTimeout writes `transition_mode=none` and runs `systemctl restart`.
    Wave1,
}

/// One initial situation: configuration, whether kube deploys, whether a label is left on
/// the node from an earlier boot, and what the environment may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The initial configuration.
    pub cfg: Cfg,
    /// Whether a DaemonSet deploys the feature.
    pub kube: Kube,
    /// The node label is already on the node at boot (left from before a reboot).
    pub stale_label: bool,
    /// What the environment may do.
    pub budget: Budget,
    /// The unit's `StartLimitBurst` (0: no limit).
    pub burst: u8,
}

impl Scenario {
    /// The world at boot.
    pub fn world(&self) -> World {
        World {
            kube: self.kube,
            cfg: self.cfg,
            row: Row::default(),
            local: Local::default(),
            master_up: true,
            label: self.stale_label,
            pending: None,
            manifest: self.kube == Kube::Deploys,
            pod: None,
            unit: Unit::Inactive,
            operator: Operator {
                booted: false,
                proc: None,
                to_local: false,
                held_down: false,
                lone_stop: false,
            },
            hostcfgd: Hostcfgd::default(),
            monit: None,
            budget: Budget {
                removals: if self.kube == Kube::Deploys {
                    self.budget.removals
                } else {
                    0
                },
                ..self.budget
            },
            faulted: false,
            lock: None,
            burst: self.burst,
            starts: 0,
            ghost: Ghost::default(),
        }
    }
}

/// Everything that can happen in the world. System actions are what the software and
/// Kubernetes do by themselves; environment actions are what the operator, time and faults
/// do (see [`Action::is_environment`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// systemd starts the unit at boot (the operator's `systemctl start`).
    Boot,
    /// A plan executes its next effect (or feeds its next input).
    Advance(Who),
    /// The bounded wait for a kube container to exit times out: `docker stop` it.
    AwaitTimeout(Who),
    /// RestartSec elapsed: systemd starts the unit again (Restart=always).
    RestartTimer,
    /// `container wait` sees a `docker_id` and starts `docker wait` on it.
    MainSeesId,
    /// `container wait` sees its container exit: records Down, the main process exits.
    MainSeesExit,
    /// A kube container's post-start runs `container state up kube`.
    CtrAsk,
    /// A waiting kube container sees the mode change (or `set_owner` turn local) and asks
    /// again; a parked one sees `set_owner` kube and asks again.
    CtrReask,
    /// The local container runs `container state up local` itself.
    LocalAnnounce,
    /// The DaemonSet controller creates the pod (label present).
    ControllerCreate,
    /// The DaemonSet controller deletes the pod (label absent or manifest removed).
    ControllerDelete,
    /// kubelet starts a container in the pod.
    KubeletStart,
    /// kubelet stops the deleted pod's container (SIGTERM: pre-stop records Down) and
    /// removes the pod.
    KubeletStopPod,
    /// kube-labeler drains the pending labels and starts kubelet.
    Drain,
    /// The master comes back.
    MasterUp,
    /// hostcfgd-watcher sees a changed row with `kube_pending` and decides an approval.
    HostcfgdSees,
    /// Environment: the operator changes `set_owner` and runs `systemctl stop` + `start`.
    ChangeOwner,
    /// Environment: the operator runs `systemctl stop` alone, and never starts the unit again.
    OperatorStop,
    /// Environment (time): kube-monit's deadline passes.
    DeadlinePassed,
    /// Environment: a manifest update (kube replaces the pod).
    ManifestUpdate,
    /// Environment: the manifest is removed (kube stops deploying).
    ManifestRemove,
    /// Fault: the master becomes unreachable.
    MasterDown,
    /// Fault: the local container crashes (no Down).
    CrashLocal,
    /// Fault: the kube container crashes (no Down); also a crash-looping image's crashes.
    CrashKube,
    /// Fault: hostcfgd-watcher crashes and restarts (loses its plan, rescans).
    CrashHostcfgd,
    /// Fault: kube-monit crashes and restarts (loses its plan).
    CrashMonit,
    /// Environment: nothing more will happen (all remaining operator, fault and manifest
    /// budgets are dropped), so that a stuck world becomes a terminal state.
    Retire,
}

impl Action {
    /// Every action, in the fixed order stateright needs.
    pub const ALL: [Action; 30] = [
        Action::Boot,
        Action::Advance(Who::Unit),
        Action::Advance(Who::Operator),
        Action::Advance(Who::Hostcfgd),
        Action::Advance(Who::Monit),
        Action::Advance(Who::Ctr),
        Action::AwaitTimeout(Who::Unit),
        Action::RestartTimer,
        Action::MainSeesId,
        Action::MainSeesExit,
        Action::CtrAsk,
        Action::CtrReask,
        Action::LocalAnnounce,
        Action::ControllerCreate,
        Action::ControllerDelete,
        Action::KubeletStart,
        Action::KubeletStopPod,
        Action::Drain,
        Action::MasterUp,
        Action::HostcfgdSees,
        Action::ChangeOwner,
        Action::OperatorStop,
        Action::DeadlinePassed,
        Action::ManifestUpdate,
        Action::ManifestRemove,
        Action::MasterDown,
        Action::CrashLocal,
        Action::CrashKube,
        Action::CrashHostcfgd,
        Action::CrashMonit,
    ];

    /// Whether the operator, time or a fault does this (as opposed to the software and
    /// Kubernetes reacting). A world where only environment actions are possible is settled.
    pub fn is_environment(self) -> bool {
        matches!(
            self,
            Action::ChangeOwner
                | Action::OperatorStop
                | Action::DeadlinePassed
                | Action::ManifestUpdate
                | Action::ManifestRemove
                | Action::MasterDown
                | Action::CrashLocal
                | Action::CrashKube
                | Action::CrashHostcfgd
                | Action::CrashMonit
                | Action::Retire
        )
    }
}

/// What `step` decided, translated.
struct Decision {
    next: State,
    effects: Vec<Eff>,
}

/// The world of one feature, as a stateright model. Its initial states are the
/// [`Scenario`]s; its transitions drive the real [`ctrmgr_core::step`].
#[derive(Clone, Debug)]
pub struct FeatureWorld {
    /// Which approval flow.
    pub flow: Flow,
    /// The initial situations.
    pub scenarios: Vec<Scenario>,
}

impl FeatureWorld {
    /// The model with the default scenarios (see [`default_scenarios`]).
    pub fn new(flow: Flow) -> Self {
        FeatureWorld {
            flow,
            scenarios: default_scenarios(),
        }
    }

    /// Asks the real `step`; in the seed flow, adds the seed's label removal on Stop.
    fn decide(&self, w: &World, input: In) -> Decision {
        let s = step(&w.row.to_record(), &w.cfg.to_core(), input.to_core(), NOW);
        let mut effects: Vec<Eff> = s.effects.iter().map(Eff::from_core).collect();
        if self.flow == Flow::Wave1 {
            let state = w.row.state();
            match input {
                In::Approve(unit) => {
                    let approves = state == State::LocalToKube
                        || (state == State::KubePending && unit == UnitActivity::Active);
                    effects = if approves {
                        vec![Eff::SystemctlStop, Eff::SystemctlStart]
                    } else {
                        Vec::new()
                    };
                }
                In::FailureTimeout(_)
                    if matches!(state, State::KubeReady | State::KubeStopped)
                        && w.cfg.to_core().failure_detection_armed() =>
                {
                    effects = vec![
                        Eff::Write(Wr {
                            guard: Some(w.row.mode),
                            owner: None,
                            mode: Some(TransitionMode::None),
                            start_requested: None,
                        }),
                        Eff::SystemctlRestart,
                    ];
                }
                _ => {}
            }
        }
        if self.flow == Flow::Seed
            && input == In::Stop
            && w.cfg.owner == Owner::Kube
            && matches!(
                w.row.state(),
                State::LocalToKube | State::KubePending | State::KubeStopped
            )
            && !effects.contains(&Eff::LabelRemove)
        {
            // The seed's `container stop` in kube mode removes the label, relying on kube to
            // undeploy the pending container and deploy it again after the next start.
            effects.insert(0, Eff::LabelRemove);
        }
        Decision {
            next: s.next,
            effects,
        }
    }

    /// Reads the row and decides `input` for a plan (also a re-read and re-step after a lost
    /// compare-and-set).
    fn feed(&self, w: &World, p: &mut Proc, input: In) {
        let d = self.decide(w, input);
        p.input = input;
        p.effects = d.effects;
        p.decided_in = w.row.state();
        p.decided_owner = w.cfg.owner;
        p.next_mode = d.next.pair().1;
    }

    /// A plan that decides `first` now and feeds `then` afterwards.
    fn plan(&self, w: &World, first: In, then: Vec<In>) -> Proc {
        let mut p = Proc::of_effects(Vec::new());
        p.then = then;
        self.feed(w, &mut p, first);
        p
    }

    /// Runs a one-shot command whose effects are writes and container stops (Down, and the
    /// local container's own LocalUp), retrying lost compare-and-sets like the driver.
    fn atomic(&self, n: &mut World, input: In) {
        let held = n.lock.replace(Who::Cmd);
        self.atomic_locked(n, input);
        n.lock = held;
    }

    fn atomic_locked(&self, n: &mut World, input: In) {
        'retry: for _ in 0..=CAS_RETRIES {
            let d = self.decide(n, input);
            for e in d.effects {
                match e {
                    Eff::Write(wr) => {
                        if !guard_holds(n, wr) {
                            continue 'retry;
                        }
                        if wr.mode == Some(TransitionMode::KubeReady) {
                            n.ghost.inv1 = false;
                        }
                        apply_write(n, wr);
                    }
                    Eff::DockerStop(t) => {
                        // `docker stop` waits for the container's pre-stop, which takes the
                        // lock: the command lets go of it meanwhile.
                        let held = n.lock.take();
                        self.stop(n, t, true);
                        n.lock = held;
                    }
                    Eff::DockerKill(t) => self.stop(n, t, false),
                    _ => n.ghost.sound = false,
                }
            }
            return;
        }
    }

    /// Stops a container. A graceful stop lets its pre-stop `container state down` record
    /// Down first; that takes the feature lock, so graceful stops happen only when nobody
    /// holds it (callers make sure of it; otherwise the pre-stop would block and the container
    /// be killed at the end of its grace period without recording anything).
    fn stop(&self, n: &mut World, t: Tgt, graceful: bool) {
        let pre_stop = graceful && n.lock.is_none();
        match t {
            Tgt::LocalByName | Tgt::Id(Id::Local) => {
                if n.local.running {
                    if pre_stop {
                        self.atomic(n, In::Down(Id::Local));
                    }
                    n.local = Local::default();
                }
            }
            Tgt::Id(Id::Kube(k)) => {
                if n.running(Id::Kube(k)) {
                    if pre_stop {
                        self.atomic(n, In::Down(Id::Kube(k)));
                    }
                    remove_ctr(n);
                }
            }
        }
    }

    /// A `container` command starts: it decides its first input at once if it gets the lock,
    /// else it blocks on the lock with nothing decided.
    fn launch(&self, n: &mut World, who: Who, mut inputs: Vec<In>) -> Proc {
        let mut p = Proc::of_effects(Vec::new());
        if n.lock.is_none() && !inputs.is_empty() {
            n.lock = Some(who);
            let first = inputs.remove(0);
            p.then = inputs;
            self.feed(n, &mut p, first);
            release_if_idle(n, who, &p);
        } else {
            p.then = inputs;
        }
        p
    }

    /// systemd starts a start job: ExecStartPre runs `container start`. Beyond
    /// `StartLimitBurst` starts since the last `reset-failed`, systemd refuses and the unit
    /// fails instead.
    fn begin_start(&self, n: &mut World) {
        if n.operator.held_down {
            // Invariant 6: the operator stopped the unit and has not started it since.
            n.ghost.inv6 = false;
        }
        if n.burst > 0 {
            if n.starts >= n.burst {
                n.unit = Unit::Failed;
                self.job_done(n);
                return;
            }
            n.starts += 1;
        }
        let p = self.launch(n, Who::Unit, vec![In::Start]);
        if p.is_done() {
            n.unit = Unit::Active(Main::AwaitId);
            self.job_done(n);
        } else {
            n.unit = Unit::Starting(p);
        }
    }

    /// systemd starts a stop job: ExecStop runs `container stop`.
    fn begin_stop(&self, n: &mut World, then: AfterStop) {
        let p = self.launch(n, Who::Unit, vec![In::Stop]);
        if p.is_done() {
            self.stop_done(n, then);
        } else {
            n.unit = Unit::Stopping { proc: p, then };
        }
    }

    /// A unit's stop is done.
    fn stop_done(&self, n: &mut World, then: AfterStop) {
        match then {
            AfterStop::Inactive => {
                n.unit = Unit::Inactive;
                self.job_done(n);
            }
            AfterStop::AutoRestart => {
                n.unit = Unit::AutoRestart;
                self.job_done(n);
            }
            AfterStop::Start => self.begin_start(n),
        }
    }

    /// The unit's job is done: the `systemctl` call that started it returns now.
    fn job_done(&self, n: &mut World) {
        if let Some(p) = n.operator.proc.as_mut()
            && p.await_unit
        {
            p.await_unit = false;
            if p.is_done() {
                self.operator_done(n);
            }
        }
        for p in [n.hostcfgd.plan.as_mut(), n.monit.as_mut()]
            .into_iter()
            .flatten()
        {
            p.await_unit = false;
        }
        if let Some(p) = n.hostcfgd.plan.take_if(|p| p.is_done()) {
            self.relook(n, Who::Hostcfgd, p.input);
        }
        if let Some(p) = n.monit.take_if(|p| p.is_done()) {
            self.relook(n, Who::Monit, p.input);
        }
    }

    /// A daemon's plan is done. If what it acted on is still there (the row still pending,
    /// the deadline still passed) and the unit's activity is not what it was fed, it looks
    /// again (the contract of the daemons: a try-restart that did nothing, or whose start
    /// systemd refused, is followed by a new look).
    fn relook(&self, n: &mut World, who: Who, fed: In) {
        let now = n.unit.activity();
        match (who, fed) {
            (Who::Hostcfgd, In::Approve(was))
                if was != now && approval_pending(&n.row.to_record()) =>
            {
                n.hostcfgd.notified = true;
            }
            (Who::Monit, In::FailureTimeout(was))
                if was != now
                    && n.row.due
                    && next_deadline(&n.row.to_record(), &n.cfg.to_core()).is_some() =>
            {
                let p = self.plan(n, In::FailureTimeout(now), Vec::new());
                n.monit = (!p.is_done()).then_some(p);
            }
            _ => {}
        }
    }

    /// The operator's systemctl calls are done; after a change to owner local, invariant 4
    /// is checked.
    fn operator_done(&self, n: &mut World) {
        n.operator.proc = None;
        if n.operator.to_local {
            n.operator.to_local = false;
            // Invariant 4: with owner local, the operator's stop then start ends in LOCAL with
            // no kube container claimed (without faults).
            let ok = n.row.state() == State::Local
                && n.row.id == Some(Id::Local)
                && n.local.running
                && n.claimed().is_none();
            if !ok && !n.faulted {
                n.ghost.inv4 = false;
            }
        }
    }

    /// The plan of `who`, if it has one.
    fn proc_of<'a>(&self, w: &'a World, who: Who) -> Option<&'a Proc> {
        match who {
            Who::Unit => match &w.unit {
                Unit::Starting(p) | Unit::Stopping { proc: p, .. } => Some(p),
                _ => None,
            },
            Who::Operator => w.operator.proc.as_ref(),
            Who::Hostcfgd => w.hostcfgd.plan.as_ref(),
            Who::Monit => w.monit.as_ref(),
            Who::Ctr => match w.ctr().map(|c| &c.phase) {
                Some(Phase::Asking(p)) => Some(p),
                _ => None,
            },
            Who::Cmd => None,
        }
    }

    /// Puts `who`'s plan back, or finishes it.
    fn put_back(&self, n: &mut World, who: Who, p: Proc, ctr_id: Option<u8>) {
        release_if_idle(n, who, &p);
        let done = p.is_done();
        match who {
            Who::Unit => match std::mem::replace(&mut n.unit, Unit::Inactive) {
                Unit::Starting(_) if done => {
                    n.unit = Unit::Active(Main::AwaitId);
                    self.job_done(n);
                }
                Unit::Starting(_) => n.unit = Unit::Starting(p),
                Unit::Stopping { then, .. } if done => self.stop_done(n, then),
                Unit::Stopping { then, .. } => n.unit = Unit::Stopping { proc: p, then },
                other => n.unit = other,
            },
            Who::Operator => {
                n.operator.proc = Some(p);
                if done {
                    self.operator_done(n);
                }
            }
            Who::Hostcfgd if done => {
                n.hostcfgd.plan = None;
                self.relook(n, who, p.input);
            }
            Who::Hostcfgd => n.hostcfgd.plan = Some(p),
            Who::Monit if done => {
                n.monit = None;
                self.relook(n, who, p.input);
            }
            Who::Monit => n.monit = Some(p),
            Who::Cmd => {}
            Who::Ctr => {
                let seed = self.flow == Flow::Seed;
                let Some(ctr) = n.pod.as_mut().and_then(|pod| pod.ctr.as_mut()) else {
                    return;
                };
                if Some(ctr.id) != ctr_id {
                    return;
                }
                ctr.phase = if !done {
                    Phase::Asking(p)
                } else {
                    match p.answer {
                        Some(KubeAnswer::Proceed) => Phase::Claimed,
                        Some(KubeAnswer::Wait) if seed => Phase::Sleeping,
                        Some(KubeAnswer::Wait) => Phase::Waiting(p.next_mode),
                        Some(KubeAnswer::Park) => Phase::Parked,
                        None => {
                            n.ghost.sound = false;
                            Phase::Parked
                        }
                    }
                };
            }
        }
    }

    /// Executes the next thing in plan `p` of `who`. `false` when it is blocked.
    fn exec(&self, n: &mut World, who: Who, p: &mut Proc) -> bool {
        if p.await_unit {
            if !n.unit.settled() {
                return false;
            }
            p.await_unit = false;
            return true;
        }
        if who.locks() && !matches!(p.effects.first(), Some(Eff::AwaitExit(_))) {
            // A `container` command works under the feature lock; it released it while it
            // waited for a container to exit, and takes it again for what follows.
            if n.lock.is_some_and(|h| h != who) {
                return false;
            }
            n.lock = Some(who);
        }
        let Some(&e) = p.effects.first() else {
            if p.then.is_empty() {
                return false;
            }
            let input = p.then.remove(0);
            self.feed(n, p, input);
            return true;
        };
        match e {
            Eff::Write(wr) => {
                if guard_holds(n, wr) {
                    if wr.mode == Some(TransitionMode::KubeReady) {
                        // Invariant 1: kube_ready is set only by a Start with owner kube or by
                        // an approval that followed a stop.
                        let ok = match who {
                            Who::Unit => p.input == In::Start && p.decided_owner == Owner::Kube,
                            Who::Hostcfgd => p.stopped_unit,
                            _ => false,
                        };
                        if !ok {
                            n.ghost.inv1 = false;
                        }
                    }
                    apply_write(n, wr);
                    p.effects.remove(0);
                } else {
                    // The driver re-reads and re-steps after a lost compare-and-set.
                    let input = p.input;
                    self.feed(n, p, input);
                }
            }
            Eff::LabelAdd | Eff::LabelRemove => {
                label_op(n, e == Eff::LabelAdd);
                p.effects.remove(0);
            }
            Eff::DockerStart => {
                if !n.local.running {
                    n.local = Local {
                        running: true,
                        announced: false,
                    };
                }
                p.effects.remove(0);
                p.then.insert(0, In::LocalUp(Id::Local));
            }
            Eff::DockerStop(t) => {
                // `docker stop` waits for the container's pre-stop, which takes the lock: the
                // command lets go of it while it waits (DESIGN.md §5: never held while
                // waiting).
                if n.lock.is_some_and(|h| h != who) {
                    return false;
                }
                n.lock = None;
                self.stop(n, t, true);
                p.effects.remove(0);
            }
            Eff::DockerKill(t) => {
                self.stop(n, t, false);
                p.effects.remove(0);
            }
            Eff::AwaitExit(id) => {
                if !n.running(id) {
                    p.effects.remove(0);
                } else if n.pending.is_some() && n.lock.is_none() {
                    // The label removal was queued and kubelet is stopped: it will not stop the
                    // container, so docker stop it at once.
                    self.stop(n, Tgt::Id(id), true);
                    p.effects.remove(0);
                } else {
                    return false;
                }
            }
            Eff::SystemctlStop => {
                if !n.unit.settled() {
                    return false;
                }
                if who == Who::Operator {
                    // systemd's stop leaves a failed unit failed, and a unit a daemon reset
                    // (marked start_requested_ts) is inactive already: in both cases the stop
                    // changes nothing systemd records (decisions k: the known limit).
                    n.operator.held_down = n.unit != Unit::Failed && !n.row.requested;
                }
                match n.unit {
                    Unit::Active(_) => self.begin_stop(n, AfterStop::Inactive),
                    Unit::AutoRestart => n.unit = Unit::Inactive,
                    _ => {}
                }
                p.await_unit = !n.unit.settled();
                p.stopped_unit = true;
                p.effects.remove(0);
            }
            Eff::SystemctlStart => {
                if !n.unit.settled() {
                    return false;
                }
                if who == Who::Operator {
                    n.operator.held_down = false;
                }
                if matches!(n.unit, Unit::Inactive | Unit::AutoRestart | Unit::Failed) {
                    self.begin_start(n);
                }
                p.await_unit = !n.unit.settled();
                p.effects.remove(0);
            }
            Eff::SystemctlRestart => {
                if !n.unit.settled() {
                    return false;
                }
                match n.unit {
                    Unit::Active(_) => self.begin_stop(n, AfterStop::Start),
                    _ => self.begin_start(n),
                }
                p.await_unit = !n.unit.settled();
                p.effects.remove(0);
            }
            Eff::SystemctlResetStartLimit => {
                // `systemctl is-active`, `reset-failed` if active, and the `try-restart` that
                // follows are issued back to back; systemd queues the try-restart's job at
                // once, and no other start can run between them (a running job makes the
                // model wait for the unit to settle first; Restart='s timer takes RestartSec,
                // far longer than two systemctl calls). So they are one action here.
                if !n.unit.settled() {
                    return false;
                }
                if n.unit.activity() == UnitActivity::Active {
                    n.starts = 0;
                }
                p.effects.remove(0);
                if p.effects.first() == Some(&Eff::SystemctlTryRestart) {
                    self.try_restart(n, p);
                }
            }
            Eff::SystemctlResetFailed => {
                n.starts = 0;
                if n.unit == Unit::Failed {
                    n.unit = Unit::Inactive;
                }
                p.effects.remove(0);
            }
            Eff::SystemctlTryRestart => {
                if !n.unit.settled() {
                    return false;
                }
                self.try_restart(n, p);
            }
            Eff::Answer(a) => {
                if a == KubeAnswer::Proceed {
                    // Invariant 1: a kube container claims only from kube_ready (or it is the
                    // container that already owns the feature).
                    let me = n.ctr().map(|c| Id::Kube(c.id));
                    let ok = who == Who::Ctr
                        && (p.decided_in == State::KubeReady
                            || (p.decided_in == State::KubeRunning && n.row.id == me));
                    if !ok {
                        n.ghost.inv1 = false;
                    }
                }
                p.answer = Some(a);
                p.effects.remove(0);
            }
            Eff::Unknown => {
                n.ghost.sound = false;
                p.effects.remove(0);
            }
        }
        true
    }

    /// `systemctl try-restart` on a settled unit: one job, decided by systemd when it runs: a
    /// restart of an active unit (also one waiting for Restart='s timer), nothing for an
    /// inactive or failed one.
    fn try_restart(&self, n: &mut World, p: &mut Proc) {
        match n.unit {
            Unit::Active(_) => self.begin_stop(n, AfterStop::Start),
            Unit::AutoRestart => self.begin_start(n),
            _ => {}
        }
        p.await_unit = !n.unit.settled();
        p.effects.remove(0);
    }

    /// The smallest kube container number nothing in the world refers to.
    fn fresh_kube_id(w: &World) -> Option<u8> {
        let mut used = [false; KUBE_IDS as usize + 1];
        let mut mark = |id: Option<Id>| {
            if let Some(Id::Kube(k)) = id
                && let Some(u) = used.get_mut(usize::from(k))
            {
                *u = true;
            }
        };
        mark(w.row.id);
        if let Some(c) = w.ctr() {
            mark(Some(Id::Kube(c.id)));
        }
        if let Unit::Active(Main::Watch(id)) = w.unit {
            mark(Some(id));
        }
        let procs = [
            match &w.unit {
                Unit::Starting(p) | Unit::Stopping { proc: p, .. } => Some(p),
                _ => None,
            },
            w.operator.proc.as_ref(),
            w.hostcfgd.plan.as_ref(),
            w.monit.as_ref(),
            match w.ctr().map(|c| &c.phase) {
                Some(Phase::Asking(p)) => Some(p),
                _ => None,
            },
        ];
        for p in procs.into_iter().flatten() {
            for input in std::iter::once(&p.input).chain(p.then.iter()) {
                if let In::LocalUp(id) | In::KubeUp(id) | In::Down(id) = input {
                    mark(Some(*id));
                }
            }
            for e in &p.effects {
                match e {
                    Eff::DockerStop(Tgt::Id(id))
                    | Eff::DockerKill(Tgt::Id(id))
                    | Eff::AwaitExit(id) => mark(Some(*id)),
                    Eff::Write(Wr {
                        owner: Some((_, id)),
                        ..
                    }) => mark(*id),
                    _ => {}
                }
            }
        }
        (1..=KUBE_IDS).find(|k| !used[usize::from(*k)])
    }

    /// The world after `a`, or `None` when `a` is not possible or changes nothing.
    pub fn apply(&self, w: &World, a: Action) -> Option<World> {
        if !self.may(w, a) {
            return None;
        }
        let mut n = w.clone();
        match a {
            Action::Boot => {
                if w.operator.booted {
                    return None;
                }
                n.operator.booted = true;
                n.operator.proc = Some(Proc::of_effects(vec![Eff::SystemctlStart]));
            }
            Action::Advance(who) => {
                let mut p = self.proc_of(w, who)?.clone();
                let ctr_id = w.ctr().map(|c| c.id);
                if !self.exec(&mut n, who, &mut p) {
                    return None;
                }
                self.put_back(&mut n, who, p, ctr_id);
            }
            Action::AwaitTimeout(who) => {
                let p = self.proc_of(w, who)?;
                let Some(&Eff::AwaitExit(id)) = p.effects.first() else {
                    return None;
                };
                if p.await_unit || !w.running(id) || w.pending.is_some() || w.lock.is_some() {
                    return None;
                }
                let mut p = p.clone();
                self.stop(&mut n, Tgt::Id(id), true);
                p.effects.remove(0);
                self.put_back(&mut n, who, p, None);
            }
            Action::RestartTimer => {
                if w.unit != Unit::AutoRestart {
                    return None;
                }
                self.begin_start(&mut n);
            }
            Action::MainSeesId => {
                let (Unit::Active(Main::AwaitId), Some(id)) = (&w.unit, w.row.id) else {
                    return None;
                };
                n.unit = Unit::Active(Main::Watch(id));
            }
            Action::MainSeesExit => {
                let Unit::Active(Main::Watch(id)) = w.unit else {
                    return None;
                };
                if w.running(id) || w.lock.is_some() {
                    return None;
                }
                self.atomic(&mut n, In::Down(id));
                self.begin_stop(&mut n, AfterStop::AutoRestart);
            }
            Action::CtrAsk | Action::CtrReask => {
                let c = w.ctr()?;
                let asks = match (a, &c.phase) {
                    (Action::CtrAsk, Phase::Started) => true,
                    (Action::CtrReask, Phase::Waiting(m)) => {
                        w.row.mode != *m || w.cfg.owner == Owner::Local
                    }
                    // A parked container keeps watching CONFIG_DB and asks again once
                    // set_owner is kube (core's `KubeAnswer::Park`); the seed's sleeps for ever.
                    (Action::CtrReask, Phase::Parked) => {
                        self.flow != Flow::Seed && w.cfg.owner == Owner::Kube
                    }
                    _ => false,
                };
                if !asks {
                    return None;
                }
                let me = Id::Kube(c.id);
                // The caller checks that a recorded kube owner still runs and feeds its Down
                // first.
                let mut inputs = Vec::new();
                if w.row.state() == State::KubeRunning
                    && let Some(old) = w.row.id
                    && old != me
                    && !w.running(old)
                {
                    inputs.push(In::Down(old));
                }
                inputs.push(In::KubeUp(me));
                let p = self.launch(&mut n, Who::Ctr, inputs);
                if let Some(ctr) = n.pod.as_mut().and_then(|pod| pod.ctr.as_mut()) {
                    ctr.phase = Phase::Asking(Proc::of_effects(Vec::new()));
                }
                self.put_back(&mut n, Who::Ctr, p, Some(c.id));
            }
            Action::LocalAnnounce => {
                if !w.local.running || w.local.announced || w.lock.is_some() {
                    return None;
                }
                n.local.announced = true;
                self.atomic(&mut n, In::LocalUp(Id::Local));
            }
            Action::ControllerCreate => {
                if !(w.master_up && w.manifest && w.label && w.pod.is_none()) {
                    return None;
                }
                n.pod = Some(Pod {
                    deleting: false,
                    ctr: None,
                });
            }
            Action::ControllerDelete => {
                let pod = n.pod.as_mut()?;
                if !w.master_up || (w.label && w.manifest) || pod.deleting {
                    return None;
                }
                pod.deleting = true;
            }
            Action::KubeletStart => {
                let pod = w.pod.as_ref()?;
                if !w.kubelet_running() || pod.deleting || pod.ctr.is_some() {
                    return None;
                }
                match Self::fresh_kube_id(w) {
                    Some(id) => {
                        if let Some(pod) = n.pod.as_mut() {
                            pod.ctr = Some(KubeCtr {
                                id,
                                phase: Phase::Started,
                            });
                        }
                    }
                    None => n.ghost.sound = false,
                }
            }
            Action::KubeletStopPod => {
                let pod = w.pod.as_ref()?;
                // The pre-stop's `container state down` takes the lock: the stop completes
                // once nobody holds it.
                if !w.kubelet_running() || !pod.deleting || w.lock.is_some() {
                    return None;
                }
                if let Some(c) = &pod.ctr {
                    self.stop(&mut n, Tgt::Id(Id::Kube(c.id)), true);
                }
                remove_ctr(&mut n);
                n.pod = None;
            }
            Action::Drain => {
                let v = w.pending?;
                if !w.master_up {
                    return None;
                }
                n.label = v;
                n.pending = None;
            }
            Action::MasterUp => {
                if w.master_up {
                    return None;
                }
                n.master_up = true;
            }
            Action::HostcfgdSees => {
                if w.hostcfgd.plan.is_some()
                    || !approval_pending(&w.row.to_record())
                    || !w.hostcfgd.notified
                {
                    return None;
                }
                n.hostcfgd.notified = false;
                let p = self.plan(w, In::Approve(w.unit.activity()), Vec::new());
                n.hostcfgd.plan = (!p.is_done()).then_some(p);
            }
            Action::ChangeOwner => {
                if w.budget.change == 0 || !w.operator.booted || w.operator.proc.is_some() {
                    return None;
                }
                n.budget.change -= 1;
                n.cfg.owner = match w.cfg.owner {
                    Owner::Local => Owner::Kube,
                    Owner::Kube => Owner::Local,
                };
                n.operator.to_local = n.cfg.owner == Owner::Local;
                n.operator.proc = Some(Proc::of_effects(vec![
                    Eff::SystemctlStop,
                    Eff::SystemctlStart,
                ]));
            }
            Action::OperatorStop => {
                if w.budget.stops == 0 || !w.operator.booted || w.operator.proc.is_some() {
                    return None;
                }
                n.budget.stops -= 1;
                n.operator.lone_stop = true;
                n.operator.proc = Some(Proc::of_effects(vec![Eff::SystemctlStop]));
            }
            Action::DeadlinePassed => {
                // Time always passes. The budget only keeps a deploying kube and kube-monit from
                // cycling for ever; without a manifest there is nothing to cycle with.
                if (w.budget.deadlines == 0 && w.manifest)
                    || w.monit.is_some()
                    || next_deadline(&w.row.to_record(), &w.cfg.to_core()).is_none()
                {
                    return None;
                }
                if w.manifest {
                    n.budget.deadlines -= 1;
                }
                n.row.due = true;
                let p = self.plan(&n, In::FailureTimeout(w.unit.activity()), Vec::new());
                n.monit = (!p.is_done()).then_some(p);
            }
            Action::ManifestUpdate => {
                let pod = n.pod.as_mut()?;
                if w.budget.updates == 0 || !w.master_up || pod.deleting {
                    return None;
                }
                pod.deleting = true;
                n.budget.updates -= 1;
            }
            Action::ManifestRemove => {
                if w.budget.removals == 0 || !w.manifest {
                    return None;
                }
                n.budget.removals -= 1;
                n.manifest = false;
            }
            Action::CrashKube if w.budget.crash_loop > 0 => {
                // The crash-looping image: kube crashes beyond the one fault of a run.
                w.ctr()?;
                remove_ctr(&mut n);
                n.budget.crash_loop -= 1;
                n.faulted = true;
            }
            Action::MasterDown
            | Action::CrashLocal
            | Action::CrashKube
            | Action::CrashHostcfgd
            | Action::CrashMonit => {
                if w.budget.faults == 0 {
                    return None;
                }
                match a {
                    Action::MasterDown if w.master_up => n.master_up = false,
                    Action::CrashLocal if w.local.running => n.local = Local::default(),
                    Action::CrashKube if w.ctr().is_some() => remove_ctr(&mut n),
                    Action::CrashHostcfgd if w.hostcfgd.plan.is_some() => {
                        n.hostcfgd = Hostcfgd {
                            notified: true,
                            plan: None,
                        };
                    }
                    Action::CrashMonit if w.monit.is_some() => n.monit = None,
                    _ => return None,
                }
                n.budget.faults -= 1;
                n.faulted = true;
            }
            Action::Retire => {
                if !w.budget.retirable() {
                    return None;
                }
                n.budget = Budget {
                    deadlines: w.budget.deadlines,
                    ..Budget::default()
                };
            }
        }
        (n != *w).then_some(n)
    }

    /// A cheap necessary condition for `a` to be possible, checked before the world is
    /// cloned (most actions are impossible in most states).
    fn may(&self, w: &World, a: Action) -> bool {
        match a {
            Action::Boot => !w.operator.booted,
            Action::Advance(who) => self.proc_of(w, who).is_some(),
            Action::AwaitTimeout(who) => self
                .proc_of(w, who)
                .is_some_and(|p| matches!(p.effects.first(), Some(Eff::AwaitExit(_)))),
            Action::RestartTimer => w.unit == Unit::AutoRestart,
            Action::MainSeesId | Action::MainSeesExit => matches!(w.unit, Unit::Active(_)),
            Action::CtrAsk | Action::CtrReask => w.ctr().is_some(),
            Action::LocalAnnounce => w.local.running && !w.local.announced,
            Action::ControllerCreate | Action::ControllerDelete => w.master_up,
            Action::KubeletStart | Action::KubeletStopPod => w.pod.is_some(),
            Action::Drain => w.pending.is_some(),
            Action::MasterUp => !w.master_up,
            Action::HostcfgdSees => w.hostcfgd.notified,
            Action::ChangeOwner => w.budget.change > 0,
            Action::OperatorStop => w.budget.stops > 0,
            Action::DeadlinePassed => {
                w.monit.is_none() && w.cfg.to_core().failure_detection_armed()
            }
            Action::ManifestUpdate => w.budget.updates > 0 && w.pod.is_some(),
            Action::ManifestRemove => w.budget.removals > 0,
            Action::CrashKube => w.budget.faults + w.budget.crash_loop > 0,
            Action::MasterDown
            | Action::CrashLocal
            | Action::CrashHostcfgd
            | Action::CrashMonit => w.budget.faults > 0,
            Action::Retire => w.budget.retirable(),
        }
    }

    /// Whether no action at all is possible: the world has come to rest.
    pub fn is_terminal(&self, w: &World) -> bool {
        Action::ALL
            .iter()
            .chain(std::iter::once(&Action::Retire))
            .all(|a| self.apply(w, *a).is_none())
    }

    /// Whether only environment actions are possible: the software and Kubernetes have
    /// nothing left to do.
    pub fn is_settled(&self, w: &World) -> bool {
        Action::ALL
            .iter()
            .filter(|a| !a.is_environment())
            .all(|a| self.apply(w, *a).is_none())
    }
}

/// The kube container is gone; if it was running `container state up kube`, the kernel
/// releases that command's lock.
fn remove_ctr(n: &mut World) {
    if let Some(pod) = n.pod.as_mut()
        && pod
            .ctr
            .take()
            .is_some_and(|c| matches!(c.phase, Phase::Asking(_)))
        && n.lock == Some(Who::Ctr)
    {
        n.lock = None;
    }
}

/// A `container` command lets go of the lock when it is done or starts waiting for a kube
/// container to exit.
fn release_if_idle(n: &mut World, who: Who, p: &Proc) {
    if n.lock == Some(who) && (p.is_done() || matches!(p.effects.first(), Some(Eff::AwaitExit(_))))
    {
        n.lock = None;
    }
}

fn guard_holds(n: &World, wr: Wr) -> bool {
    wr.guard.is_none_or(|g| g == n.row.mode)
}

fn apply_write(n: &mut World, wr: Wr) {
    if let Some((owner, id)) = wr.owner {
        n.row.owner = owner;
        n.row.id = id;
    }
    if let Some(m) = wr.mode {
        n.row.mode = m;
        n.row.due = false;
    }
    if let Some(r) = wr.start_requested {
        n.row.requested = r;
    }
    // Every HSET notifies hostcfgd-watcher, which re-reads the row.
    n.hostcfgd.notified = approval_pending(&n.row.to_record());
}

/// A label operation: sent when the master answers and nothing is queued; else queued
/// (coalesced: one key) with kubelet stopped.
fn label_op(n: &mut World, value: bool) {
    if n.master_up && n.pending.is_none() {
        n.label = value;
    } else {
        n.pending = Some(value);
    }
}

/// A budget with the given counts and two deadlines.
const fn budget(change: u8, faults: u8, updates: u8, removals: u8, stops: u8) -> Budget {
    Budget {
        change,
        faults,
        updates,
        removals,
        deadlines: 2,
        stops,
        crash_loop: 0,
    }
}

/// The environment's perturbations, in pairs: each default scenario allows two kinds of
/// event (each at most once), because allowing all of them at once multiplies the state space
/// beyond a quick check. The pairs cover every combination of two, except a manifest update
/// with a manifest removal (both only take kube away), and the operator's lone stop with an
/// owner change or a manifest update (a stop ends what the operator does).
pub const FAMILIES: [(&str, Budget); 7] = [
    ("owner change + manifest update", budget(1, 0, 1, 0, 0)),
    ("owner change + fault", budget(1, 1, 0, 0, 0)),
    ("fault + manifest update", budget(0, 1, 1, 0, 0)),
    ("owner change + manifest removal", budget(1, 0, 0, 1, 0)),
    ("fault + manifest removal", budget(0, 1, 0, 1, 0)),
    ("operator stop + fault", budget(0, 1, 0, 0, 1)),
    ("operator stop + manifest removal", budget(0, 0, 0, 1, 1)),
];

/// `StartLimitBurst` of the crash-loop scenarios: two starts, then the unit fails until a
/// `reset-failed` (the model's interval never passes, so this is stricter than systemd's).
pub const CRASH_LOOP_BURST: u8 = 2;

/// The scenarios checked by default. For every owner and fallback/failure-detection
/// combination (N > 0 only matters with fallback): with kube deploying, each of the
/// [`FAMILIES`], with and without a label left on the node from before a reboot; with kube
/// never deploying, an owner change and a fault, and a lone operator stop and a fault. With
/// owner kube, also a crash-looping kube image (three crashes) on a unit with a start rate
/// limit ([`CRASH_LOOP_BURST`]). kube-monit's deadline may pass twice while kube deploys, and
/// any number of times once no manifest exists.
pub fn default_scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for owner in [Owner::Local, Owner::Kube] {
        for (fb, n) in [(false, false), (true, false), (true, true)] {
            let cfg = Cfg { owner, fb, n };
            for stale_label in [false, true] {
                for (_, budget) in FAMILIES {
                    out.push(Scenario {
                        cfg,
                        kube: Kube::Deploys,
                        stale_label,
                        budget,
                        burst: 0,
                    });
                }
            }
            for budget in [budget(1, 1, 0, 0, 0), budget(0, 1, 0, 0, 1)] {
                out.push(Scenario {
                    cfg,
                    kube: Kube::Never,
                    stale_label: false,
                    budget: Budget {
                        deadlines: 1,
                        ..budget
                    },
                    burst: 0,
                });
            }
            if owner == Owner::Kube {
                out.push(Scenario {
                    cfg,
                    kube: Kube::Deploys,
                    stale_label: false,
                    budget: Budget {
                        crash_loop: 3,
                        ..budget(0, 0, 0, 0, 0)
                    },
                    burst: CRASH_LOOP_BURST,
                });
            }
        }
    }
    out
}

/// The seed's own scenarios ("kube managing feature with fallback enabled" and "with fallback
/// disabled"): owner kube, kube deploying, no stale label, no owner change, no faults, and one
/// manifest update (kube replaces the running pod, so a new container asks for approval).
pub fn seed_scenarios() -> Vec<Scenario> {
    [true, false]
        .into_iter()
        .map(|fb| Scenario {
            cfg: Cfg {
                owner: Owner::Kube,
                fb,
                n: false,
            },
            kube: Kube::Deploys,
            stale_label: false,
            budget: Budget {
                updates: 1,
                ..Budget::default()
            },
            burst: 0,
        })
        .collect()
}

/// The extended scenarios: every owner and fallback/failure-detection combination, kube
/// deploying or not, with and without a stale label, each allowing everything at once (an
/// owner change, a fault, a manifest update, a manifest removal, two deadlines). Several
/// times the default check's work (minutes, not seconds).
pub fn extended_scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for owner in [Owner::Local, Owner::Kube] {
        for (fb, n) in [(false, false), (true, false), (true, true)] {
            for kube in [Kube::Deploys, Kube::Never] {
                for stale_label in [false, true] {
                    out.push(Scenario {
                        cfg: Cfg { owner, fb, n },
                        kube,
                        stale_label,
                        budget: budget(1, 1, 1, 1, 0),
                        burst: 0,
                    });
                }
            }
        }
    }
    out
}

// ---- properties -------------------------------------------------------------------------------

/// The kube container with the recorded id runs and has claimed the feature, in KUBE_RUNNING.
fn kube_runs(w: &World) -> bool {
    w.row.state() == State::KubeRunning
        && w.claimed().is_some_and(|k| w.row.id == Some(Id::Kube(k)))
}

/// The local container runs and is recorded, in LOCAL.
fn local_runs(w: &World) -> bool {
    w.row.state() == State::Local && w.row.id == Some(Id::Local) && w.local.running
}

/// Invariant 3 for a stable state: the record says what runs.
fn record_is_truth(w: &World) -> bool {
    let local_ok = (w.row.owner == CurrentOwner::Local) == w.local.running
        && (w.row.owner != CurrentOwner::Local || w.row.id == Some(Id::Local));
    let kube_ok = (w.row.owner == CurrentOwner::Kube) == w.claimed().is_some()
        && (w.row.owner != CurrentOwner::Kube || w.row.id == w.claimed().map(Id::Kube));
    let id_ok = w.row.id.is_some() == (w.row.owner != CurrentOwner::None);
    local_ok && kube_ok && id_ok
}

/// Liveness 5a no longer applies on this path (a monotone fact): a fault happened, the
/// operator stopped the unit for good, kube does not deploy, or the owner is local for good.
fn kube_liveness_excluded(w: &World) -> bool {
    w.faulted
        || w.operator.lone_stop
        || w.kube == Kube::Never
        || !w.manifest
        || (w.cfg.owner == Owner::Local && w.budget.change == 0)
}

/// Liveness 5b does not apply on this path: a fault happened, the operator stopped the unit
/// for good, kube deploys, or fallback with failure detection is not configured.
fn fallback_liveness_excluded(w: &World) -> bool {
    w.faulted || w.operator.lone_stop || w.kube == Kube::Deploys || !w.cfg.fb || !w.cfg.n
}

/// Property names, as reported.
pub mod names {
    /// Invariant 1.
    pub const INV1: &str = "inv1: a kube container claims only from kube_ready, set only by a kube Start or an approval after a stop";
    /// Invariant 2.
    pub const INV2: &str = "inv2: never two owners running";
    /// Invariant 3.
    pub const INV3: &str = "inv3: the record is the truth in settled stable states";
    /// Invariant 4.
    pub const INV4: &str =
        "inv4: owner local, stop then start ends in LOCAL with no kube container claimed";
    /// Liveness 5a, as stateright's `eventually`.
    pub const LIVE_KUBE: &str =
        "liveness 5a: owner kube, kube deploying, no faults: eventually KUBE_RUNNING";
    /// Liveness 5b, as stateright's `eventually`.
    pub const LIVE_LOCAL: &str =
        "liveness 5b: fb, N>0, kube never deploying, no faults: eventually LOCAL";
    /// Liveness 5a and 7 over end states.
    pub const END_KUBE: &str = "liveness 5a+7 (end states): owner kube, manifest present, after the last fault (crashes of daemons at any step, master down, crash-looping kube with a start limit): rests in KUBE_RUNNING unless the operator stopped the unit";
    /// Liveness 5b and 7 over end states.
    pub const END_FALLBACK: &str = "liveness 5b+7 (end states): owner kube, fb, N>0, no manifest, after the last fault: rests in LOCAL unless the operator stopped the unit";
    /// Owner local over end states.
    pub const END_LOCAL: &str = "liveness (end states): owner local, after the last fault: rests in LOCAL unless the operator stopped the unit";
    /// Invariant 6.
    pub const INV6: &str =
        "inv6: after an operator's stop, no unit start until an operator's start";
    /// Invariant 8 over end states.
    pub const END_LABEL_LOCAL: &str =
        "inv8 (end states): owner local: the node label is off (or its removal queued)";
    /// The model's own soundness.
    pub const SOUND: &str = "model: container ids suffice, every effect is understood, every asking container is answered";
    /// Reachability checks.
    pub const SOMETIMES_RUNNING: &str = "sometimes: KUBE_RUNNING";
    /// Reachability checks.
    pub const SOMETIMES_LOCAL_TO_KUBE: &str = "sometimes: LOCAL_TO_KUBE";
    /// Reachability checks.
    pub const SOMETIMES_QUEUED: &str = "sometimes: a label operation queued, kubelet stopped";
    /// Reachability checks.
    pub const SOMETIMES_APPROVAL: &str = "sometimes: hostcfgd approving";
    /// Reachability checks.
    pub const SOMETIMES_FALLBACK: &str = "sometimes: kube-monit falling back";
    /// Reachability checks.
    pub const SOMETIMES_HELD_PENDING: &str =
        "sometimes: the operator stopped the unit while a kube container waits for approval";
    /// Reachability checks.
    pub const SOMETIMES_HELD_DUE: &str =
        "sometimes: the operator stopped the unit and kube-monit's deadline passed";
    /// Reachability checks.
    pub const SOMETIMES_START_LIMIT: &str =
        "sometimes: systemd refused a start (StartLimitBurst) and the unit failed";
    /// Reachability checks.
    pub const SOMETIMES_MARKED_INACTIVE: &str = "sometimes: a daemon reset the unit and has not started it yet (start_requested_ts, unit inactive)";
}

impl Model for FeatureWorld {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        self.scenarios.iter().map(Scenario::world).collect()
    }

    fn actions(&self, _state: &World, actions: &mut Vec<Action>) {
        actions.extend(Action::ALL);
        actions.push(Action::Retire);
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        self.apply(last, action)
    }

    fn format_step(&self, last: &World, action: Action) -> Option<String> {
        self.apply(last, action).map(|w| w.to_string())
    }

    fn properties(&self) -> Vec<Property<Self>> {
        use names::*;
        vec![
            Property::always(INV1, |_: &FeatureWorld, w: &World| w.ghost.inv1),
            Property::always(INV2, |_: &FeatureWorld, w: &World| {
                !(w.local.running && w.claimed().is_some())
            }),
            Property::always(INV3, |m: &FeatureWorld, w: &World| {
                !w.row.state().is_stable() || record_is_truth(w) || !m.is_settled(w)
            }),
            Property::always(INV4, |_: &FeatureWorld, w: &World| w.ghost.inv4),
            Property::eventually(LIVE_KUBE, |_: &FeatureWorld, w: &World| {
                kube_runs(w) || kube_liveness_excluded(w)
            }),
            Property::eventually(LIVE_LOCAL, |_: &FeatureWorld, w: &World| {
                local_runs(w) || fallback_liveness_excluded(w)
            }),
            Property::always(INV6, |_: &FeatureWorld, w: &World| w.ghost.inv6),
            // Terminal states come after Retire, which ends every fault budget: these are
            // judged after the last fault, on faulted runs as on fault-free ones.
            Property::always(END_KUBE, |m: &FeatureWorld, w: &World| {
                let applies = !w.operator.held_down
                    && w.kube == Kube::Deploys
                    && w.manifest
                    && w.cfg.owner == Owner::Kube;
                !applies || kube_runs(w) || !m.is_terminal(w)
            }),
            Property::always(END_FALLBACK, |m: &FeatureWorld, w: &World| {
                let applies = !w.operator.held_down
                    && w.cfg.owner == Owner::Kube
                    && w.cfg.fb
                    && w.cfg.n
                    && !w.manifest;
                !applies || local_runs(w) || !m.is_terminal(w)
            }),
            Property::always(END_LOCAL, |m: &FeatureWorld, w: &World| {
                let applies = !w.operator.held_down && w.cfg.owner == Owner::Local;
                !applies || local_runs(w) || !m.is_terminal(w)
            }),
            Property::always(END_LABEL_LOCAL, |m: &FeatureWorld, w: &World| {
                let applies = w.operator.booted && w.cfg.owner == Owner::Local;
                !applies
                    || match w.pending {
                        Some(v) => !v,
                        None => !w.label,
                    }
                    || !m.is_terminal(w)
            }),
            Property::always(SOUND, |_: &FeatureWorld, w: &World| w.ghost.sound),
            Property::sometimes(SOMETIMES_RUNNING, |_: &FeatureWorld, w: &World| {
                kube_runs(w)
            }),
            Property::sometimes(SOMETIMES_LOCAL_TO_KUBE, |_: &FeatureWorld, w: &World| {
                w.row.state() == State::LocalToKube
            }),
            Property::sometimes(SOMETIMES_QUEUED, |_: &FeatureWorld, w: &World| {
                w.pending.is_some()
            }),
            Property::sometimes(SOMETIMES_APPROVAL, |_: &FeatureWorld, w: &World| {
                w.hostcfgd.plan.is_some()
            }),
            Property::sometimes(SOMETIMES_FALLBACK, |_: &FeatureWorld, w: &World| {
                w.monit.is_some()
            }),
            Property::sometimes(SOMETIMES_HELD_PENDING, |_: &FeatureWorld, w: &World| {
                w.operator.held_down && approval_pending(&w.row.to_record())
            }),
            Property::sometimes(SOMETIMES_HELD_DUE, |_: &FeatureWorld, w: &World| {
                w.operator.held_down
                    && w.row.due
                    && next_deadline(&w.row.to_record(), &w.cfg.to_core()).is_some()
            }),
            Property::sometimes(SOMETIMES_START_LIMIT, |_: &FeatureWorld, w: &World| {
                w.unit == Unit::Failed
            }),
            Property::sometimes(SOMETIMES_MARKED_INACTIVE, |_: &FeatureWorld, w: &World| {
                w.row.requested && w.unit == Unit::Inactive
            }),
        ]
    }
}
