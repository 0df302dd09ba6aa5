//! Everything around the core: systemd, kubelet and the kube container, the master and the
//! node label, hostcfgd and kube-monit, and the world settling after an event.

use ctrmgr_core::{
    ContainerId, Input, KubeAnswer, Owner, StopOptions, TransitionMode, approval_pending,
};

use super::{KubeContainer, KubePhase, Sim};

impl Sim {
    /// systemd runs the unit's ExecStartPre (`container start`): the unit is active.
    pub fn exec_start(&mut self) {
        self.service_active = true;
        self.feed(Input::Start);
    }

    /// systemd runs the unit's ExecStop (`container stop`): the unit is inactive.
    pub fn exec_stop(&mut self) {
        self.service_active = false;
        self.feed(Input::Stop(StopOptions::default()));
    }

    /// `container kill` (reboot scripts): the unit is inactive.
    pub fn kill(&mut self) {
        self.service_active = false;
        self.feed(Input::Kill);
    }

    /// `systemctl start`: ExecStartPre, unless the unit is active already.
    pub fn systemctl_start(&mut self) {
        if self.service_active {
            self.note("systemctl start: the unit is already active");
            return;
        }
        self.exec_start();
    }

    /// `systemctl stop`: ExecStop, unless the unit is not active.
    pub fn systemctl_stop(&mut self) {
        if !self.service_active {
            self.note("systemctl stop: the unit is not active");
            return;
        }
        self.exec_stop();
    }

    /// hostcfgd-watcher feeds Approve with the unit's activity.
    pub fn approve(&mut self) {
        let unit = self.unit();
        self.feed(Input::Approve { unit });
    }

    /// kube-monit feeds FailureTimeout with the unit's activity.
    pub fn failure_timeout(&mut self) {
        let unit = self.unit();
        self.feed(Input::FailureTimeout { unit });
    }

    /// kubelet runs the DaemonSet's container (image `version`) when the label is on and no
    /// container runs; it calls `container state up kube`.
    pub fn kube_deploys(&mut self, version: u32) {
        if !self.label || self.kube.is_some() {
            return;
        }
        let id = self.new_kube_id();
        self.kube = Some(KubeContainer {
            id,
            version,
            phase: KubePhase::Waiting,
        });
        self.kube_asks();
    }

    /// kubelet stops the kube container; its pre-stop hook says Down.
    pub fn kubelet_reaps(&mut self) {
        if let Some(k) = self.kube.take() {
            self.container_exited(k.id);
        }
    }

    /// The local container exits on its own.
    pub fn local_exits(&mut self) {
        if let Some(id) = self.local.take() {
            self.container_exited(id);
        }
    }

    /// A container went away outside any command: its pre-stop says Down, and (with
    /// [`super::Options::unit_follows_owner`]) when it owned the feature, `container wait`
    /// returns, so systemd runs ExecStop and restarts the unit.
    pub fn container_exited(&mut self, id: ContainerId) {
        let owned = self.rec.docker_id.as_ref() == Some(&id);
        self.feed(Input::Down(id));
        if self.options.unit_follows_owner && owned && self.service_active {
            self.event("systemd: `container wait` returned; ExecStop, then Restart=always");
            self.exec_stop();
            self.exec_start();
        }
    }

    /// The local container says `container state up local` from inside.
    pub fn local_says_up(&mut self) {
        if let Some(id) = self.local.clone() {
            self.feed(Input::LocalUp(id));
        }
    }

