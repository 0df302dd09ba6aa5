//! A kube container in a Kubernetes pod on the Docker runtime, built as kubelet's dockershim
//! and cri-dockerd build it: a pause-like sandbox (labelled
//! `io.kubernetes.docker.type=podsandbox`, IPC `shareable`), and the feature container joined
//! to its network *and* IPC namespaces (`--network container:<sandbox>`,
//! `--ipc container:<sandbox>`), so its `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` and
//! `/dev/shm` are the sandbox's. Wave 1 recorded the sandbox's id (issue 8, item 1): `container
//! stop` with the master unreachable then stopped the sandbox and the feature kept running.

use ctrmgr_core::{CurrentOwner, TransitionMode};
use ctrmgr_tests::fakekube::Fault;

use super::*;

/// The label kubelet's Docker runtime puts on a pod's sandbox.
const SANDBOX_TYPE: (&str, &str) = ("io.kubernetes.docker.type", "podsandbox");

/// A pod: its sandbox and its feature container.
struct Pod {
    sandbox: ContainerId,
    feature: ContainerId,
}

/// A started pause-like sandbox, as kubelet makes it.
async fn sandbox(sw: &Switch) -> ContainerId {
    let image = sw.docker.test_image().await.expect("test image");
    let mut spec = ContainerSpec::new(image, &SIGNALLED);
    spec.labels
        .insert(SANDBOX_TYPE.0.to_owned(), SANDBOX_TYPE.1.to_owned());
    spec.ipc_mode = Some("shareable".to_owned());
    let c = sw
        .docker
        .container_with(spec)
        .await
        .expect("create sandbox");
    let id = c.id().clone();
    sw.containers.lock().expect("not poisoned").push(c);
    sw.docker.client().start(&id).await.expect("start sandbox");
    sw.docker
        .await_ready(&id, DEADLINE)
        .await
        .expect("sandbox ready");
    id
}

/// A container of `sandbox`'s pod running `script` with the real binary at hand.
async fn pod_container(sw: &Switch, sandbox: &ContainerId, script: &str) -> ContainerSpec {
    let mut spec = sw.spec_running_the_binary(&["/bin/sh", "-c", script]).await;
    spec.network_of = Some(sandbox.clone());
    spec.ipc_mode = Some(format!("container:{sandbox}"));
    spec.env = vec!["RUST_LOG=warn".to_owned()];
    spec
}

/// A pod whose feature container ran `container state <f> up kube` (no `--id`) at start and
/// proceeded from KUBE_READY; the record names the feature container.
async fn running_pod(sw: &Switch) -> Pod {
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let sandbox = sandbox(sw).await;
    let argv = sw.argv_inside(&["state", sw.f(), "up", "kube"]);
    let script = format!(
        "{} && trap 'exit 0' TERM && touch /tmp/feature /tmp/ready && sleep 1000 & wait",
        argv.join(" ")
    );
    let spec = pod_container(sw, &sandbox, &script).await;
    let c = sw.docker.container_with(spec).await.expect("create");
    let feature = c.id().clone();
    sw.containers.lock().expect("not poisoned").push(c);
    sw.docker.client().start(&feature).await.expect("start");
    sw.docker
        .await_ready(&feature, DEADLINE)
        .await
        .expect("state up kube proceeded inside the pod");
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning);
    assert_eq!(
        rec.docker_id.as_ref(),
        Some(&feature),
        "the feature container's own id, not the sandbox's ({sandbox})"
    );
    Pod { sandbox, feature }
}

#[tokio::test]
async fn in_a_pod_up_kube_records_the_feature_container_not_the_sandbox_and_commands_act_on_it() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let pod = running_pod(&sw).await;

    let id = sw.ok(&["id", sw.f()]).await;
    assert_eq!(
        String::from_utf8_lossy(&id.stdout).trim(),
        pod.feature.as_str()
    );
    let inspect = sw.ok(&["inspect", sw.f()]).await;
    assert!(String::from_utf8_lossy(&inspect.stdout).contains(pod.feature.as_str()));
    // Only the feature container has /tmp/feature.
    sw.ok(&["exec", sw.f(), "--", "test", "-e", "/tmp/feature"])
        .await;

    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line("waiting for the container to exit").await;
    sw.ok(&["kill", sw.f()]).await;
    assert!(
        !sw.running(&pod.feature).await,
        "the feature container was killed"
    );
    assert!(sw.running(&pod.sandbox).await, "the sandbox was left alone");
    assert_eq!(wait.finish().await.code(), Some(0));
    assert_eq!(sw.record(&f).await.state(), State::KubeStopped);
}

