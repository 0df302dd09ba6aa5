//! `cargo xtask bench`: the handover downtime of DESIGN.md §10, measured in the switch in a
//! box ([`ctrmgr_tests::world`]): real `container`, real Docker Engine, the kubelet simulator's
//! pod parked in `container state up kube`.
//!
//! Each cycle: local → kube (set_owner=kube with fallback, the local image runs, the pod comes
//! and waits for approval; the approval runs the unit's commands, `container stop` then
//! `container start`) — downtime from the local container's exit (Docker's `FinishedAt`) to
//! STATE_DB saying KUBE_RUNNING (the pod's container proceeding; read every millisecond); then
//! kube → local (set_owner=local, `container stop`, `container start`) — downtime from the pod
//! container's exit (Docker's wait returning) to the local container running (`StartedAt`).
//!
//! Prints one line: `BENCH handover runs=N l2k_us=a,b,… k2l_us=a,b,…`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ctrmgr_core::{CurrentOwner, FeatureName, Owner, TransitionMode};
use ctrmgr_dockerclient::testing::TestDocker;
use ctrmgr_tests::world::{World, id, kube_running};

/// Seconds since midnight UTC of an RFC 3339 time as Docker prints it
/// (`2026-11-28T05:58:01.123456789Z`).
fn time_of_day(rfc3339: &str) -> f64 {
    let t = rfc3339
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0.0);
    let m: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0.0);
    let s: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0.0);
    h * 3600.0 + m * 60.0 + s
}

fn now_of_day() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    d % 86_400.0
}

fn gap(from: f64, to: f64) -> Duration {
    let mut d = to - from;
    if d < -43_200.0 {
        d += 86_400.0; // across midnight
    }
    Duration::from_secs_f64(d.max(0.0))
}

async fn state_time(w: &World, container: &str, field: &str) -> f64 {
    let doc = w
        .docker
        .client()
        .inspect(&id(container))
        .await
        .expect("inspect");
    time_of_day(doc["State"][field].as_str().unwrap_or_default())
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--iterations")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let feature = FeatureName::new(&TestDocker::unique_name("h")).expect("a feature name");
    let node = format!("node-{}", feature.as_str());
    let w = World::with_names(
        feature,
        node,
        Owner::Local,
        false,
        Duration::from_millis(50),
    )
    .await;
    let f = w.f().to_owned();
    let local = w.local.id().as_str().to_owned();
    let (mut l2k, mut k2l) = (Vec::new(), Vec::new());
    w.container(&["start", &f]).await;
    w.await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    for _ in 0..runs {
        // local → kube
        w.set_owner(Owner::Kube, true).await;
        w.container(&["stop", &f]).await;
        w.container(&["start", &f]).await;
        w.await_record("local_to_kube", |r| {
            r.current_owner == CurrentOwner::Local
                && r.transition_mode == TransitionMode::KubePending
        })
        .await;
        w.await_kube_running(1).await;
        w.container(&["stop", &f]).await;
        let poll = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                if kube_running(&w.record().await) {
                    break now_of_day();
                }
                assert!(tokio::time::Instant::now() < deadline, "never claimed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let approve = ["start", f.as_str()];
        let (_, claimed) = tokio::join!(w.container(&approve), poll);
        l2k.push(gap(state_time(&w, &local, "FinishedAt").await, claimed));
        let pod = w.await_kube_running(1).await;
        // kube → local
        // The pod's container is removed once stopped: its exit time is taken when
        // Docker's wait returns.
        let exited = {
            let docker = w.docker.client().clone();
            let pod_id = id(&pod[0].id);
            tokio::spawn(async move {
                let _ = docker.wait(&pod_id).await;
                now_of_day()
            })
        };
        w.set_owner(Owner::Local, false).await;
        w.container(&["stop", &f]).await;
        w.container(&["start", &f]).await;
        w.await_record("local", |r| r.current_owner == CurrentOwner::Local)
            .await;
        let exited = exited.await.expect("wait task");
        k2l.push(gap(exited, state_time(&w, &local, "StartedAt").await));
        w.await_kube_running(0).await;
    }
    w.container(&["stop", &f]).await;
    w.finish().await;
    let us = |v: &[Duration]| {
        v.iter()
            .map(|d| d.as_micros().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "BENCH handover runs={runs} l2k_us={} k2l_us={}",
        us(&l2k),
        us(&k2l)
    );
}
