//! The invariant checker of the end-to-end scenarios (issue 14 item 3): while a scenario runs
//! it samples Docker (the feature's local container and the kubelet simulator's containers of
//! the node), STATE_DB's `FEATURE|<f>` record and the node's labels, and records a violation
//! of DESIGN.md §4 the moment it sees one:
//!
//! - invariant 2, at once: the local container runs while the record says a kube container
//!   claimed the feature (`current_owner=kube`) and that container runs too;
//! - invariant 3, in a stable state (`transition_mode` none or kube_running, and neither the
//!   record nor Docker changed for [`InvariantChecker::SETTLE`]): `current_owner=local` ⇔ the
//!   local container runs; `current_owner=kube` ⇔ the recorded container runs;
//!   `docker_id` set ⇔ `current_owner` not none. Time during which no sample could be
//!   taken (Redis or Docker away) does not count towards settling.
//!
//! A violation carries its evidence (record, containers, labels). [`InvariantChecker::finish`]
//! stops sampling and fails with every violation seen; [`InvariantChecker::assert_clean`]
//! fails at once if one was seen so far. Sampling every [`InvariantChecker::PERIOD`] is the
//! checker's job (it watches several sources that have no common change feed); the code under
//! test never polls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ctrmgr_core::{ContainerId, CurrentOwner, FeatureName, FeatureRecord, TransitionMode};
use ctrmgr_dbclient::SonicDb;
use ctrmgr_dockerclient::DockerClient;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::kubelet::{FEATURE_LABEL, NODE_LABEL};

/// One sample.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    record: FeatureRecord,
    local_running: bool,
    /// Running kube containers of the feature (ids).
    kube_running: Vec<String>,
    labels: BTreeMap<String, String>,
}

/// The checker; see the [module documentation](self).
#[derive(Debug)]
pub struct InvariantChecker {
    violations: Arc<Mutex<Vec<String>>>,
    samples: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl InvariantChecker {
    /// How often it samples.
    pub const PERIOD: Duration = Duration::from_millis(150);
    /// How long record and Docker must stay unchanged for the state to count as stable.
    pub const SETTLE: Duration = Duration::from_millis(2500);

    /// Starts sampling `feature`, whose local container is named `local_container`, on `node`,
    /// reading the node's labels with `labels` ([`crate::fakekube::FakeKube::labels_reader`]).
    pub fn start(
        db: SonicDb,
        docker: DockerClient,
        labels: impl Fn(&str) -> Option<BTreeMap<String, String>> + Send + Sync + 'static,
        feature: FeatureName,
        local_container: String,
        node: String,
    ) -> Self {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let samples = Arc::new(Mutex::new(0));
        let task = tokio::spawn(sample_loop(
            db,
            docker,
            labels,
            feature,
            local_container,
            node,
            violations.clone(),
            samples.clone(),
        ));
        Self {
            violations,
            samples,
            task,
        }
    }

    /// The violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// # Panics
    /// When a violation was seen, with its evidence.
    pub fn assert_clean(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "invariant violated:\n{}", v.join("\n"));
    }

    /// Stops sampling; returns how many samples were taken.
    ///
    /// # Panics
    /// When a violation was seen, or nothing was sampled at all.
    pub fn finish(self) -> u64 {
        self.task.abort();
        self.assert_clean();
        let n = *self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(n > 0, "the invariant checker took no sample");
        n
    }
}