/// The reproduced defect: `container stop` with the master unreachable (the label removal is
/// queued, kubelet will not stop the pod) docker-stops the recorded container at once; that
/// must be the feature container, and the sandbox must keep running.
#[tokio::test]
async fn in_a_pod_stop_with_the_master_unreachable_stops_the_feature_container_not_the_sandbox() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let pod = running_pod(&sw).await;
    sw.set_label(&f, true);
    sw.fixture.fake.set_fault(Fault::Refuse);

    let out = sw.ok(&["stop", sw.f()]).await;

    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("kubelet will not stop the kube container"),
        "stopped at once: {log}"
    );
    assert!(
        !sw.running(&pod.feature).await,
        "the feature container was stopped"
    );
    assert!(sw.running(&pod.sandbox).await, "the sandbox keeps running");
    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
    assert_eq!(sw.systemctl_calls(), ["stop kubelet"]);
    sw.fixture.fake.set_fault(Fault::None);
}

#[tokio::test]
async fn in_a_pod_kill_all_kills_the_feature_container_and_the_sandbox_survives() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let pod = running_pod(&sw).await;

    let out = sw.ok(&["kill-all"]).await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{f}: killed container {}", pod.feature.short())),
        "{stdout}"
    );
    assert_eq!(sw.docker_state(&pod.feature).await, (false, 137));
    assert!(sw.running(&pod.sandbox).await, "the sandbox survives");
    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
}

/// Runs `container state <f> up kube` (no `--id`, logs off) in a container of `sandbox`'s pod
/// with a private cgroup namespace (so `/proc/self/cgroup` names nothing, as on cgroup v2)
/// and `/dev/shm` bound from a `…/containers/<sandbox>/mounts/shm` directory, as an engine
/// that binds the sandbox's shm gives it; with the engine's socket at `/var/run/docker.sock`
/// when `socket`. Returns its exit status and its stderr lines.
async fn up_kube_seeing_only_the_sandbox(
    sw: &Switch,
    sandbox: &ContainerId,
    socket: bool,
) -> (String, Vec<String>) {
    let dir = sw.fixture.dir.path();
    let shm = dir
        .join("containers")
        .join(sandbox.as_str())
        .join("mounts/shm");
    std::fs::create_dir_all(&shm).expect("create the shm directory");
    let (rc, err) = (dir.join("up.rc"), dir.join("up.err"));
    let argv = sw.argv_inside(&["state", sw.f(), "up", "kube"]);
    let script = format!(
        "{} 2>{}; echo $? >{}",
        argv.join(" "),
        err.display(),
        rc.display()
    );
    let mut spec = pod_container(sw, sandbox, &script).await;
    spec.env = vec!["RUST_LOG=off".to_owned()];
    spec.cgroupns_private = true;
    spec.binds.push(format!("{}:/dev/shm", shm.display()));
    if socket {
        let host = sw.docker.host();
        let path = host.strip_prefix("unix://").expect("a unix socket engine");
        spec.binds.push(format!("{path}:/var/run/docker.sock"));
    }
    let c = sw.docker.container_with(spec).await.expect("create");
    let id = c.id().clone();
    sw.docker.client().start(&id).await.expect("start");
    tokio::time::timeout(DEADLINE, sw.docker.client().wait(&id))
        .await
        .expect("the command ends")
        .expect("docker wait");
    drop(c);
    let read = |p: &Path| std::fs::read_to_string(p).expect("written by the container");
    let lines = read(&err).lines().map(str::to_owned).collect();
    (read(&rc).trim().to_owned(), lines)
}

/// The engine check (`own_id`): an id found only in mountinfo that the engine says is a pod's
/// sandbox is refused with one line, and nothing is written; without a socket, `up kube`
/// refuses an id that is also the one its network files come from.
#[tokio::test]
async fn up_kube_refuses_a_sandbox_id_from_mountinfo_with_one_line_and_writes_nothing() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let sandbox = sandbox(&sw).await;

    for (socket, why) in [
        (
            true,
            "is a pod's sandbox (io.kubernetes.docker.type=podsandbox)",
        ),
        (false, "is also the one /etc/hostname comes from"),
    ] {
        let (rc, lines) = up_kube_seeing_only_the_sandbox(&sw, &sandbox, socket).await;
        assert_eq!(rc, "1", "socket {socket}: {lines:?}");
        assert_eq!(lines.len(), 1, "one line: {lines:?}");
        for needle in [
            "container: error: ",
            sw.f(),
            sandbox.as_str(),
            why,
            "pass --id",
        ] {
            assert!(lines[0].contains(needle), "{:?} lacks {needle:?}", lines[0]);
        }
        assert!(sw.raw_row(&f).await.is_empty(), "nothing written");
        assert!(sw.running(&sandbox).await);
    }
}
