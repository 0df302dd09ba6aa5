//! How the world's units are installed and run: the workspace's binaries, the feature's
//! unit through `sonic-kube service install`, the daemons' units, `kubelet.service`, and the
//! mirror of kubelet's state into the kubelet simulator.

use std::process::Stdio;

use ctrmgr_core::{FeatureName, Owner};
use ctrmgr_dockerclient::testing::TestDocker;

use super::{DAEMONS, UNIT_TIME_SCALE};
use crate::switch::SwitchFixture;
use crate::systemd::{ProgramMap, SimOptions, SystemdSim};

/// A binary of another package of the workspace (`target/<profile>/<name>`), which a workspace
/// test run builds.
///
/// # Panics
/// When it is not there, saying how to build it.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// The `docker` client on `$PATH` (docker.io's `/usr/bin/docker` on a switch), which the
/// feature scripts run to find the local container.
///
/// # Panics
/// When there is none, naming the package.
pub fn docker_cli() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("docker"))
        .find(|p| p.is_file())
        .expect("the docker client is not on $PATH: install docker.io")
}

pub(super) fn kubelet_state_file(fixture: &SwitchFixture) -> std::path::PathBuf {
    fixture.dir.path().join("kubelet.state")
}

/// Installs the units into `<dir>/root` and starts the systemd simulator on them: the
/// feature's unit through `sonic-kube service install` (a spec with the feature's owner and
/// fallback, no local image: the world created the local container), the daemons' units from
/// `packaging/systemd/`, and `kubelet.service` (a `sleep infinity` main process: the kubelet
/// simulator acts while it is active).
pub(super) async fn install_units(
    fixture: &SwitchFixture,
    docker: &TestDocker,
    container_bin: &std::path::Path,
    feature: &FeatureName,
    owner: Owner,
    fallback: bool,
    image: &str,
) -> (SystemdSim, std::path::PathBuf) {
    let root = fixture.dir.path().join("root");
    let units = root.join("etc/systemd/system");
    std::fs::create_dir_all(&units).expect("create the units dir");
    std::fs::write(
        units.join("kubelet.service"),
        "[Unit]\nDescription=kubelet (the kubelet simulator acts while this unit is active)\n\n[Service]\nExecStart=/bin/sleep infinity\n",
    )
    .expect("write kubelet.service");
    let programs = install_daemon_units(fixture, &units);
    let systemd = start_systemd(fixture, docker, container_bin, &root, programs);
    install_feature_unit(fixture, &root, feature, owner, fallback, image).await;
    (systemd, root)
}

/// Copies the daemons' units from `packaging/systemd/` into `units`; each unit's program is
/// the workspace's binary, run with the fixture's arguments.
fn install_daemon_units(fixture: &SwitchFixture, units: &std::path::Path) -> Vec<ProgramMap> {
    let packaging = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd");
    let mut programs = Vec::new();
    for d in DAEMONS {
        let unit = format!("{d}.service");
        std::fs::copy(packaging.join(&unit), units.join(&unit))
            .unwrap_or_else(|e| panic!("copy packaging/systemd/{unit}: {e}"));
        programs.push(ProgramMap {
            unit_path: format!("/usr/bin/{d}"),
            program: workspace_binary(d),
            args: fixture.cli_args(),
        });
    }
    programs
}

/// The systemd simulator on `root`, its units' environment pointing at the fixture.
fn start_systemd(
    fixture: &SwitchFixture,
    docker: &TestDocker,
    container_bin: &std::path::Path,
    root: &std::path::Path,
    programs: Vec<ProgramMap>,
) -> SystemdSim {
    SystemdSim::start(
        fixture.dir.path(),
        &workspace_binary("systemctl-sim"),
        SimOptions {
            root: root.to_owned(),
            programs,
            env: vec![
                (
                    "CTRMGR_CONTAINER".to_owned(),
                    container_bin.display().to_string(),
                ),
                (
                    "CTRMGR_CONFIG".to_owned(),
                    fixture.tunables_path().display().to_string(),
                ),
                (
                    "SONIC_DB_CONFIG".to_owned(),
                    fixture.redis.db_config_path().display().to_string(),
                ),
                (
                    "CTRMGR_DOCKER".to_owned(),
                    docker_cli().display().to_string(),
                ),
                ("DOCKER_HOST".to_owned(), docker.host().to_owned()),
                ("RUST_LOG".to_owned(), "info".to_owned()),
            ],
            scale: UNIT_TIME_SCALE,
            external: vec!["database.service".to_owned()],
            default_unit: None,
        },
    )
}

/// The feature's unit through `sonic-kube service install` of a spec with its owner and
/// fallback, and the `auto_restart.conf` drop-in SONiC's featured writes.
async fn install_feature_unit(
    fixture: &SwitchFixture,
    root: &std::path::Path,
    feature: &FeatureName,
    owner: Owner,
    fallback: bool,
    image: &str,
) {
    let spec = fixture
        .dir
        .path()
        .join(format!("{}.spec.json", feature.as_str()));
    std::fs::write(
        &spec,
        serde_json::json!({
            "name": feature.as_str(),
            "set_owner": if owner == Owner::Kube { "kube" } else { "local" },
            "local_image": image,
            "fallback": fallback,
        })
        .to_string(),
    )
    .expect("write the service spec");
    let out = fixture
        .command(workspace_binary("sonic-kube"))
        .args(["service", "install", "--root"])
        .arg(root)
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("sonic-kube runs");
    assert!(
        out.status.success(),
        "sonic-kube service install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What SONiC's featured writes for a FEATURE row with auto_restart=enabled (which
    // `service install` set): the base unit has no Restart= of its own (decisions pkg-5).
    let drop_in = root
        .join("etc/systemd/system")
        .join(format!("{}.service.d", feature.as_str()));
    std::fs::create_dir_all(&drop_in).expect("create the unit's drop-in dir");
    std::fs::write(
        drop_in.join("auto_restart.conf"),
        "[Service]\nRestart=always\n",
    )
    .expect("write featured's auto_restart.conf");
}

/// Mirrors `kubelet.service`'s state into the kubelet simulator's state file and wakes it on
/// every change: `systemctl stop kubelet` really stops the kubelet.
pub(super) fn mirror_kubelet(
    systemd: &SystemdSim,
    file: std::path::PathBuf,
    wake: impl Fn() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let mut changes = systemd.changes();
    let state = systemd.state_reader();
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let now = state("kubelet").as_str().to_owned();
            if now != last {
                let tmp = file.with_extension("tmp");
                if std::fs::write(&tmp, format!("{now}\n")).is_ok() {
                    let _ = std::fs::rename(&tmp, &file);
                }
                wake();
                last = now;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
}
