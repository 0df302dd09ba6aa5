//! The plain-text spelling of the core's effects, shared by `codegen` (where container ids are
//! symbolic: ⟨recorded⟩, ⟨input⟩) and `demo` (where they are the world's ids).

use ctrmgr_core::{ContainerId, Effect, KubeAnswer, StateWrite, Target};

/// How a container id is shown.
pub type IdNamer<'a> = &'a dyn Fn(&ContainerId) -> String;

/// One effect, e.g. `docker stop ⟨recorded⟩ (grace 10 s)`. Timestamps are left out: every write
/// also stamps the `_update_ts` field of what it changes with `now`.
pub fn effect(e: &Effect, name: IdNamer<'_>) -> String {
    let target = |t: &Target| match t {
        Target::Id(id) => name(id),
        Target::LocalByName => "the local container by name".to_owned(),
    };
    match e {
        Effect::LabelAdd => "label add".to_owned(),
        Effect::LabelRemove => "label remove".to_owned(),
        Effect::DockerStart => "docker start (local image)".to_owned(),
        Effect::DockerStop {
            target: t,
            grace_secs,
        } => {
            format!("docker stop {} (grace {grace_secs} s)", target(t))
        }
        Effect::DockerKill { target: t } => format!("docker kill {}", target(t)),
        Effect::AwaitExit {
            id,
            timeout_secs,
            grace_secs,
        } => format!(
            "await exit of {} (≤ {timeout_secs} s), else docker stop it (grace {grace_secs} s)",
            name(id)
        ),
        Effect::Write(w) => write(w, name),
        Effect::SystemctlResetStartLimit => "systemctl reset-failed (if still active)".to_owned(),
        Effect::SystemctlResetFailed => "systemctl reset-failed".to_owned(),
        Effect::SystemctlTryRestart => "systemctl try-restart".to_owned(),
        Effect::SystemctlStart => "systemctl start".to_owned(),
        Effect::Answer(a) => format!("answer {}", answer(*a)),
    }
}

/// A STATE_DB write: `write owner=local docker_id=⟨input⟩ mode=kube_ready (if mode=none)`.
fn write(w: &StateWrite, name: IdNamer<'_>) -> String {
    let mut parts = vec!["write".to_owned()];
    if let Some(o) = &w.owner {
        parts.push(format!("owner={}", o.owner));
        parts.push(format!(
            "docker_id={}",
            o.docker_id.as_ref().map_or_else(|| "\"\"".to_owned(), name)
        ));
    }
    if let Some(m) = w.mode {
        parts.push(format!("mode={m}"));
    }
    match w.start_requested {
        Some(true) => parts.push("start_requested_ts=now".to_owned()),
        Some(false) => parts.push("start_requested_ts=\"\"".to_owned()),
        None => {}
    }
    if let Some(g) = w.guard {
        parts.push(format!("(if mode={g})"));
    }
    parts.join(" ")
}

/// The answer to a kube container, in lower case.
pub fn answer(a: KubeAnswer) -> &'static str {
    match a {
        KubeAnswer::Proceed => "proceed",
        KubeAnswer::Wait => "wait",
        KubeAnswer::Park => "park",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::{CurrentOwner, OwnerWrite, TransitionMode};

    #[test]
    fn a_guarded_write_names_owner_id_mode_and_guard() {
        let id = ContainerId::new("abc").expect("a valid id");
        let e = Effect::Write(StateWrite {
            guard: Some(TransitionMode::KubeReady),
            owner: Some(OwnerWrite {
                owner: CurrentOwner::Kube,
                docker_id: Some(id),
            }),
            mode: Some(TransitionMode::KubeRunning),
            start_requested: None,
            now: ctrmgr_core::Timestamp::from_secs(7),
        });
        assert_eq!(
            effect(&e, &|id| format!("<{id}>")),
            "write owner=kube docker_id=<abc> mode=kube_running (if mode=kube_ready)"
        );
    }

    #[test]
    fn clearing_the_owner_writes_an_empty_docker_id() {
        let e = Effect::Write(StateWrite {
            guard: None,
            owner: Some(OwnerWrite {
                owner: CurrentOwner::None,
                docker_id: None,
            }),
            mode: None,
            start_requested: None,
            now: ctrmgr_core::Timestamp::from_secs(7),
        });
        assert_eq!(
            effect(&e, &|id| id.to_string()),
            "write owner=none docker_id=\"\""
        );
    }
}
