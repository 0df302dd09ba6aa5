//! `container_startup.py`, the entry point today's kube images call from their start script,
//! run from inside a container as such an image runs it: the binary mounted at the script's
//! path, the Redis directory and `/etc/sonic/ctrmgr.json` where a switch has them, and only the
//! script's own arguments. And the sample DaemonSet of `packaging/kube/` that mounts them.

use std::collections::BTreeMap;

use ctrmgr_core::TransitionMode;

use super::*;

/// The path the start scripts of today's images call.
const SCRIPT: &str = "/usr/share/sonic/scripts/container_startup.py";
/// Logged once parked (set_owner=local) and while waiting for an approval.
const PARKED: &str = "waiting for set_owner to turn kube, or for SIGTERM";
const WAITING: &str = "waiting for approval";

/// What the container printed so far (stdout and stderr), from the engine's log.
fn container_log(sw: &Switch, id: &ContainerId) -> String {
    let out = std::process::Command::new("docker")
        .args(["logs", id.as_str()])
        .env("DOCKER_HOST", sw.docker.host())
        .stdin(Stdio::null())
        .output()
        .expect("docker logs");
    assert!(out.status.success(), "docker logs: {out:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until the container's log has `line`; panics after [`DEADLINE`].
async fn await_log(sw: &Switch, id: &ContainerId, line: &str) -> String {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let log = container_log(sw, id);
        if log.contains(line) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no {line:?} in the log: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn running(sw: &Switch, id: &ContainerId) -> bool {
    let c = sw.docker.client().inspect(id).await.expect("inspect");
    c["State"]["Running"] == serde_json::Value::Bool(true)
}

/// A kube image of today runs `/usr/share/sonic/scripts/container_startup.py -f <f> -o kube
/// -v <version>` from its start script. With the binary mounted there (as the sample
/// DaemonSet does), the call from inside the container claims the approved feature and
/// records the version; it exits 0 so that the start script goes on.
#[tokio::test]
async fn container_startup_py_from_inside_a_container_claims_the_feature_and_records_the_version() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let mut argv = vec![SCRIPT.to_owned()];
    argv.extend(
        ["-f", sw.f(), "-o", "kube", "-v", "20201230.11"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    argv.extend(sw.fixture.cli_args());
    let cmd: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut spec = sw.spec_running_the_binary(&cmd).await;
    spec.binds.push(format!("{BIN}:{SCRIPT}:ro"));
    spec.env = vec!["RUST_LOG=warn".to_owned()];
    let c = sw.docker.container_with(spec).await.expect("create");
    let id = c.id().clone();
    sw.docker.client().start(&id).await.expect("start");
    let status = tokio::time::timeout(DEADLINE, sw.docker.client().wait(&id))
        .await
        .expect("the script ends")
        .expect("docker wait");
    assert_eq!(status.code, 0, "container_startup.py proceeds");
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning);
    assert_eq!(rec.docker_id.as_ref(), Some(&id));
    let row = sw.raw_row(&f).await;
    assert_eq!(row["container_version"], "20201230.11");
    assert_eq!(row["container_id"], id.short());
    assert_eq!(row["remote_state"], "running");
    assert_eq!(row["system_state"], "up");
    drop(c);
}

/// As a start script runs it: `container_startup.py -f <f> -o kube -v <version>` and nothing
/// else, the database configuration at SONiC's default path and the tunables at
/// `/etc/sonic/ctrmgr.json` (with a key this version does not know). With set_owner=local it
/// parks, writing nothing; set_owner turned kube, it asks for an approval and waits; the
/// feature's start approves it and it proceeds, exit 0, with the feature recorded as its own.
/// The unknown key is warned about in its log, never fatal.
#[tokio::test]
async fn container_startup_py_as_a_start_script_calls_it_parks_waits_and_proceeds_once_approved() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    // The test's tunables, plus a key of a newer version, where a switch has them.
    let tunables = sw.fixture.dir.path().join("ctrmgr.json");
    let text = std::fs::read_to_string(sw.fixture.tunables_path()).expect("tunables");
    let mut t: serde_json::Value = serde_json::from_str(&text).expect("tunables JSON");
    t["kube_image_gc_hours"] = serde_json::json!(12);
    std::fs::write(&tunables, t.to_string()).expect("write ctrmgr.json");
    let cmd = [SCRIPT, "-f", sw.f(), "-o", "kube", "-v", "20201230.11"];
    let mut spec = sw.spec_running_the_binary(&cmd).await;
    spec.binds.extend([
        format!("{BIN}:{SCRIPT}:ro"),
        format!(
            "{}:{}:ro",
            sw.fixture.redis.db_config_path().display(),
            ctrmgr_dbclient::DEFAULT_DB_CONFIG_PATH
        ),
        format!("{}:/etc/sonic/ctrmgr.json:ro", tunables.display()),
    ]);
    spec.env = Vec::new();
    let c = sw.docker.container_with(spec).await.expect("create");
    let id = c.id().clone();
    sw.docker.client().start(&id).await.expect("start");

    let log = await_log(&sw, &id, PARKED).await;
    assert!(running(&sw, &id).await, "parked: {log}");
    assert!(sw.raw_row(&f).await.is_empty(), "parking writes nothing");
    let warning = log
        .lines()
        .find(|l| l.contains("unknown key"))
        .unwrap_or_else(|| panic!("no warning about the unknown key: {log}"));
    assert!(
        warning.contains("WARN")
            && warning
                .contains("/etc/sonic/ctrmgr.json: unknown key \"kube_image_gc_hours\" ignored"),
        "{warning}"
    );

    sw.fixture
        .db
        .set_feature_owner(&f, Owner::Kube)
        .await
        .expect("set_owner kube");
    sw.await_record(&f, "kube_pending", |r| {
        r.transition_mode == TransitionMode::KubePending
    })
    .await;
    let log = await_log(&sw, &id, WAITING).await;
    assert!(running(&sw, &id).await, "waits for approval: {log}");

    // systemd's start of the feature approves it in place.
    sw.ok(&["start", sw.f()]).await;
    let status = tokio::time::timeout(DEADLINE, sw.docker.client().wait(&id))
        .await
        .expect("the script ends")
        .expect("docker wait");
    assert_eq!(status.code, 0, "proceeds: {}", container_log(&sw, &id));
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning, "{rec:?}");
    assert_eq!(rec.docker_id.as_ref(), Some(&id), "it owns the feature");
    let row = sw.raw_row(&f).await;
    assert_eq!(row["container_version"], "20201230.11");
    assert_eq!(row["container_id"], id.short());
    assert_eq!(row["system_state"], "up");
    drop(c);
}

/// The pod's mounts: container path → (host path, hostPath type, read-only), each mount
/// paired with its volume by name.
fn mounts(
    pod: &serde_yaml::Value,
    ctr: &serde_yaml::Value,
) -> BTreeMap<String, (String, String, bool)> {
    let s = |v: &serde_yaml::Value| v.as_str().map(str::to_owned);
    // volume name → (host path, type)
    let volumes: BTreeMap<String, (String, String)> = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(|v| {
            let name = s(&v["name"]).expect("volume name");
            let host = s(&v["hostPath"]["path"]).expect("a hostPath volume");
            let kind = s(&v["hostPath"]["type"]).expect("hostPath type");
            (name, (host, kind))
        })
        .collect();
    // container path → (host path, type, read-only)
    ctr["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .map(|m| {
            let name = s(&m["name"]).expect("mount name");
            let (host, kind) = volumes
                .get(&name)
                .unwrap_or_else(|| panic!("no volume {name}"))
                .clone();
            let inside = s(&m["mountPath"]).expect("mountPath");
            (inside, (host, kind, m["readOnly"].as_bool() == Some(true)))
        })
        .collect()
}

