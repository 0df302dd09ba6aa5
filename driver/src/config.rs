//! Tunables: `/etc/sonic/ctrmgr.json` (DESIGN.md §7).
//!
//! The file is optional and so is every key; a missing key takes the default documented on
//! its field. An unknown key (a typo, or a key of a newer version after a rollback) is logged
//! as a warning naming the file and the key, and ignored: it never makes a command fail, as
//! upstream's `remote_ctr.config.json` reader never does. Every error names the file and the
//! key.
//!
//! ```json
//! { "label_timeout_secs": 5, "kubelet_unit": "kubelet" }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use ctrmgr_core::StopOptions;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, Error};

/// Where the tunables live unless `--config` says otherwise.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/sonic/ctrmgr.json";

/// Every tunable of sonic-ctrmgr, with its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tunables {
    /// Bound of a synchronous label operation against the API server before it is queued in
    /// the pending list and kubelet is stopped. Default 5.
    pub label_timeout_secs: u64,
    /// Bound of other API requests (probe, `show nodes`, `show pods`). Default 10.
    pub api_timeout_secs: u64,
    /// How long `container wait` waits for a local container to be recorded. Default 30.
    pub local_wait_timeout_secs: u64,
    /// kube-monit's API server probe interval. Default 30.
    pub probe_interval_secs: u64,
    /// Seconds between SIGTERM and SIGKILL when a container is stopped. Default 10.
    pub stop_grace_secs: u32,
    /// How long a Stop waits for kubelet to stop a kube container after its label is removed,
    /// before stopping it directly. Default 30.
    pub kube_exit_wait_secs: u32,
    /// The kubeconfig used to talk to the API server. Default `/etc/sonic/kube_admin.conf`.
    pub kubeconfig: PathBuf,
    /// Directory of the per-feature lock files. Default `/run/ctrmgr`.
    pub lock_dir: PathBuf,
    /// The systemctl program (argv\[0\]; no shell). Default `systemctl`.
    pub systemctl: PathBuf,
    /// The kubelet's systemd unit. Default `kubelet`.
    pub kubelet_unit: String,
    /// The kubeadm program used by a join. Default `kubeadm`.
    pub kubeadm: PathBuf,
    /// Bound of `kubeadm join` / `kubeadm reset`. Default 120.
    pub kubeadm_timeout_secs: u64,
    /// Where a join fetches `admin.conf`; `{ip}` is replaced by the server's address.
    /// Default `https://{ip}/admin.conf`.
    pub admin_conf_url: String,
    /// CA bundle that verifies the master's certificate when fetching `admin.conf`; `None`
    /// uses the system's trust store. Default none.
    pub ca_file: Option<PathBuf>,
    /// SONiC's version file, read for the `sonic_version` node label. Default
    /// `/etc/sonic/sonic_version.yml`.
    pub sonic_version_file: PathBuf,
    /// The length, in seconds, of one minute of `kube_failure_detection` (kube-monit's
    /// failure deadline). 60 on a switch; tests make it shorter. Default 60.
    pub failure_detection_minute_secs: u64,
    /// How many features hostcfgd-watcher approves at the same time (one approval at a time
    /// per feature). Default 8.
    pub approval_parallelism: usize,
    /// The longest wait between two attempts of a failed join by hostcfgd-watcher (the wait
    /// starts at 1 s and doubles). Default 300.
    pub join_retry_max_secs: u64,
}

impl Default for Tunables {
    fn default() -> Self {
        Self {
            label_timeout_secs: 5,
            api_timeout_secs: 10,
            local_wait_timeout_secs: 30,
            probe_interval_secs: 30,
            stop_grace_secs: 10,
            kube_exit_wait_secs: 30,
            kubeconfig: PathBuf::from("/etc/sonic/kube_admin.conf"),
            lock_dir: PathBuf::from("/run/ctrmgr"),
            systemctl: PathBuf::from("systemctl"),
            kubelet_unit: "kubelet".to_owned(),
            kubeadm: PathBuf::from("kubeadm"),
            kubeadm_timeout_secs: 120,
            admin_conf_url: "https://{ip}/admin.conf".to_owned(),
            ca_file: None,
            sonic_version_file: PathBuf::from("/etc/sonic/sonic_version.yml"),
            failure_detection_minute_secs: 60,
            approval_parallelism: 8,
            join_retry_max_secs: 300,
        }
    }
}

