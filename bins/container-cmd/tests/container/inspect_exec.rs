//! `inspect`, `exec` and `id` act on the recorded `docker_id`, not on the name: the test
//! renames the owning container and puts a decoy under the feature's name.

use ctrmgr_core::Owner;

use super::*;

/// A started local feature whose container was renamed, with a stopped decoy container under
/// the feature's name. Returns the owner's id and its new name.
async fn renamed_owner(sw: &Switch) -> (ContainerId, String) {
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let owner = sw.local_container(&f, false).await;
    sw.ok(&["start", sw.f()]).await;
    sw.docker
        .await_ready(&owner, DEADLINE)
        .await
        .expect("container ready");
    let renamed = format!("{}-renamed", sw.f());
    sw.docker
        .client()
        .rename(&owner, &renamed)
        .await
        .expect("rename");
    let decoy = sw.container(Some(sw.f()), &TRAP_TERM, false).await;
    assert_ne!(decoy, owner);
    (owner, renamed)
}

#[tokio::test]
async fn inspect_prints_the_recorded_container_not_the_one_with_the_feature_name() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let (owner, renamed) = renamed_owner(&sw).await;

    let out = sw.ok(&["inspect", sw.f()]).await;

    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let items = doc.as_array().expect("an array, as docker inspect prints");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Id"].as_str(), Some(owner.as_str()));
    assert_eq!(
        items[0]["Name"].as_str(),
        Some(format!("/{renamed}").as_str())
    );
    assert_eq!(items[0]["State"]["Running"].as_bool(), Some(true));
}

#[tokio::test]
async fn exec_runs_in_the_recorded_container_and_exits_with_the_command_code() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let (owner, _) = renamed_owner(&sw).await;

    let out = sw.ok(&["exec", sw.f(), "--", "/bin/hostname"]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        owner.short(),
        "a container's hostname is its short id"
    );

    let out = sw
        .run(&[
            "exec",
            sw.f(),
            "--",
            "/bin/sh",
            "-c",
            "echo oops >&2; exit 7",
        ])
        .await;
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));
}

#[tokio::test]
async fn exec_with_i_passes_standard_input_to_the_command() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    renamed_owner(&sw).await;

    let mut c = sw.command(&["exec", sw.f(), "-i", "--", "/bin/cat"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("container runs");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin piped");
        stdin.write_all(b"hello from stdin\n").await.expect("write");
    }
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("exec ends")
        .expect("exec runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from stdin\n");
}

/// For a local owner `container id` prints the feature's name, as upstream's `container id`
/// does (the local container is named after the feature); for a kube owner, the recorded id.
#[tokio::test]
async fn id_prints_the_name_for_a_local_owner_and_the_recorded_id_for_a_kube_owner() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    renamed_owner(&sw).await;
    let out = sw.ok(&["id", sw.f()]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", sw.f())
    );

    let f = sw.feature.clone();
    let kube = sw.kube_container(true).await;
    sw.configure(&f, Owner::Kube, false).await;
    sw.set_record(&f, State::KubeRunning, Some(&kube)).await;
    let out = sw.ok(&["id", sw.f()]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{kube}\n"));
}

#[tokio::test]
async fn without_a_recorded_id_a_local_feature_is_found_by_its_name() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, false).await;

    let out = sw.ok(&["id", sw.f()]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{local}\n"));
    let out = sw.ok(&["inspect", sw.f()]).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc[0]["Id"].as_str(), Some(local.as_str()));
}

// Built without Kubernetes support, set_owner=kube is read as local and the container named
// after the feature is the one to inspect.
#[cfg(feature = "kube")]
#[tokio::test]
async fn a_kube_feature_without_a_recorded_container_has_nothing_to_inspect() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    // A container with the feature's name exists, but set_owner=kube never runs it.
    sw.local_container(&f, false).await;
    let out = sw.run_quiet(&["inspect", sw.f()]).await;
    assert_fails_with(&out, &[sw.f(), "no docker_id"]);
    assert!(out.stdout.is_empty());
}
