//! # ctrmgr-driver
//!
//! The imperative shell around `ctrmgr-core`: it carries out what the core decides through the
//! port traits, generic over them so that the binaries plug in the real adapters (Redis, the
//! API server, systemctl) and the tests plug in recording fakes.
//!
//! A tour:
//! - [`feature`]: [`FeatureDriver`], one input for one feature under its lock — read both
//!   `FEATURE|<f>` rows ([`read_feature`]), `step`, carry out the effects in order (docker,
//!   labels, compare-and-set writes, systemctl), re-step after a lost compare-and-set — and
//!   the [`Outcome`] it reports; [`NoKube`], the label port of a build without Kubernetes.
//! - [`approval`]: [`kube_up`], the kube container's wait for approval and its park,
//!   driven by the core's `Watch` port (`container state <f> up kube`).
//! - [`lock`]: [`LockDir`] and [`FeatureLock`], the per-feature `flock`s of DESIGN.md §5:
//!   `<f>.lock` only while reading, deciding and writing (released while docker stops a
//!   container, a kube Stop waits, or systemctl runs), and `<f>.stopping.lock`, held by a
//!   Start, Stop or Kill for its whole run so that `container wait` tells a stop from a crash.
//! - [`labels`]: [`LabelService`], node labels through the pending list of DESIGN.md §6 —
//!   a bounded synchronous attempt, queueing and `systemctl stop kubelet` on failure, queueing
//!   behind older operations, and [`LabelService::drain`]; plus [`self_description_labels`],
//!   the labels a node describes itself with after a join.
//! - [`drainer`]: [`run_drainer`], the event-driven loop of `kube-labeler run` that drains
//!   the list when STATE_DB says the server is connected, with exponential backoff otherwise.
//! - [`hostcfgd`]: [`run_hostcfgd`], hostcfgd-watcher's loop — approvals (one per feature,
//!   a bound across features, retried with backoff) and the join/reset task.
//! - [`join`]: [`JoinEngine`], joining this switch to a Kubernetes master and leaving it
//!   (DESIGN.md §8): admin.conf over verified HTTPS ([`Master`]), an atomic 0600 kubeconfig,
//!   [`Kubeadm`] as argv with a bound, kubelet, self-description labels, STATE_DB
//!   `connected`; used by hostcfgd-watcher and `sonic-kube config kubernetes join|reset`.
//! - [`monit`]: [`run_monit`], kube-monit's loop — failure fallback at `next_deadline`
//!   (scaled minutes), the API server probe writing STATE_DB `connected` on change, and
//!   kubelet safety.
//! - [`systemctl`]: [`Systemctl`], the systemd port, running `systemctl <verb> <unit>` as argv.
//! - [`config`]: [`Tunables`], `/etc/sonic/ctrmgr.json` with documented defaults.
//! - [`logging`]: [`logging::init`], syslog or stderr for every binary (colours only on a
//!   terminal).
//!
//! Driving the labels:
//! ```no_run
//! # async fn f<S, L>(store: S, kube: L) -> Result<(), ctrmgr_driver::Error>
//! # where S: ctrmgr_core::ports::StateStore, L: ctrmgr_core::ports::Labels {
//! use ctrmgr_core::LabelOp;
//! use ctrmgr_driver::{LabelOptions, LabelService, Systemctl, Tunables};
//!
//! let tunables = Tunables::load(None)?;
//! let service = LabelService::new(
//!     store,
//!     kube,
//!     Systemctl::new(&tunables.systemctl),
//!     LabelOptions::from_tunables(&tunables),
//! );
//! let op = LabelOp::add("snmp_enabled", "true").expect("valid label");
//! let outcome = service.apply(&[op]).await?; // Sent, or Queued (kubelet stopped)
//! let drained = service.drain().await?;      // later, when the master is back
//! # let _ = (outcome, drained); Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod approval;
mod clock;
pub mod config;
pub mod drainer;
mod error;
pub mod feature;
pub mod hostcfgd;
pub mod join;
pub mod kubeadm;
pub mod labels;
pub mod lock;
pub mod logging;
pub mod monit;
pub mod systemctl;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use approval::{KubeUpEnd, StopRequests, kube_up};
pub use clock::WallClock;
pub use config::{DEFAULT_CONFIG_FILE, Tunables};
pub use drainer::{DrainerEvent, DrainerExit, run_drainer};
pub use error::{BoxError, ConfigError, Error, FeatureError, FileError, JoinError, ProgramError};
pub use feature::{
    FeatureDriver, FeatureOptions, KnownFeature, NoKube, Outcome, read_feature, read_feature_with,
};
pub use hostcfgd::{HostcfgdExit, HostcfgdOptions, run_hostcfgd};
pub use join::{JoinEngine, JoinOptions, Joined, Master};
pub use kubeadm::Kubeadm;
pub use labels::{
    Applied, Drained, LabelOptions, LabelService, QueueCause, parse_build_version,
    read_sonic_version_file, sanitize_label_value, self_description_labels,
};
pub use lock::{FeatureLock, LockDir};
pub use monit::{MonitExit, MonitOptions, run_monit};
pub use systemctl::Systemctl;