impl Drop for InvariantChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(clippy::too_many_arguments)]
async fn sample_loop(
    db: SonicDb,
    docker: DockerClient,
    labels: impl Fn(&str) -> Option<BTreeMap<String, String>> + Send + Sync + 'static,
    feature: FeatureName,
    local: String,
    node: String,
    violations: Arc<Mutex<Vec<String>>>,
    samples: Arc<Mutex<u64>>,
) {
    let probe = Probe {
        node_filter: format!("{NODE_LABEL}={node}"),
        feature_filter: format!("{FEATURE_LABEL}={}", feature.as_str()),
        db,
        docker,
        labels,
        feature,
        local,
        node,
    };
    let mut last: Option<(Sample, Instant)> = None;
    let mut reported_stable = false;
    loop {
        tokio::time::sleep(InvariantChecker::PERIOD).await;
        // A state counts as stable only while it is seen: a sample that cannot be taken
        // (Redis or Docker away) starts the settling time again.
        let Some(s) = probe.sample().await else {
            last = None;
            continue;
        };
        *samples.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let push = |msg: String| {
            violations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(msg);
        };
        // Invariant 2.
        let claimed_running = s.claimed_kube_runs();
        if s.local_running && claimed_running {
            push(format!(
                "invariant 2 (two owners): local container {} and claimed kube container run at once; evidence: {s:?}",
                probe.local
            ));
        }
        // Invariant 3, in a stable state.
        if last.as_ref().is_none_or(|(p, _)| p.differs_from(&s)) {
            last = Some((s.clone(), Instant::now()));
            reported_stable = false;
            continue;
        }
        let since = last.as_ref().map_or_else(Instant::now, |(_, t)| *t);
        if reported_stable || !s.stable_mode() || since.elapsed() < InvariantChecker::SETTLE {
            continue;
        }
        let wrong = s.record_untruths(claimed_running);
        if !wrong.is_empty() {
            reported_stable = true;
            push(format!(
                "invariant 3 (record is the truth) broken for {:?} in a stable state: {}; evidence: {s:?}",
                since.elapsed(),
                wrong.join(", ")
            ));
        }
    }
}

/// What [`sample_loop`] samples: the record, the engine and the node's labels.
struct Probe<Lb> {
    db: SonicDb,
    docker: DockerClient,
    labels: Lb,
    feature: FeatureName,
    local: String,
    node: String,
    node_filter: String,
    feature_filter: String,
}

impl<Lb: Fn(&str) -> Option<BTreeMap<String, String>>> Probe<Lb> {
    /// One sample, or `None` when Redis or Docker cannot be read.
    async fn sample(&self) -> Option<Sample> {
        let record = self.db.feature_record(&self.feature).await.ok()?;
        let local_running = match ContainerId::new(&self.local) {
            Ok(id) => self.docker.is_running(&id).await.unwrap_or(false),
            Err(_) => false,
        };
        let list = self
            .docker
            .list(&[&self.node_filter, &self.feature_filter])
            .await
            .ok()?;
        let mut kube_running: Vec<String> = list
            .iter()
            .filter(|c| c.is_running())
            .map(|c| c.id.as_str().to_owned())
            .collect();
        kube_running.sort();
        Some(Sample {
            record,
            local_running,
            kube_running,
            labels: (self.labels)(&self.node).unwrap_or_default(),
        })
    }
}

impl Sample {
    /// The record says kube owns the feature, and the container it names runs.
    fn claimed_kube_runs(&self) -> bool {
        self.record.current_owner == CurrentOwner::Kube
            && self
                .record
                .docker_id
                .as_ref()
                .is_some_and(|id| self.kube_running.iter().any(|k| k.starts_with(id.as_str())))
    }

    /// Owner, id, mode or what runs changed since `self` (the settling time starts again).
    fn differs_from(&self, s: &Sample) -> bool {
        self.record.current_owner != s.record.current_owner
            || self.record.docker_id != s.record.docker_id
            || self.record.transition_mode != s.record.transition_mode
            || self.local_running != s.local_running
            || self.kube_running != s.kube_running
    }

    /// The mode is one a feature rests in (none or kube_running).
    fn stable_mode(&self) -> bool {
        matches!(
            self.record.transition_mode,
            TransitionMode::None | TransitionMode::KubeRunning
        )
    }

    /// The parts of invariant 3 that the record breaks; `claimed_running` as
    /// [`Sample::claimed_kube_runs`].
    fn record_untruths(&self, claimed_running: bool) -> Vec<&'static str> {
        let mut wrong = Vec::new();
        let owner = self.record.current_owner;
        if (owner == CurrentOwner::Local) != self.local_running {
            wrong.push("current_owner=local ⇔ the local container runs");
        }
        if (owner == CurrentOwner::Kube) != claimed_running {
            wrong.push("current_owner=kube ⇔ the claimed kube container runs");
        }
        if self.record.docker_id.is_some() != (owner != CurrentOwner::None) {
            wrong.push("docker_id set ⇔ current_owner not none");
        }
        wrong
    }
}