impl Tunables {
    /// Loads the tunables: from `explicit` (`--config`), which must exist, else from
    /// [`DEFAULT_CONFIG_FILE`] when it exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Self, Error> {
        match explicit {
            Some(path) => Self::load_file(path),
            None => Self::load_optional(Path::new(DEFAULT_CONFIG_FILE)),
        }
    }

    /// Loads `path` when it exists, else returns the defaults.
    pub fn load_optional(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
            .into()),
        }
    }

    /// Loads `path`, which must exist.
    pub fn load_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks the text of a tunables file; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        for key in unknown_keys(text) {
            tracing::warn!(
                path = %path.display(),
                key = %key,
                "{}: unknown key {key:?} ignored",
                path.display()
            );
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let t: Tunables = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            // The path may go through a hostile unknown key: escaped, it stays one line.
            let key = e.path().to_string().escape_debug().to_string();
            ConfigError::Syntax {
                path: path.to_path_buf(),
                key,
                source: e.into_inner(),
            }
        })?;
        de.end().map_err(|source| ConfigError::Syntax {
            path: path.to_path_buf(),
            key: ".".to_owned(),
            source,
        })?;
        t.check(path)?;
        Ok(t)
    }

    fn check(&self, path: &Path) -> Result<(), Error> {
        let bad = |key, expected| {
            Error::from(ConfigError::Value {
                path: path.to_path_buf(),
                key,
                expected,
            })
        };
        for (key, v) in [
            ("label_timeout_secs", self.label_timeout_secs),
            ("api_timeout_secs", self.api_timeout_secs),
            ("probe_interval_secs", self.probe_interval_secs),
            ("kubeadm_timeout_secs", self.kubeadm_timeout_secs),
            (
                "failure_detection_minute_secs",
                self.failure_detection_minute_secs,
            ),
            ("join_retry_max_secs", self.join_retry_max_secs),
        ] {
            if v == 0 {
                return Err(bad(key, "at least 1"));
            }
        }
        if self.approval_parallelism == 0 {
            return Err(bad("approval_parallelism", "at least 1"));
        }
        if self.kubelet_unit.trim().is_empty() {
            return Err(bad("kubelet_unit", "a unit name"));
        }
        if self.systemctl.as_os_str().is_empty() {
            return Err(bad("systemctl", "a program"));
        }
        if !self.admin_conf_url.contains("{ip}") {
            return Err(bad("admin_conf_url", "a URL containing {ip}"));
        }
        if !self.admin_conf_url.starts_with("https://") {
            return Err(bad("admin_conf_url", "an https:// URL"));
        }
        if self.kubeadm.as_os_str().is_empty() {
            return Err(bad("kubeadm", "a program"));
        }
        Ok(())
    }

    /// [`Tunables::label_timeout_secs`] as a duration.
    pub fn label_timeout(&self) -> Duration {
        Duration::from_secs(self.label_timeout_secs)
    }

    /// [`Tunables::api_timeout_secs`] as a duration.
    pub fn api_timeout(&self) -> Duration {
        Duration::from_secs(self.api_timeout_secs)
    }

    /// [`Tunables::local_wait_timeout_secs`] as a duration.
    pub fn local_wait_timeout(&self) -> Duration {
        Duration::from_secs(self.local_wait_timeout_secs)
    }

    /// [`Tunables::probe_interval_secs`] as a duration.
    pub fn probe_interval(&self) -> Duration {
        Duration::from_secs(self.probe_interval_secs)
    }

    /// [`Tunables::api_timeout_secs`]'s sibling for kubeadm: [`Tunables::kubeadm_timeout_secs`]
    /// as a duration.
    pub fn kubeadm_timeout(&self) -> Duration {
        Duration::from_secs(self.kubeadm_timeout_secs)
    }

    /// [`Tunables::failure_detection_minute_secs`] as a duration.
    pub fn failure_detection_minute(&self) -> Duration {
        Duration::from_secs(self.failure_detection_minute_secs)
    }

    /// [`Tunables::join_retry_max_secs`] as a duration.
    pub fn join_retry_max(&self) -> Duration {
        Duration::from_secs(self.join_retry_max_secs)
    }

    /// The stop options the core's Stop input carries.
    pub fn stop_options(&self) -> StopOptions {
        StopOptions {
            grace_secs: self.stop_grace_secs,
            kube_exit_wait_secs: self.kube_exit_wait_secs,
        }
    }
}

