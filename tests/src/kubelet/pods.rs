//! The Docker side of the kubelet simulator: listing a node's pod containers, and starting,
//! restarting and stopping pods, through the `docker` CLI of the node's engine (argv only).

use std::path::Path;
use std::sync::Arc;

use tokio::process::Command;

use super::{
    BIN_INSIDE, DS_LABEL, ENTRYPOINT, FEATURE_LABEL, IMAGE_LABEL, NODE_LABEL, PodContainer,
    ROLE_LABEL, Shared, TEST_LABEL, Wanted,
};

/// Runs `docker <args>` against the engine at `host`; its stdout on success, the reason otherwise.
pub(super) async fn docker(host: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("docker {}: {e}", args.first().copied().unwrap_or("")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The pods' containers of `node`, as the engine at `host` lists them (running or not).
pub async fn pod_containers(host: &str, node: &str) -> Result<Vec<PodContainer>, String> {
    let filter = format!("label={NODE_LABEL}={node}");
    let format = format!(
        "{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.State}}}}\t{{{{.Label \"{DS_LABEL}\"}}}}\t{{{{.Label \"{IMAGE_LABEL}\"}}}}\t{{{{.Label \"{ROLE_LABEL}\"}}}}\t{{{{.Label \"{FEATURE_LABEL}\"}}}}"
    );
    let out = docker(
        host,
        &[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &filter,
            "--format",
            &format,
        ],
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 7).then(|| PodContainer {
                id: f[0].to_owned(),
                name: f[1].to_owned(),
                state: f[2].to_owned(),
                daemonset: f[3].to_owned(),
                image: f[4].to_owned(),
                role: f[5].to_owned(),
                feature: f[6].to_owned(),
            })
        })
        .collect())
}

/// Removes every container of `node` (SIGKILL).
pub(super) async fn remove_all(host: &str, node: &str) {
    if let Ok(list) = pod_containers(host, node).await {
        let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = docker(host, &args).await;
        }
    }
}

fn pod_name(w: &Wanted, node: &str) -> String {
    format!("{}-{node}", w.name)
}

fn labels_args(shared: &Shared, w: &Wanted, role: &str) -> Vec<String> {
    [
        (TEST_LABEL, "1"),
        (NODE_LABEL, shared.opts.node.as_str()),
        (DS_LABEL, w.key.as_str()),
        (IMAGE_LABEL, w.image.as_str()),
        (ROLE_LABEL, role),
        (
            FEATURE_LABEL,
            if role == "sandbox" {
                "POD"
            } else {
                w.container.as_str()
            },
        ),
    ]
    .iter()
    .flat_map(|(k, v)| ["--label".to_owned(), format!("{k}={v}")])
    .collect()
}

pub(super) async fn start_pod(shared: &Arc<Shared>, w: &Wanted) -> Result<(), String> {
    let opts = &shared.opts;
    let pod = pod_name(w, &opts.node);
    let sandbox_name = format!("k8s_POD_{pod}_{}_{}_0", w.namespace, opts.node);
    let mut args: Vec<String> = vec![
        "create".into(),
        "--name".into(),
        sandbox_name,
        "--network".into(),
        "host".into(),
        // As kubelet's Docker runtime makes a sandbox: its IPC namespace is joined by the
        // pod's containers.
        "--ipc".into(),
        "shareable".into(),
    ];
    args.extend(labels_args(shared, w, "sandbox"));
    args.extend([opts.image.clone(), "/bin/sleep".into(), "1000000".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let sandbox = docker(&opts.docker_host, &argv).await?.trim().to_owned();
    docker(&opts.docker_host, &["start", &sandbox]).await?;
    start_feature(shared, w, &sandbox, 0).await
}

pub(super) async fn start_feature(
    shared: &Arc<Shared>,
    w: &Wanted,
    sandbox: &str,
    attempt: u32,
) -> Result<(), String> {
    let opts = &shared.opts;
    let pod = pod_name(w, &opts.node);
    let name = format!(
        "k8s_{}_{pod}_{}_{}_{attempt}",
        w.container, w.namespace, opts.node
    );
    let mut args: Vec<String> = vec![
        "create".into(),
        "--name".into(),
        name.clone(),
        "--network".into(),
        format!("container:{sandbox}"),
        // kubelet's Docker runtime (dockershim, cri-dockerd) joins the sandbox's IPC namespace
        // too, so `/dev/shm` is the sandbox's.
        "--ipc".into(),
        format!("container:{sandbox}"),
        "-v".into(),
        format!("{}:{BIN_INSIDE}:ro", opts.container_bin.display()),
    ];
    for lib in ["/lib", "/lib64", "/usr/lib"] {
        if Path::new(lib).exists() {
            args.extend(["-v".into(), format!("{lib}:{lib}:ro")]);
        }
    }
    for b in &opts.binds {
        args.extend(["-v".into(), b.clone()]);
    }
    for e in &opts.env {
        args.extend(["-e".into(), e.clone()]);
    }
    args.extend(labels_args(shared, w, "feature"));
    args.extend([
        opts.image.clone(),
        "/bin/sh".into(),
        "-c".into(),
        ENTRYPOINT.into(),
        "sh".into(),
        w.container.clone(),
    ]);
    args.extend(opts.container_args.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = docker(&opts.docker_host, &argv).await?.trim().to_owned();
    docker(&opts.docker_host, &["start", &id]).await?;
    shared.log(format!("{}: started {name}", w.key));
    // Wake the loop when it exits (or when its engine goes away).
    let waker = shared.clone();
    tokio::spawn(async move {
        let _ = docker(&waker.opts.docker_host, &["wait", &id]).await;
        waker.wake.notify_one();
    });
    Ok(())
}

pub(super) async fn stop_pod(
    shared: &Arc<Shared>,
    actual: &[PodContainer],
    key: &str,
    reason: &str,
) {
    let opts = &shared.opts;
    let grace = opts.grace_secs.to_string();
    shared.log(format!("{key}: {reason}, stopping pod"));
    for c in actual
        .iter()
        .filter(|c| c.daemonset == key && c.role == "feature")
    {
        if c.is_running() {
            let _ = docker(&opts.docker_host, &["stop", "-t", &grace, &c.id]).await;
        }
    }
    for c in actual.iter().filter(|c| c.daemonset == key) {
        let _ = docker(&opts.docker_host, &["rm", "-f", &c.id]).await;
    }
    shared.log(format!("{key}: pod removed"));
}
