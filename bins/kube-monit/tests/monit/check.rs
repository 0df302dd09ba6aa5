//! `kube-monit check <feature>`: 0 when the container STATE_DB names as owner runs, else 1,
//! with one line saying why — the same for a local and a kube owner.

use ctrmgr_core::{ContainerId, FeatureConfig, FeatureName, FeatureRecord, Owner, State};
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestDocker};
use ctrmgr_tests::sim::UnitCommands;

use super::{Monitored, output};

async fn check(sw: &Monitored, docker: &TestDocker, f: &FeatureName) -> (Option<i32>, String) {
    let mut c = sw.command(&["check", f.as_str()]);
    c.env("DOCKER_HOST", docker.host()).env("RUST_LOG", "off");
    let out = output(c).await;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout:?}");
    (out.status.code(), stdout)
}

#[tokio::test]
async fn check_exits_0_only_when_the_recorded_owner_runs_whether_local_or_kube() {
    let Some(docker) = TestDocker::ensure()
        .await
        .expect("a docker engine (CTRMGR_REQUIRE_DOCKER=1)")
    else {
        return;
    };
    let sw = Monitored::new(&UnitCommands::default(), serde_json::json!({})).await;
    let f = FeatureName::new(&TestDocker::unique_name("m")).expect("name");
    let db = &sw.fixture.db;
    db.set_feature_config(&f, &FeatureConfig::new(Owner::Local, false))
        .await
        .expect("config");

    let c = docker
        .container("monit", &TRAP_TERM)
        .await
        .expect("container");
    let id: ContainerId = c.id().clone();
    docker.client().start(&id).await.expect("start");

    for (state, owner) in [(State::Local, "local"), (State::KubeRunning, "kube")] {
        db.set_feature_record(&f, &FeatureRecord::of_state(state, Some(id.clone())))
            .await
            .expect("record");
        docker.client().start(&id).await.expect("start");
        let (code, line) = check(&sw, &docker, &f).await;
        assert_eq!(code, Some(0), "{line}");
        assert!(
            line.contains(&format!("running: {owner} container")),
            "{line}"
        );

        docker.client().stop(&id, 1).await.expect("stop");
        let (code, line) = check(&sw, &docker, &f).await;
        assert_eq!(code, Some(1), "{line}");
        assert!(line.contains("does not run"), "{line}");
    }

    // Nothing recorded.
    db.set_feature_record(&f, &FeatureRecord::of_state(State::KubeReady, None))
        .await
        .expect("record");
    let (code, line) = check(&sw, &docker, &f).await;
    assert_eq!(code, Some(1), "{line}");
    assert!(line.contains("no owning container"), "{line}");
    assert!(line.contains("transition_mode=kube_ready"), "{line}");

    // An unknown feature is an error: one line on stderr, exit 1.
    let mut c = sw.command(&["check", "nosuchfeature"]);
    c.env("RUST_LOG", "off");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("kube-monit: error: "), "{err}");
    assert!(err.contains("unknown feature nosuchfeature"), "{err}");
}
