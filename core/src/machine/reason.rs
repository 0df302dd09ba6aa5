//! Why a step did what it did: the [`Reason`] of every row, with its text.

use serde::Serialize;

/// Defines [`Reason`] and [`Reason::text`] from one list, so that every variant's text is also
/// its documentation.
macro_rules! reasons {
    ($($name:ident => $text:literal,)*) => {
        /// Why a step did what it did: the row of DESIGN.md §4 that applied.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Reason {
            $(#[doc = $text] $name,)*
        }

        impl Reason {
            /// The row in words, as logged and as written in `docs/state-machine.md`.
            pub fn text(self) -> &'static str {
                match self {
                    $(Reason::$name => $text,)*
                }
            }
        }
    };
}

reasons! {
    StartLocal => "start the local image",
    StartKubeFallbackLocal => "owner kube with fallback: add the label and run the local image until kube deploys",
    StartKubeApproved => "owner kube without fallback: stop an unrecorded local container, pre-approve (kube_ready) and add the label",
    StartLocalAgain => "already local: docker start is a no-op on a running container; ensure the label when owner is kube",
    StartApprovesPending => "a kube container waits: approve it in place (kube_ready) and add the label",
    StartLocalDropsPending => "owner local: drop the pending kube request and start the local image",
    StartKubeAfterStopped => "the kube container exited: approve the next deployment and add the label",
    StartLocalAfterStopped => "owner local after a kube container: clear the mode and start the local image",
    StartAlreadyUnderWay => "already started: idempotent; ensure the label when owner is kube",
    StopLocal => "stop the local container (remove the label when owner is kube)",
    StopLocalKeepsPendingApproval => "an approval is under way: stop the local container, keep the label",
    StopLocalToKubeOwnerLocal => "owner local: remove the label, stop the local container, clear the mode",
    StopPendingKeepsApproval => "an approval is under way: nothing to stop, keep the label",
    StopPendingOwnerLocal => "owner local: remove the label and clear the pending request",
    StopReady => "not deployed yet: remove the label and clear the mode",
    StopKubeRunning => "remove the label, wait (bounded) for kubelet to stop the container, else docker stop it; record the exit",
    StopKubeStoppedKeepsLabel => "the kube container already exited: keep the label so that its replacement is not undeployed",
    StopKubeStoppedOwnerLocal => "owner local: remove the label and clear the mode",
    StopNothingRuns => "nothing is recorded: docker stop the local container by name in case a cancelled start left it running",
    KillLocal => "kill the local container and record the exit (remove the label when owner is kube)",
    KillLocalKeepsPendingApproval => "an approval is under way: kill the local container, keep the label",
    KillLocalToKubeOwnerLocal => "owner local: remove the label, kill the local container, clear the mode",
    KillKubeRunning => "remove the label, kill the kube container and record the exit at once",
    KillAsStop => "no container runs: as Stop",
    LocalUpRecorded => "record the local container as owner",
    LocalUpIdRecorded => "record the local container's id",
    LocalUpWhilePending => "a local container came up while a kube container waits: record it",
    LocalUpRefusedWhileKube => "kube owns or is about to own the feature: stop that local container (never two owners)",
    KubeUpParkedOwnerLocal => "owner local: the kube container must never run the feature (parked)",
    KubeUpProceeds => "approved: the kube container claims the feature",
    KubeUpRequestsApproval => "a kube container asks to run: request approval (kube_pending)",
    KubeUpInterruptsLocal => "a kube container asks to replace the local one: request approval (kube_pending)",
    KubeUpWaits => "an approval is already under way: wait",
    KubeUpAlreadyRunning => "this container already owns the feature",
    KubeUpWaitsForOldContainer => "another kube container still owns the feature: wait until it exits",
    DownLocal => "the local container exited",
    DownLocalPending => "the local container exited while a kube container waits",
    DownKube => "the kube container exited",
    DownKubeOwnerLocal => "the kube container exited and owner is local: back to INIT",
    DownNotOwner => "not the recorded container: nothing changes",
    StartFallsBackAfterDeadline => "owner kube with fallback: kube did not run the feature for N minutes: clear the mode, keep the label, run the local image",
    ApproveRestartsUnit => "approve: reset the start limit of the active unit, one try-restart job (its Start from KUBE_PENDING sets kube_ready); an operator's stop that comes first wins",
    ApproveStartsFailedUnit => "approve a failed unit: mark start_requested_ts, reset-failed, start (its Start approves)",
    ApproveFinishesRequestedStart => "this system reset the unit to start it and did not finish: reset-failed, start",
    ApproveDeferredUnitStopped => "the unit is stopped (by the operator, or not started yet): never start it; its next Start approves",
    ApproveRequestDone => "the unit is active or activating: the start this system requested is under way or done, and its Start clears start_requested_ts",
    ApproveNothingPending => "no kube container waits for approval",
    FailureRestartsUnit => "kube did not run the feature for N minutes: reset the start limit of the active unit, one try-restart job; its Start falls back to the local image",
    FailureStartsFailedUnit => "kube did not run the feature for N minutes and the unit failed: mark start_requested_ts, reset-failed, start; the Start falls back",
    FailureFinishesRequestedStart => "kube did not run the feature for N minutes; this system reset the unit to start it: reset-failed, start",
    FailureUnitStopped => "the operator stopped the unit: no fallback until it is started again (that Start falls back)",
    FailureNotDue => "the failure deadline has not passed",
    FailureNotApplicable => "failure detection does not apply in this state or configuration",
}
