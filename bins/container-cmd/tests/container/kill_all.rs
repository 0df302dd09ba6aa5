//! `container kill-all`: kills exactly the running owning containers of the configured
//! features and records their exits; an unrelated container keeps running.

use ctrmgr_core::{CurrentOwner, Owner, TransitionMode};

use super::*;

#[tokio::test]
async fn kill_all_kills_exactly_the_running_feature_containers() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    // A local feature that runs.
    let local_f = sw.feature.clone();
    sw.configure(&local_f, Owner::Local, false).await;
    let local = sw.local_container(&local_f, false).await;
    sw.ok(&["start", local_f.as_str()]).await;
    // A kube feature that runs.
    let kube_f = unique_feature();
    sw.configure(&kube_f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    sw.set_record(&kube_f, State::KubeReady, None).await;
    sw.set_label(&kube_f, true);
    sw.ok(&[
        "state",
        kube_f.as_str(),
        "up",
        "kube",
        "--id",
        kube.as_str(),
    ])
    .await;
    // A feature that is configured but stopped: its container exists and must stay stopped.
    let idle_f = unique_feature();
    sw.configure(&idle_f, Owner::Local, false).await;
    let idle = sw.local_container(&idle_f, false).await;
    // Something else on the switch.
    let unrelated = sw.unrelated_container().await;

    let out = sw.ok(&["kill-all"]).await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{local_f}: killed container {}", local.short())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{kube_f}: killed container {}", kube.short())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{idle_f}: no container runs")),
        "{stdout}"
    );

    assert_eq!(sw.docker_state(&local).await, (false, 137));
    assert_eq!(sw.docker_state(&kube).await, (false, 137));
    assert!(!sw.running(&idle).await);
    assert!(
        sw.running(&unrelated).await,
        "an unrelated container keeps running"
    );

    assert_eq!(sw.record(&local_f).await.state(), State::Init);
    let rec = sw.record(&kube_f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
    assert!(!sw.labelled(&kube_f), "the kube feature's label is removed");
    assert_eq!(sw.record(&idle_f).await.state(), State::Init);
    assert!(
        sw.raw_row(&idle_f).await.is_empty(),
        "nothing written for it"
    );
}
