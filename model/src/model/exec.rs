//! How each effect is carried out: containers stopped and started, systemd's jobs, labels.

use ctrmgr_core::{KubeAnswer, Owner, State, TransitionMode, UnitActivity};

use crate::world::{AfterStop, Eff, Id, In, Local, Main, Proc, Tgt, Unit, Who, World, Wr};

use super::FeatureWorld;
use super::process::{apply_write, guard_holds, label_op, remove_ctr};

impl FeatureWorld {
    /// Stops a container. A graceful stop lets its pre-stop `container state down` record
    /// Down first; that takes the feature lock, so graceful stops happen only when nobody
    /// holds it (callers make sure of it; otherwise the pre-stop would block and the container
    /// be killed at the end of its grace period without recording anything).
    pub(super) fn stop(&self, n: &mut World, t: Tgt, graceful: bool) {
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

    /// systemd starts a start job: ExecStartPre runs `container start`. Beyond
    /// `StartLimitBurst` starts since the last `reset-failed`, systemd refuses and the unit
    /// fails instead.
    pub(super) fn begin_start(&self, n: &mut World) {
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
    pub(super) fn begin_stop(&self, n: &mut World, then: AfterStop) {
        let p = self.launch(n, Who::Unit, vec![In::Stop]);
        if p.is_done() {
            self.stop_done(n, then);
        } else {
            n.unit = Unit::Stopping { proc: p, then };
        }
    }

    /// A unit's stop is done.
    pub(super) fn stop_done(&self, n: &mut World, then: AfterStop) {
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
    pub(super) fn job_done(&self, n: &mut World) {
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

    /// Executes the next thing in plan `p` of `who`. `false` when it is blocked.
    pub(super) fn exec(&self, n: &mut World, who: Who, p: &mut Proc) -> bool {
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
            Eff::Write(wr) => self.exec_write(n, who, p, wr),
            Eff::LabelAdd
            | Eff::LabelRemove
            | Eff::DockerStart
            | Eff::DockerStop(_)
            | Eff::DockerKill(_)
            | Eff::AwaitExit(_) => self.exec_docker(n, who, p, e),
            Eff::SystemctlStop
            | Eff::SystemctlStart
            | Eff::SystemctlRestart
            | Eff::SystemctlResetStartLimit
            | Eff::SystemctlResetFailed
            | Eff::SystemctlTryRestart => self.exec_systemctl(n, who, p, e),
            Eff::Answer(_) | Eff::Unknown => self.exec_answer(n, who, p, e),
        }
    }

    /// A write of the record, under its compare-and-set guard (invariant 1 checked). `false` when it is blocked.
    fn exec_write(&self, n: &mut World, who: Who, p: &mut Proc, wr: Wr) -> bool {
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
        true
    }

    /// A label operation, or a container started, stopped, killed or waited for. `false` when it is blocked.
    fn exec_docker(&self, n: &mut World, who: Who, p: &mut Proc, e: Eff) -> bool {
        match e {
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
            _ => {}
        }
        true
    }

    /// A `systemctl` call: its job is queued, and the plan waits for the unit to settle. `false` when it is blocked.
    fn exec_systemctl(&self, n: &mut World, who: Who, p: &mut Proc, e: Eff) -> bool {
        match e {
            Eff::SystemctlStop => self.systemctl_stop(n, who, p),
            Eff::SystemctlStart => self.systemctl_start(n, who, p),
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
                true
            }
            Eff::SystemctlResetStartLimit => self.reset_start_limit(n, p),
            Eff::SystemctlResetFailed => {
                // Only while the row is still marked: a Start since cleared the marker and did
                // what it asked for, and a reset without it would leave a unit that a crash
                // before the start turns into an operator's stop (docs/decisions.md shape-3).
                if !n.row.requested {
                    p.effects.clear();
                    return true;
                }
                n.starts = 0;
                if n.unit == Unit::Failed {
                    n.unit = Unit::Inactive;
                }
                p.effects.remove(0);
                true
            }
            Eff::SystemctlTryRestart => {
                if !n.unit.settled() {
                    return false;
                }
                self.try_restart(n, p);
                true
            }
            _ => true,
        }
    }

    /// `systemctl stop` (an operator's holds the unit down). `false` when it is blocked.
    fn systemctl_stop(&self, n: &mut World, who: Who, p: &mut Proc) -> bool {
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
        true
    }

    /// `systemctl start` (an operator's releases the hold). `false` when it is blocked.
    fn systemctl_start(&self, n: &mut World, who: Who, p: &mut Proc) -> bool {
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
        true
    }

    /// `systemctl is-active`, `reset-failed` if active, and the `try-restart` that follows.
    /// `false` when it is blocked.
    fn reset_start_limit(&self, n: &mut World, p: &mut Proc) -> bool {
        // They are issued back to back; systemd queues the try-restart's job at once, and no
        // other start can run between them (a running job makes the model wait for the unit
        // to settle first; Restart='s timer takes RestartSec, far longer than two systemctl
        // calls). So they are one action here.
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
        true
    }

    /// The answer to a kube container (invariant 1 checked), or an effect not understood. `false` when it is blocked.
    fn exec_answer(&self, n: &mut World, who: Who, p: &mut Proc, e: Eff) -> bool {
        match e {
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
            _ => {}
        }
        true
    }

    /// `systemctl try-restart` on a settled unit: one job, decided by systemd when it runs: a
    /// restart of an active unit (also one waiting for Restart='s timer), nothing for an
    /// inactive or failed one.
    pub(super) fn try_restart(&self, n: &mut World, p: &mut Proc) {
        match n.unit {
            Unit::Active(_) => self.begin_stop(n, AfterStop::Start),
            Unit::AutoRestart => self.begin_start(n),
            _ => {}
        }
        p.await_unit = !n.unit.settled();
        p.effects.remove(0);
    }
}