/// The sample DaemonSet of `packaging/kube/`, parsed: namespace `sonic`, the node selector the
/// Start sets, the preStop hook, and each mount's container path paired with its host path —
/// the Redis directory (with `database_config.json`), the Docker socket and the lock directory
/// at the paths the in-container `container`'s defaults name, `/etc/sonic` read-only, and the
/// binary at `/usr/local/bin/container` and at the path today's start scripts call.
#[test]
fn the_sample_daemonset_mounts_what_container_needs_at_the_default_paths() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/kube/lldp-daemonset.yaml");
    let text = std::fs::read_to_string(&path).expect("read the sample DaemonSet");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("the DaemonSet is YAML");
    let s = |v: &serde_yaml::Value| v.as_str().map(str::to_owned);
    assert_eq!(s(&doc["kind"]).as_deref(), Some("DaemonSet"));
    assert_eq!(s(&doc["metadata"]["namespace"]).as_deref(), Some("sonic"));
    let pod = &doc["spec"]["template"]["spec"];
    let f = FeatureName::new("lldp").expect("valid");
    assert_eq!(
        s(&pod["nodeSelector"][f.enable_label_key().as_str()]).as_deref(),
        Some(codec::ENABLED_LABEL_VALUE),
        "nodeSelector: {:?}",
        pod["nodeSelector"]
    );
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let ctr = &containers[0];
    assert_eq!(s(&ctr["name"]).as_deref(), Some("lldp"));
    let pre_stop: Vec<String> = ctr["lifecycle"]["preStop"]["exec"]["command"]
        .as_sequence()
        .expect("preStop command")
        .iter()
        .filter_map(s)
        .collect();
    assert_eq!(
        pre_stop,
        ["/usr/local/bin/container", "state", "lldp", "down"]
    );

    let mounts = mounts(pod, ctr);
    let db_dir = Path::new(ctrmgr_dbclient::DEFAULT_DB_CONFIG_PATH)
        .parent()
        .and_then(Path::parent)
        .expect("the Redis directory")
        .display()
        .to_string();
    let lock_dir = ctrmgr_driver::Tunables::default()
        .lock_dir
        .display()
        .to_string();
    let bin = "/usr/local/bin/container";
    let want: BTreeMap<String, (String, String, bool)> = [
        (db_dir.as_str(), db_dir.as_str(), "Directory", false),
        (
            "/var/run/docker.sock",
            "/var/run/docker.sock",
            "Socket",
            false,
        ),
        (lock_dir.as_str(), lock_dir.as_str(), "Directory", false),
        ("/etc/sonic", "/etc/sonic", "Directory", true),
        (bin, bin, "File", true),
        (SCRIPT, bin, "File", true),
    ]
    .into_iter()
    .map(|(inside, host, kind, ro)| (inside.to_owned(), (host.to_owned(), kind.to_owned(), ro)))
    .collect();
    assert_eq!(mounts, want);
    assert!(
        text.lines().all(|l| !l.contains('\t')),
        "YAML is indented with spaces"
    );
}
