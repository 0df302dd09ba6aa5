//! Everything that can happen in the world, and the world after it.

use ctrmgr_core::{Owner, State, approval_pending, next_deadline};

use crate::world::{
    AfterStop, Budget, Eff, Hostcfgd, Id, In, KUBE_IDS, KubeCtr, Local, Main, Phase, Pod, Proc,
    Tgt, Unit, Who, World, Wr,
};

use super::process::remove_ctr;
use super::{FeatureWorld, Flow};

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

impl FeatureWorld {
    /// The world after `a`, or `None` when `a` is not possible or changes nothing.
    pub fn apply(&self, w: &World, a: Action) -> Option<World> {
        if !self.may(w, a) {
            return None;
        }
        let mut n = w.clone();
        match a {
            Action::Boot
            | Action::Advance(_)
            | Action::AwaitTimeout(_)
            | Action::RestartTimer
            | Action::MainSeesId
            | Action::MainSeesExit => self.apply_unit(w, &mut n, a)?,
            Action::LocalAnnounce | Action::HostcfgdSees | Action::DeadlinePassed => {
                self.apply_daemons(w, &mut n, a)?
            }
            Action::CtrAsk | Action::CtrReask => self.apply_ctr(w, &mut n, a)?,
            Action::ControllerCreate
            | Action::ControllerDelete
            | Action::KubeletStart
            | Action::KubeletStopPod
            | Action::Drain
            | Action::MasterUp => self.apply_kube(w, &mut n, a)?,
            Action::ChangeOwner
            | Action::OperatorStop
            | Action::ManifestUpdate
            | Action::ManifestRemove
            | Action::Retire => self.apply_operator(w, &mut n, a)?,
            Action::CrashKube
            | Action::MasterDown
            | Action::CrashLocal
            | Action::CrashHostcfgd
            | Action::CrashMonit => self.apply_fault(w, &mut n, a)?,
        }
        (n != *w).then_some(n)
    }

    /// What systemd and the unit's processes do by themselves.
    fn apply_unit(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
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
                if !self.exec(n, who, &mut p) {
                    return None;
                }
                self.put_back(n, who, p, ctr_id);
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
                self.stop(n, Tgt::Id(id), true);
                p.effects.remove(0);
                self.put_back(n, who, p, None);
            }
            Action::RestartTimer => {
                if w.unit != Unit::AutoRestart {
                    return None;
                }
                self.begin_start(n);
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
                self.atomic(n, In::Down(id));
                self.begin_stop(n, AfterStop::AutoRestart);
            }
            _ => return None,
        }
        Some(())
    }

    /// What the local container, hostcfgd-watcher and kube-monit do.
    fn apply_daemons(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
        match a {
            Action::LocalAnnounce => {
                if !w.local.running || w.local.announced || w.lock.is_some() {
                    return None;
                }
                n.local.announced = true;
                self.atomic(n, In::LocalUp(Id::Local));
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
                let p = self.plan(n, In::FailureTimeout(w.unit.activity()), Vec::new());
                n.monit = (!p.is_done()).then_some(p);
            }
            _ => return None,
        }
        Some(())
    }

    /// The kube container asks (again) whether it may run.
    fn apply_ctr(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
        match a {
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
                let p = self.launch(n, Who::Ctr, inputs);
                if let Some(ctr) = n.pod.as_mut().and_then(|pod| pod.ctr.as_mut()) {
                    ctr.phase = Phase::Asking(Proc::of_effects(Vec::new()));
                }
                self.put_back(n, Who::Ctr, p, Some(c.id));
            }
            _ => return None,
        }
        Some(())
    }

    /// What Kubernetes does: the DaemonSet controller, kubelet, the master.
    fn apply_kube(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
        match a {
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
                    self.stop(n, Tgt::Id(Id::Kube(c.id)), true);
                }
                remove_ctr(n);
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
            _ => return None,
        }
        Some(())
    }

    /// What the operator does, and the end of the environment's budget.
    fn apply_operator(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
        match a {
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
            Action::Retire => {
                if !w.budget.retirable() {
                    return None;
                }
                n.budget = Budget {
                    deadlines: w.budget.deadlines,
                    ..Budget::default()
                };
            }
            _ => return None,
        }
        Some(())
    }

    /// Faults: crashes, the master going down, a crash-looping kube image.
    fn apply_fault(&self, w: &World, n: &mut World, a: Action) -> Option<()> {
        match a {
            Action::CrashKube if w.budget.crash_loop > 0 => {
                // The crash-looping image: kube crashes beyond the one fault of a run.
                w.ctr()?;
                remove_ctr(n);
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
                    Action::CrashKube if w.ctr().is_some() => remove_ctr(n),
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
            _ => return None,
        }
        Some(())
    }

    /// A cheap necessary condition for `a` to be possible, checked before the world is
    /// cloned (most actions are impossible in most states).
    pub(super) fn may(&self, w: &World, a: Action) -> bool {
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

    /// The smallest kube container number nothing in the world refers to.
    pub(super) fn fresh_kube_id(w: &World) -> Option<u8> {
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
}
