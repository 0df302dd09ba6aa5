//! How a `container` command or a daemon decides (the real [`ctrmgr_core::step`]) and
//! carries its plan, under the feature lock.

use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::{
    KubeAnswer, Owner, State, TransitionMode, UnitActivity, approval_pending, next_deadline, step,
};

use crate::world::{Eff, Id, In, Main, NOW, Phase, Proc, Unit, Who, World, Wr};

use super::{FeatureWorld, Flow};

/// What `step` decided, translated.
struct Decision {
    next: State,
    effects: Vec<Eff>,
}

impl FeatureWorld {
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
    pub(super) fn feed(&self, w: &World, p: &mut Proc, input: In) {
        let d = self.decide(w, input);
        p.input = input;
        p.effects = d.effects;
        p.decided_in = w.row.state();
        p.decided_owner = w.cfg.owner;
        p.next_mode = d.next.pair().1;
    }

    /// A plan that decides `first` now and feeds `then` afterwards.
    pub(super) fn plan(&self, w: &World, first: In, then: Vec<In>) -> Proc {
        let mut p = Proc::of_effects(Vec::new());
        p.then = then;
        self.feed(w, &mut p, first);
        p
    }

    /// Runs a one-shot command whose effects are writes and container stops (Down, and the
    /// local container's own LocalUp), retrying lost compare-and-sets like the driver.
    pub(super) fn atomic(&self, n: &mut World, input: In) {
        let held = n.lock.replace(Who::Cmd);
        self.atomic_locked(n, input);
        n.lock = held;
    }

    pub(super) fn atomic_locked(&self, n: &mut World, input: In) {
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

    /// A `container` command starts: it decides its first input at once if it gets the lock,
    /// else it blocks on the lock with nothing decided.
    pub(super) fn launch(&self, n: &mut World, who: Who, mut inputs: Vec<In>) -> Proc {
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

    /// A daemon's plan is done. If what it acted on is still there (the row still pending,
    /// the deadline still passed) and the unit's activity is not what it was fed, it looks
    /// again (the contract of the daemons: a try-restart that did nothing, or whose start
    /// systemd refused, is followed by a new look).
    pub(super) fn relook(&self, n: &mut World, who: Who, fed: In) {
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
    pub(super) fn operator_done(&self, n: &mut World) {
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
    pub(super) fn proc_of<'a>(&self, w: &'a World, who: Who) -> Option<&'a Proc> {
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
    pub(super) fn put_back(&self, n: &mut World, who: Who, p: Proc, ctr_id: Option<u8>) {
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
}

/// The kube container is gone; if it was running `container state up kube`, the kernel
/// releases that command's lock.
pub(super) fn remove_ctr(n: &mut World) {
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
pub(super) fn release_if_idle(n: &mut World, who: Who, p: &Proc) {
    if n.lock == Some(who) && (p.is_done() || matches!(p.effects.first(), Some(Eff::AwaitExit(_))))
    {
        n.lock = None;
    }
}

pub(super) fn guard_holds(n: &World, wr: Wr) -> bool {
    wr.guard.is_none_or(|g| g == n.row.mode)
}

pub(super) fn apply_write(n: &mut World, wr: Wr) {
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
pub(super) fn label_op(n: &mut World, value: bool) {
    if n.master_up && n.pending.is_none() {
        n.label = value;
    } else {
        n.pending = Some(value);
    }
}