    /// The kube container asks `container state up kube` and does what it is told. A
    /// container that already runs the feature keeps running it whatever a repeated question
    /// is answered.
    pub fn kube_asks(&mut self) {
        let Some(id) = self.kube.as_ref().map(|k| k.id.clone()) else {
            return;
        };
        let Some(answer) = self.feed(Input::KubeUp(id.clone())) else {
            if self.violations.is_empty() {
                self.violate(format!("KubeUp({id}) got no answer"));
            }
            return;
        };
        if let Some(k) = self
            .kube
            .as_mut()
            .filter(|k| k.id == id && k.phase != KubePhase::Running)
        {
            k.phase = match answer {
                KubeAnswer::Proceed => KubePhase::Running,
                KubeAnswer::Wait => KubePhase::Waiting,
                KubeAnswer::Park => KubePhase::Parked,
            };
        }
        self.check_answered(&id, answer);
    }

    /// A label operation: sent when the master is reachable and nothing is queued, else
    /// queued behind the pending list, with kubelet stopped (DESIGN.md §6).
    pub(super) fn label_op(&mut self, add: bool) {
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
    pub fn drain(&mut self) {
        if let Some(&last) = self.pending.last() {
            self.label = last;
            self.event(format!(
                "kube-labeler: drains {} pending label operations (label {}); systemctl start kubelet",
                self.pending.len(),
                if last { "on" } else { "off" }
            ));
            self.pending.clear();
            self.kubelet_running = true;
        }
    }

    /// Runs the world's reactions one at a time until none applies, then checks invariant 3.
    pub fn settle(&mut self) {
        for _ in 0..self.options.max_reactions {
            if !self.violations.is_empty() || !self.react() {
                self.check_record_is_the_truth();
                return;
            }
        }
        self.violate(format!(
            "the world did not settle within {} reactions",
            self.options.max_reactions
        ));
    }

    /// One reaction, if any applies: kubelet, a waiting or parked container, hostcfgd.
    fn react(&mut self) -> bool {
        if self.options.reactive && self.kubelet_reacts() {
            return true;
        }
        if let Some(k) = self.kube.clone() {
            let wakes = match k.phase {
                KubePhase::Waiting => {
                    self.rec.transition_mode == TransitionMode::KubeReady
                        || self.cfg.set_owner == Owner::Local
                }
                KubePhase::Parked => self.cfg.set_owner == Owner::Kube,
                KubePhase::Running => false,
            };
            if wakes {
                let sees = if self.rec.transition_mode == TransitionMode::KubeReady {
                    format!("transition_mode={}", self.rec.transition_mode)
                } else {
                    format!("set_owner={}", self.cfg.set_owner)
                };
                self.event(format!("{}: sees {sees} and asks again", k.id));
                self.kube_asks();
                return true;
            }
        }
        if self.options.reactive
            && approval_pending(&self.rec)
            && self.hostcfgd_seen.as_ref() != Some(&self.rec)
        {
            self.hostcfgd_seen = Some(self.rec.clone());
            self.event(format!(
                "hostcfgd: sees transition_mode={} (unit {})",
                self.rec.transition_mode,
                self.unit()
            ));
            self.approve();
            return true;
        }
        false
    }

    /// kubelet, while it runs and the master answers: stops a container the DaemonSet no
    /// longer wants on this node, or deploys one it wants.
    fn kubelet_reacts(&mut self) -> bool {
        if !(self.kubelet_running && self.master_up) {
            return false;
        }
        let desired = self.label && self.daemonset.is_some();
        if let Some(k) = self.kube.clone() {
            if desired && self.daemonset == Some(k.version) {
                return false;
            }
            let why = if desired {
                "the DaemonSet's image changed"
            } else if self.daemonset.is_none() {
                "the DaemonSet was deleted"
            } else {
                "the label is gone"
            };
            self.event(format!(
                "kubelet: stops {} ({why}); its pre-stop runs `container state {} down`",
                k.id, self.options.feature
            ));
            self.kubelet_reaps();
            return true;
        }
        let (true, Some(version)) = (desired, self.daemonset) else {
            return false;
        };
        self.event(format!(
            "kubelet: deploys kube-{} (image v{version}); its post-start runs \
             `container state {} up kube`",
            self.next_kube, self.options.feature
        ));
        self.kube_deploys(version);
        true
    }
}
