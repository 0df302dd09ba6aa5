//! The driver's part: step the core, carry out its effects in order, feed back what they
//! cause, and re-step after a lost compare-and-set.

use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::{
    CurrentOwner, Effect, FeatureRecord, Input, KubeAnswer, Owner, StateWrite, Target,
    TransitionMode, step,
};

use super::{DownTiming, Line, Sim, StepLine, input_text};

/// How deep effects may feed inputs back before the run counts as not terminating.
const MAX_DEPTH: usize = 12;

/// How carrying out a step's effects ended.
enum Run {
    /// All carried out; the kube container's answer, and whether a try-restart found the unit
    /// inactive (so that the step's announced `next` did not happen).
    Done {
        answer: Option<KubeAnswer>,
        job_skipped: bool,
    },
    /// A guarded write lost its compare-and-set: re-read and step again.
    LostCas,
    /// An invariant broke: stop.
    Broken,
}

/// What one effect left to do.
enum Then {
    Next,
    LostCas,
    JobSkipped,
    Answer(KubeAnswer),
}

impl Sim {
    /// Steps one input and carries out its effects in order, feeding back what they cause.
    /// The kube container's answer, when the input asked for one.
    pub fn feed(&mut self, input: Input) -> Option<KubeAnswer> {
        if !self.violations.is_empty() {
            return None;
        }
        if self.depth >= MAX_DEPTH {
            self.violate(format!("feedback does not terminate at {input:?}"));
            return None;
        }
        for attempt in 0..=CAS_RETRIES {
            let before = self.rec.clone();
            let s = step(&before, &self.cfg, input.clone(), self.now);
            self.steps += 1;
            self.lines.push(Line::Step(StepLine {
                n: self.steps,
                depth: self.depth,
                input: input.clone(),
                attempt,
                from: before.state(),
                to: s.next,
                effects: s.effects.clone(),
                reason: s.reason,
            }));
            self.depth += 1;
            let run = self.execute(&input, &before, &s.effects);
            self.depth -= 1;
            match run {
                Run::LostCas => continue,
                Run::Broken => return None,
                Run::Done {
                    answer,
                    job_skipped,
                } => {
                    if self.rec.state() != s.next && !job_skipped {
                        self.violate(format!(
                            "{} from {} announced {} but its effects led to {}",
                            input_text(&input),
                            before.state(),
                            s.next,
                            self.rec.state()
                        ));
                    }
                    return answer;
                }
            }
        }
        self.violate(format!(
            "{} lost {CAS_RETRIES} compare-and-sets",
            input_text(&input)
        ));
        None
    }

    /// Carries out `effects` of the step of `input` from `before`.
    fn execute(&mut self, input: &Input, before: &FeatureRecord, effects: &[Effect]) -> Run {
        let mut answer = None;
        let mut job_skipped = false;
        let mut unit_stopped = false;
        for e in effects {
            match self.effect(input, before, e, &mut unit_stopped) {
                Then::Next => {}
                Then::LostCas => return Run::LostCas,
                Then::JobSkipped => job_skipped = true,
                Then::Answer(a) => {
                    if answer.is_some() {
                        self.violate(format!("{input:?} answered twice"));
                    }
                    answer = Some(a);
                }
            }
            self.check_one_owner(input);
            if !self.violations.is_empty() {
                return Run::Broken;
            }
        }
        Run::Done {
            answer,
            job_skipped,
        }
    }