/// The top-level keys of a tunables file that are not tunables (none when the text is not a
/// JSON object: the parser reports that).
pub fn unknown_keys(text: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(given)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    let known = match serde_json::to_value(Tunables::default()) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Vec::new(),
    };
    given
        .keys()
        .filter(|k| !known.contains_key(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Tunables, Error> {
        Tunables::parse(Path::new("/etc/sonic/ctrmgr.json"), text)
    }

    #[test]
    fn an_empty_object_gives_the_documented_defaults() {
        let t = parse("{}").expect("empty object is valid");
        assert_eq!(t, Tunables::default());
        assert_eq!(t.label_timeout(), Duration::from_secs(5));
        assert_eq!(t.kubeconfig, PathBuf::from("/etc/sonic/kube_admin.conf"));
        assert_eq!(t.kubelet_unit, "kubelet");
    }

    #[test]
    fn given_keys_override_defaults_and_others_keep_them() {
        let t = parse(r#"{"label_timeout_secs": 2, "systemctl": "/usr/local/bin/fake-systemctl"}"#)
            .expect("valid");
        assert_eq!(t.label_timeout_secs, 2);
        assert_eq!(t.systemctl, PathBuf::from("/usr/local/bin/fake-systemctl"));
        assert_eq!(t.probe_interval_secs, 30);
    }

    #[test]
    fn an_unknown_key_is_reported_and_ignored_never_fatal() {
        let text = r#"{"label_timeout": 2, "probe_interval_secs": 7, "from_a_newer_version": {}}"#;
        let t = parse(text).expect("unknown keys are not fatal");
        assert_eq!(
            t.label_timeout_secs, 5,
            "the misspelt key does not set anything"
        );
        assert_eq!(t.probe_interval_secs, 7);
        assert_eq!(
            unknown_keys(text),
            [
                "from_a_newer_version".to_owned(),
                "label_timeout".to_owned()
            ]
        );
        assert!(unknown_keys(r#"{"lock_dir": "/run/x"}"#).is_empty());
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_naming_the_key() {
        let e = parse(r#"{"probe_interval_secs": "30"}"#).expect_err("string for a number");
        assert!(e.to_string().contains("probe_interval_secs"), "{e}");
    }

    #[test]
    fn the_daemons_tunables_have_documented_defaults_and_ranges() {
        let t = parse("{}").expect("defaults");
        assert_eq!(t.failure_detection_minute_secs, 60);
        assert_eq!(t.approval_parallelism, 8);
        assert_eq!(t.join_retry_max_secs, 300);
        let e = parse(r#"{"approval_parallelism": 0}"#).expect_err("zero parallelism");
        assert!(e.to_string().contains("approval_parallelism"), "{e}");
        let e = parse(r#"{"failure_detection_minute_secs": 0}"#).expect_err("zero minute");
        assert!(
            e.to_string().contains("failure_detection_minute_secs"),
            "{e}"
        );
        let e = parse(r#"{"admin_conf_url": "http://{ip}/admin.conf"}"#).expect_err("no TLS");
        assert!(e.to_string().contains("admin_conf_url"), "{e}");
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let e = parse(r#"{"label_timeout_secs": 0}"#).expect_err("zero timeout");
        assert!(e.to_string().contains("label_timeout_secs"), "{e}");
    }

    #[test]
    fn a_missing_optional_file_gives_defaults_but_a_missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ctrmgr.json");
        assert_eq!(
            Tunables::load_optional(&path).expect("optional"),
            Tunables::default()
        );
        let e = Tunables::load(Some(&path)).expect_err("explicit file must exist");
        assert!(e.to_string().contains("ctrmgr.json"), "{e}");
    }
}
