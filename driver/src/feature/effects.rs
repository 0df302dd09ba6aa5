//! How [`FeatureDriver`] carries out a step's effects: labels, the local engine, the kube
//! container's exit, systemd jobs, and the feature lock released around what may wait.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use ctrmgr_core::codec;
use ctrmgr_core::ports::{Containers, ErrorKind, Labels, PortError, StateStore, Systemd};
use ctrmgr_core::{
    ContainerId, DecodedRecord, Effect, FeatureName, Input, LabelOp, StateWrite, Step, Target,
    UnitActivity, step_decoded,
};

use super::{Exec, FeatureDriver, Flow, Progress};
use crate::lock::FeatureLock;
use crate::{Applied, Error, FeatureError};

impl<S, C, L, D> FeatureDriver<S, C, L, D>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
{
    /// Carries out one step's effects in order (and those of the `LocalUp` a `DockerStart`
    /// feeds), applying each write to the record.
    pub(super) async fn execute(&self, cx: &mut Exec<'_>, s: Step) -> Result<Flow, Error> {
        let feature = cx.feature;
        let mut effects: VecDeque<Effect> = s.effects.into();
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::LabelAdd => self.label(feature, true, cx.progress).await?,
                Effect::LabelRemove => self.label(feature, false, cx.progress).await?,
                Effect::DockerStart => {
                    for e in self.start_local(cx).await?.into_iter().rev() {
                        effects.push_front(e);
                    }
                }
                Effect::DockerStop { target, grace_secs } => {
                    let id = self.target(feature, &target);
                    unlocked(cx.lock, self.stop_container(feature, &id, grace_secs)).await?;
                }
                Effect::DockerKill { target } => {
                    let id = self.target(feature, &target);
                    unlocked(cx.lock, self.kill_container(feature, &id)).await?;
                }
                Effect::AwaitExit {
                    id,
                    timeout_secs,
                    grace_secs,
                } => {
                    let exited =
                        self.await_exit(feature, &id, timeout_secs, grace_secs, cx.progress);
                    unlocked(cx.lock, exited).await?;
                }
                Effect::Write(w) => {
                    if let ControlFlow::Break(flow) = self.write(cx, &w).await? {
                        return Ok(flow);
                    }
                }
                Effect::SystemctlResetFailed => {
                    if let ControlFlow::Break(flow) = self.reset_failed(cx).await? {
                        return Ok(flow);
                    }
                }
                Effect::SystemctlResetStartLimit => {
                    self.systemctl(cx.lock, feature, UnitJob::ResetStartLimit)
                        .await?;
                }
                Effect::SystemctlTryRestart => {
                    self.systemctl(cx.lock, feature, UnitJob::TryRestart)
                        .await?;
                }
                Effect::SystemctlStart => self.systemctl(cx.lock, feature, UnitJob::Start).await?,
                Effect::Answer(a) => cx.progress.answer = Some(a),
            }
        }
        Ok(Flow::Done)
    }

    /// `DockerStart`: starts the local container and steps the `LocalUp` it feeds, whose
    /// effects are returned to be carried out next.
    async fn start_local(&self, cx: &mut Exec<'_>) -> Result<Vec<Effect>, Error> {
        let feature = cx.feature;
        let name = feature.local_container();
        let id = self
            .containers
            .start(&name)
            .await
            .map_err(|e| Error::port(format!("start feature {feature}"), e))?;
        tracing::debug!(%feature, container = %id, "local container started");
        cx.progress.started = Some(id.clone());
        let up = step_decoded(
            &DecodedRecord {
                record: cx.record.clone(),
                warnings: std::mem::take(&mut cx.progress.read_past),
            },
            cx.config,
            Input::LocalUp(id),
            cx.now,
        );
        self.log_step(feature, cx.record, "LocalUp", &up);
        cx.progress.to = Some(up.next);
        Ok(up.effects)
    }

    /// `Write`: the guarded write, applied to the record; a lost guard breaks with
    /// [`Flow::CasLost`].
    async fn write(&self, cx: &mut Exec<'_>, w: &StateWrite) -> Result<ControlFlow<Flow>, Error> {
        let feature = cx.feature;
        let applied = self
            .store()
            .write_state(feature, w)
            .await
            .map_err(|e| Error::port(format!("record the state of feature {feature}"), e))?;
        if !applied {
            return Ok(ControlFlow::Break(Flow::CasLost));
        }
        w.apply(cx.record);
        Ok(ControlFlow::Continue(()))
    }

    /// `SystemctlResetFailed`: only while the row is still marked: a Start since cleared the
    /// marker and did what it asked for (docs/decisions.md shape-3), and the step ends there.
    async fn reset_failed(&self, cx: &mut Exec<'_>) -> Result<ControlFlow<Flow>, Error> {
        let feature = cx.feature;
        if !self.still_marked(feature).await? {
            tracing::info!(
                %feature,
                "a start cleared start_requested_ts since this plan was made: no reset-failed, no start"
            );
            return Ok(ControlFlow::Break(Flow::Done));
        }
        self.systemctl(cx.lock, feature, UnitJob::ResetFailed)
            .await?;
        Ok(ControlFlow::Continue(()))
    }

    /// Whether STATE_DB `FEATURE|<f>` still holds `start_requested_ts`, read afresh.
    async fn still_marked(&self, feature: &FeatureName) -> Result<bool, Error> {
        let view = self
            .store()
            .feature(feature)
            .await
            .map_err(|e| Error::port(format!("read the state of feature {feature}"), e))?;
        Ok(view.record.start_requested_ts.is_some())
    }

    fn target(&self, feature: &FeatureName, target: &Target) -> ContainerId {
        match target {
            Target::Id(id) => id.clone(),
            Target::LocalByName => feature.local_container(),
        }
    }

    /// `<feature>_enabled=true` added or removed through the pending-list rules.
    async fn label(
        &self,
        feature: &FeatureName,
        add: bool,
        progress: &mut Progress,
    ) -> Result<(), Error> {
        if !self.options.kube {
            tracing::debug!(%feature, add, "no Kubernetes support in this build: label left alone");
            return Ok(());
        }
        if !add && !self.options.kubeconfig_present {
            // A node with no kubeconfig and no master configured has no label to remove:
            // removing one would only queue it and stop kubelet. Every Start and Stop with
            // owner local removes the label (invariant 8), so this check keeps a switch
            // without Kubernetes quiet.
            match self.store().server_config().await {
                Ok(server) if server.ip.is_none() => {
                    tracing::debug!(%feature, "no Kubernetes master is configured: no label to remove");
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(%feature, error = %ctrmgr_core::retry::error_line(&e), "cannot read the master's configuration: removing the label anyway");
                }
            }
        }
        let key = feature.enable_label_key();
        let op = if add {
            LabelOp::add(&key, codec::ENABLED_LABEL_VALUE)
        } else {
            LabelOp::remove(&key)
        }
        .map_err(|source| {
            Error::Feature(FeatureError::Label {
                feature: feature.to_string(),
                source,
            })
        })?;
        match self.labels.apply(std::slice::from_ref(&op)).await? {
            Applied::Sent => {}
            Applied::Queued { cause, .. } => {
                tracing::warn!(%feature, op = %op, "node label not changed now: {cause}");
                progress.labels_queued = true;
            }
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        feature: &FeatureName,
        id: &ContainerId,
        grace_secs: u32,
    ) -> Result<(), Error> {
        match self.containers.stop(id, grace_secs).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!(%feature, container = %id, "the container to stop no longer exists: it is stopped");
                Ok(())
            }
            Err(e) => Err(Error::port(format!("stop feature {feature}"), e)),
        }
    }

    async fn kill_container(&self, feature: &FeatureName, id: &ContainerId) -> Result<(), Error> {
        match self.containers.kill(id).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!(%feature, container = %id, "the container to kill no longer exists: it is stopped");
                Ok(())
            }
            Err(e) => Err(Error::port(format!("kill feature {feature}"), e)),
        }
    }

    /// The bounded wait for a kube container to exit once its label is removed; then
    /// `docker stop` if it still runs. When the label removal was queued (or labels are off),
    /// kubelet will not stop it: stop it at once. The caller runs it without the feature
    /// lock: the container's pre-stop takes it.
    async fn await_exit(
        &self,
        feature: &FeatureName,
        id: &ContainerId,
        timeout_secs: u32,
        grace_secs: u32,
        progress: &Progress,
    ) -> Result<(), Error> {
        if progress.labels_queued || !self.options.kube {
            tracing::info!(%feature, container = %id, "kubelet will not stop the kube container: stopping it now");
            return self.stop_container(feature, id, grace_secs).await;
        }
        let bound = Duration::from_secs(u64::from(timeout_secs));
        let waited = tokio::time::timeout(bound, self.containers.wait(id)).await;
        match waited {
            Ok(Ok(status)) => {
                tracing::info!(%feature, container = %id, code = status.code, "the kube container exited");
                Ok(())
            }
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => {
                tracing::info!(%feature, container = %id, "the kube container is gone");
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(%feature, container = %id, error = %ctrmgr_core::retry::error_line(&e), "cannot wait for the kube container: stopping it");
                self.stop_container(feature, id, grace_secs).await
            }
            Err(_) => {
                tracing::info!(%feature, container = %id, timeout_secs, "the kube container still runs: stopping it");
                self.stop_container(feature, id, grace_secs).await
            }
        }
    }

    /// Runs `job` on the feature's unit without the feature lock: the unit's scripts call
    /// `container start|stop`, which take it. Bounded by the systemd port.
    async fn systemctl(
        &self,
        lock: &mut FeatureLock,
        feature: &FeatureName,
        job: UnitJob,
    ) -> Result<(), Error> {
        let systemd = self.labels.systemd();
        let unit = feature.as_str();
        lock.release()?;
        let result = match job {
            UnitJob::ResetStartLimit => match systemd.activity(unit).await {
                Ok(UnitActivity::Active) => systemd.reset_failed(unit).await,
                Ok(other) => {
                    tracing::info!(%feature, unit, activity = %other, "the unit is no longer active: start limit left alone");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            UnitJob::ResetFailed => systemd.reset_failed(unit).await,
            UnitJob::TryRestart => systemd.try_restart(unit).await,
            UnitJob::Start => systemd.start(unit).await,
        };
        lock.reacquire().await?;
        result.map_err(|e| {
            Error::port(
                format!("{} the service of feature {feature}", job.verb()),
                e,
            )
        })
    }
}

/// What the driver asks systemd to do with a feature's unit, for the core's systemctl effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitJob {
    /// `systemctl start`.
    Start,
    /// `systemctl try-restart`.
    TryRestart,
    /// `systemctl reset-failed`.
    ResetFailed,
    /// `systemctl is-active`, then `reset-failed` only if the unit is active: clears the
    /// start limit of a running unit without touching a failed one.
    ResetStartLimit,
}

impl UnitJob {
    /// The systemctl verb, as messages name it.
    fn verb(self) -> &'static str {
        match self {
            UnitJob::Start => "start",
            UnitJob::TryRestart => "try-restart",
            UnitJob::ResetFailed => "reset-failed",
            UnitJob::ResetStartLimit => "reset-start-limit",
        }
    }
}

/// Runs `work` without the feature lock (released before, taken again after, whatever `work`
/// answered), for effects that wait on something that may itself need the lock. Every write
/// after it is decided on the record this run read: the stopping lock that a Start, Stop or
/// Kill holds keeps the others out meanwhile, and a write that changes `transition_mode` is
/// compare-and-set.
async fn unlocked<T>(
    lock: &mut FeatureLock,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    lock.release()?;
    let result = work.await;
    lock.reacquire().await?;
    result
}