    /// Carries out one effect. `unit_stopped`: a try-restart of this step stopped the unit.
    fn effect(
        &mut self,
        input: &Input,
        before: &FeatureRecord,
        e: &Effect,
        unit_stopped: &mut bool,
    ) -> Then {
        match e {
            Effect::Write(w) => return self.write(input, w, *unit_stopped),
            Effect::LabelAdd => self.label_op(true),
            Effect::LabelRemove => {
                self.label_op(false);
                if self.options.sync_kubelet {
                    self.kubelet_reaps();
                }
            }
            Effect::DockerStart => {
                // docker start on a running container is a no-op that keeps its id.
                let id = match &self.local {
                    Some(id) => id.clone(),
                    None => {
                        let id = self.new_local_id();
                        self.local = Some(id.clone());
                        id
                    }
                };
                self.feed(Input::LocalUp(id));
            }
            Effect::DockerStop { target, .. } | Effect::DockerKill { target } => {
                self.docker_stop(target);
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
                self.docker_stop(&Target::Id(id.clone()));
            }
            Effect::SystemctlResetFailed | Effect::SystemctlResetStartLimit => {}
            // One job: a restart of the unit only if it is active when it runs.
            Effect::SystemctlTryRestart => {
                if !self.service_active {
                    // The caller's look was stale (an operator stopped the unit meanwhile):
                    // systemd runs no job, and `next` does not happen.
                    self.note("systemctl try-restart: the unit is not active, nothing to do");
                    return Then::JobSkipped;
                }
                *unit_stopped = true;
                self.systemctl_stop();
                self.systemctl_start();
            }
            Effect::SystemctlStart => self.systemctl_start(),
            Effect::Answer(a) => {
                self.check_answer(input, before, *a);
                return Then::Answer(*a);
            }
        }
        Then::Next
    }

    /// A write of the record, under its compare-and-set guard.
    fn write(&mut self, input: &Input, w: &StateWrite, unit_stopped: bool) -> Then {
        if let Some(g) = w.guard
            && self.rec.transition_mode != g
        {
            self.note(format!(
                "the write expected mode={g} but finds mode={}: re-read, step again",
                self.rec.transition_mode
            ));
            return Then::LostCas;
        }
        if w.mode == Some(TransitionMode::KubeReady) {
            // Invariant 1: kube_ready only from a Start with owner kube, or an approval that
            // followed a Stop.
            let allowed = match input {
                Input::Start => self.cfg.set_owner == Owner::Kube,
                Input::Approve { .. } => unit_stopped,
                _ => false,
            };
            if !allowed {
                self.violate(format!(
                    "invariant 1: {input:?} set kube_ready (systemctl stop first: {unit_stopped})"
                ));
            }
        }
        w.apply(&mut self.rec);
        Then::Next
    }

    /// Invariant 1: proceed only from kube_ready, or to the recorded owner.
    fn check_answer(&mut self, input: &Input, before: &FeatureRecord, a: KubeAnswer) {
        if a != KubeAnswer::Proceed {
            return;
        }
        let Input::KubeUp(id) = input else {
            self.violate(format!("{input:?} answered proceed"));
            return;
        };
        let recorded_owner =
            before.current_owner == CurrentOwner::Kube && before.docker_id.as_ref() == Some(id);
        if before.transition_mode != TransitionMode::KubeReady && !recorded_owner {
            self.violate(format!("invariant 1: {id} proceeds from {before:?}"));
        }
    }

    /// A container exits because the core's effects stopped it: its Down arrives per
    /// [`super::Options::downs`].
    fn docker_stop(&mut self, target: &Target) {
        let stopped = match target {
            Target::LocalByName => self.local.take(),
            Target::Id(id) if self.local.as_ref() == Some(id) => self.local.take(),
            Target::Id(id) if self.kube.as_ref().is_some_and(|k| &k.id == id) => {
                self.kube.take().map(|k| k.id)
            }
            Target::Id(_) => None,
        };
        if let Some(id) = stopped {
            match self.options.downs {
                DownTiming::Immediate => {
                    self.feed(Input::Down(id));
                }
                DownTiming::Deferred => self.deferred_downs.push(id),
            }
        }
    }

    /// The Downs of containers the core's effects stopped arrive.
    pub fn deliver_downs(&mut self) {
        for id in std::mem::take(&mut self.deferred_downs) {
            self.feed(Input::Down(id));
        }
    }
}
