//! Stand-ins for the programs the daemons run, as processes the code under test starts the way
//! it would start the real ones:
//!
//! - [`SystemdSim`]: a `systemctl` that records each call and keeps each unit's state
//!   (`active`, `inactive`, `failed`) in a file. `start`, `stop`, `restart` and `try-restart`
//!   of a feature's unit run its unit script's commands through the real `container` binary
//!   (`container start <f>` as ExecStartPre, `container stop <f>` as ExecStop), so an approval
//!   really stops and starts containers; `kubelet` and units without a `container` only change
//!   state. `is-active` prints the state and exits 0 only when active; `reset-failed` turns
//!   `failed` into `inactive`.
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

/// A `systemctl` simulator; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct SystemdSim {
    script: PathBuf,
    calls: PathBuf,
    units: PathBuf,
    log: PathBuf,
}

impl SystemdSim {
    /// Writes `<dir>/systemctl`, recording calls in `<dir>/systemctl.calls`, unit states in
    /// `<dir>/units/`, and what the unit commands print in `<dir>/units.log`.
    ///
    /// # Panics
    /// When the files cannot be written.
    pub fn create(dir: &Path, commands: &UnitCommands) -> Self {
        let script = dir.join("systemctl");
        let calls = dir.join("systemctl.calls");
        let units = dir.join("units");
        let log = dir.join("units.log");
        std::fs::create_dir_all(&units).expect("create the units dir");
        let q = |p: &Path| sh_quote(&p.display().to_string());
        let mut env = String::new();
        for (k, v) in &commands.env {
            env.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        let run = match &commands.container {
            Some(c) => {
                let args: Vec<String> = commands.args.iter().map(|a| sh_quote(a)).collect();
                format!(
                    "{} {} \"$1\" \"$unit\" >> {} 2>&1",
                    q(c),
                    args.join(" "),
                    q(&log)
                )
            }
            None => "true".to_owned(),
        };
        let pause = commands
            .restart_pause_secs
            .map_or_else(String::new, |s| format!("sleep {s}"));
        let body = format!(
            r#"#!/bin/sh
echo "$*" >> {calls}
{env}verb=$1
unit=$2
st={units}/$unit
state=inactive
[ -f "$st" ] && read -r state < "$st"
# Replace the state file whole, so that a reader never sees it half-written.
setst() {{ echo "$1" > "$st.$$" && mv -f "$st.$$" "$st"; }}
run() {{
    if [ "$unit" = kubelet ]; then return 0; fi
    {run}
}}
case "$verb" in
is-active)
    echo "$state"
    [ "$state" = active ] && exit 0
    exit 3 ;;
start)
    [ "$state" = active ] && exit 0
    if run start; then setst active; else setst failed; echo "Job for $unit failed" >&2; exit 1; fi ;;
stop)
    [ "$state" = active ] && run stop
    setst inactive ;;
restart)
    [ "$state" = active ] && run stop
    setst inactive
    {pause}
    if run start; then setst active; else setst failed; echo "Job for $unit failed" >&2; exit 1; fi ;;
try-restart)
    [ "$state" = active ] || exit 0
    run stop
    setst inactive
    {pause}
    if run start; then setst active; else setst failed; exit 1; fi ;;
reset-failed)
    [ "$state" = failed ] && setst inactive ;;
*)
    echo "systemctl simulator: unknown verb $verb" >&2; exit 2 ;;
esac
exit 0
"#,
            calls = q(&calls),
            units = q(&units),
        );
        write_script(&script, &body);
        Self {
            script,
            calls,
            units,
            log,
        }
    }

    /// The program, to configure as `systemctl`.
    pub fn path(&self) -> &Path {
        &self.script
    }

    /// The calls so far, oldest first (`"stop snmp"`).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(&self.calls);
    }

    /// A unit's state (`inactive` when never set).
    pub fn state(&self, unit: &str) -> String {
        std::fs::read_to_string(self.units.join(unit))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "inactive".to_owned())
    }

    /// Sets a unit's state, as if systemd had got there.
    ///
    /// # Panics
    /// When the state file cannot be written.
    pub fn set_state(&self, unit: &str, state: &str) {
        let tmp = self.units.join(format!(".{unit}.tmp"));
        std::fs::write(&tmp, format!("{state}\n")).expect("write unit state");
        std::fs::rename(&tmp, self.units.join(unit)).expect("replace unit state");
    }

    /// What the unit commands (`container …`) printed so far.
    pub fn unit_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
