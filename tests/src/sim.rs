//! Stand-ins for the programs the daemons run, as processes the code under test starts the way
//! it would start the real ones:
//!
//! - [`SystemdSim`]: the systemd simulator ([`crate::systemd`], the one the switch in a box
//!   runs) with a unit for every feature whose commands are the real `container` binary
//!   (`container start <f>` as ExecStartPre, `container stop <f>` as ExecStop), so an approval
//!   really stops and starts containers; `kubelet` and units without a `container` only change
//!   state. It records each call; `is-active` prints the state and exits 0 only when active;
//!   `reset-failed` turns `failed` into `inactive`.
//! - [`RecordingKubeadm`]: a `kubeadm` that records each call and fails (exit 1, one line on
//!   stderr) while a fail file exists.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// `path` as one single-quoted shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).expect("write a stand-in script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make a stand-in script executable");
}

/// How a [`SystemdSim`] runs a feature's unit commands.
#[derive(Debug, Clone, Default)]
pub struct UnitCommands {
    /// The `container` binary; `None`: units only change state.
    pub container: Option<PathBuf>,
    /// Arguments before the verb (`--db-config … --config … --log-to-stderr`).
    pub args: Vec<String>,
    /// Environment variables for it (`DOCKER_HOST`, `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// Seconds `restart` and `try-restart` pause between the unit's stop and its start (a
    /// window for tests that act in the middle of a restart). `None`: no pause.
    pub restart_pause_secs: Option<f64>,
}

/// The systemd simulator ([`crate::systemd`]) with one unit for every feature: `ExecStartPre`
/// `container start <f>`, `ExecStop` `container stop <f>`, no main process; `kubelet` a unit
/// that only changes state. See the [module documentation](self).
#[derive(Debug)]
pub struct SystemdSim {
    sim: crate::systemd::SystemdSim,
}

impl SystemdSim {
    /// Starts the simulator in `dir` (`<dir>/systemctl`, `<dir>/systemd.sock`, the units below
    /// `<dir>/units-root`, what they print in `<dir>/journal.log`). Needs a tokio runtime and
    /// the `systemctl-sim` binary of this package (built by a workspace build).
    ///
    /// # Panics
    /// When the files cannot be written or the socket bound.
    pub fn create(dir: &Path, commands: &UnitCommands) -> Self {
        let root = dir.join("units-root");
        let units = root.join("etc/systemd/system");
        std::fs::create_dir_all(&units).expect("create the units dir");
        std::fs::write(units.join("kubelet.service"), "[Service]\n")
            .expect("write kubelet.service");
        let mut unit = String::from("[Service]\n");
        if let Some(c) = &commands.container {
            let line = |verb: &str| {
                let mut words = vec![sh_quote(&c.display().to_string())];
                words.extend(commands.args.iter().map(|a| sh_quote(a)));
                words.push(verb.to_owned());
                words.push("%p".to_owned());
                words.join(" ")
            };
            if let Some(secs) = commands.restart_pause_secs {
                // Between a restart's stop and its start.
                unit.push_str(&format!("ExecStartPre=/bin/sleep {secs}\n"));
            }
            unit.push_str(&format!("ExecStartPre={}\n", line("start")));
            unit.push_str(&format!("ExecStop={}\n", line("stop")));
        }
        let sim = crate::systemd::SystemdSim::start(
            dir,
            &workspace_binary("systemctl-sim"),
            crate::systemd::SimOptions {
                root,
                programs: Vec::new(),
                env: commands.env.clone(),
                scale: 1.0,
                external: Vec::new(),
                default_unit: Some(unit),
            },
        );
        Self { sim }
    }

    /// The program, to configure as `systemctl`.
    pub fn path(&self) -> &Path {
        self.sim.path()
    }

    /// The calls so far, oldest first (`"stop snmp"`).
    pub fn calls(&self) -> Vec<String> {
        self.sim.calls()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        self.sim.clear_calls();
    }

    /// A unit's state (`inactive` when never set).
    pub fn state(&self, unit: &str) -> String {
        self.sim.state(unit).as_str().to_owned()
    }

    /// Sets a unit's state, as if systemd had got there.
    pub fn set_state(&self, unit: &str, state: &str) {
        self.sim
            .force_state(unit, crate::systemd::Active::parse(state));
    }

    /// What the unit commands (`container …`) printed so far.
    pub fn unit_log(&self) -> String {
        self.sim.journal()
    }
}

/// A `kubeadm` that records its calls; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct RecordingKubeadm {
    script: PathBuf,
    calls: PathBuf,
    fail: PathBuf,
}

impl RecordingKubeadm {
    /// Writes `<dir>/kubeadm`, recording calls in `<dir>/kubeadm.calls`.
    ///
    /// # Panics
    /// When the script cannot be written.
    pub fn create(dir: &Path) -> Self {
        let script = dir.join("kubeadm");
        let calls = dir.join("kubeadm.calls");
        let fail = dir.join("kubeadm.fail");
        let q = |p: &Path| sh_quote(&p.display().to_string());
        write_script(
            &script,
            &format!(
                "#!/bin/sh\necho \"$*\" >> {}\nif [ -e {} ]; then echo \"error execution phase preflight: simulated failure of kubeadm $1\" >&2; exit 1; fi\nexit 0\n",
                q(&calls),
                q(&fail)
            ),
        );
        Self {
            script,
            calls,
            fail,
        }
    }

    /// The program, to configure as `kubeadm`.
    pub fn path(&self) -> &Path {
        &self.script
    }

    /// The calls so far (`"reset -f"`).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Makes every later call fail (`true`) or succeed (`false`).
    ///
    /// # Panics
    /// When the fail file cannot be written or removed.
    pub fn set_failing(&self, failing: bool) {
        if failing {
            std::fs::write(&self.fail, "").expect("write the fail file");
        } else {
            let _ = std::fs::remove_file(&self.fail);
        }
    }
}

/// A sibling binary of the running test's package (`target/<profile>/<name>`), for binaries of
/// other packages of the workspace (`container`), which cargo builds for a workspace test run.
///
/// # Panics
/// When it is not there, saying how to build it.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}
