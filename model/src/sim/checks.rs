//! The invariants of DESIGN.md §4 the simulator checks as it goes.

use ctrmgr_core::{ContainerId, CurrentOwner, Input, KubeAnswer, Owner};

use super::{Sim, input_text};

impl Sim {
    /// Invariant 2: never a local container and a claimed kube container at the same time.
    pub(super) fn check_one_owner(&mut self, input: &Input) {
        if self.local.is_some() && self.claimed().is_some() {
            self.violate(format!(
                "invariant 2: after {}, a local and a claimed kube container run together",
                input_text(input)
            ));
        }
    }

    /// Invariant 3, in stable states: the record says who runs.
    pub(super) fn check_record_is_the_truth(&mut self) {
        let st = self.rec.state();
        if !st.is_stable() || !self.violations.is_empty() {
            return;
        }
        let r = &self.rec;
        let ok = r.docker_id.is_some() == (r.current_owner != CurrentOwner::None)
            && (r.current_owner == CurrentOwner::Local) == self.local.is_some()
            && (r.current_owner == CurrentOwner::Kube) == self.claimed().is_some()
            && match r.current_owner {
                CurrentOwner::Local => r.docker_id == self.local,
                CurrentOwner::Kube => r.docker_id.as_ref() == self.claimed(),
                CurrentOwner::None => true,
            };
        if !ok {
            self.violate(format!(
                "invariant 3 in {st}: the record is not the truth (local={:?}, kube={:?}, \
                 docker_id={:?})",
                self.local, self.kube, self.rec.docker_id
            ));
        }
    }

    /// What a kube container was told agrees with the record: it proceeds only once recorded
    /// as the owner (invariant 1), and it is parked only when the owner is local.
    pub(super) fn check_answered(&mut self, id: &ContainerId, answer: KubeAnswer) {
        if answer == KubeAnswer::Proceed {
            let recorded = self.rec.current_owner == CurrentOwner::Kube
                && self.rec.docker_id.as_ref() == Some(id);
            if !recorded {
                self.violate(format!("{id} proceeded without being recorded"));
            }
        }
        if answer == KubeAnswer::Park && self.cfg.set_owner != Owner::Local {
            self.violate(format!("{id} parked although owner is kube"));
        }
        self.check_one_owner(&Input::KubeUp(id.clone()));
    }
}
