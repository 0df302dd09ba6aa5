//! # ctrmgr-tests
//!
//! The test harness of sonic-ctrmgr (DESIGN.md §9) and, in `tests/e2e/`, its end-to-end
//! scenarios. The harness gives tests real parts where they exist and honest fakes where they
//! cannot be installed here.
//!
//! A tour:
//! - [`fakekube`]: a fake Kubernetes API server over HTTPS (generated CA, bearer token) with
//!   in-memory Nodes, Pods and DaemonSets, merge-patch semantics, `/version`, `/readyz`,
//!   `/admin.conf`, and fault injection ([`fakekube::Fault`]: refuse, hang, 5xx, slow). The
//!   production code reaches it with the real kube-rs client through
//!   [`fakekube::FakeKube::write_kubeconfig`]; tests seed and inspect it through the
//!   [`fakekube::FakeKube`] handle, and simulators follow its changes with
//!   [`fakekube::FakeKube::subscribe`].
//! - [`switch`]: one switch as the binaries' tests build it: [`switch::SwitchFixture`] (a
//!   redis-server with DEVICE_METADATA, the fake API server with the node and a kubeconfig, a
//!   tunables file) and [`switch::RecordingSystemctl`], a `systemctl` stand-in that records its
//!   calls.
//! - [`systemd`]: the systemd simulator, which runs unit files (ExecStartPre, the main
//!   process, ExecStop, Restart=, the start limit, Requires/After) and answers the binaries'
//!   `systemctl` through the client binary `systemctl-sim`.
//! - [`sim`]: [`sim::SystemdSim`], that simulator with a default unit per feature whose
//!   commands are the real `container` (the daemons' tests), and [`sim::RecordingKubeadm`].
//! - [`kubelet`]: a kubelet simulator running the node's DaemonSet pods on the real Docker
//!   Engine, with the real `container state <f> up kube` inside.
//! - [`invariant`]: the invariant checker of DESIGN.md §4 (2 and 3) the scenarios run.
//! - [`world`]: the switch in a box those parts make, for the scenarios and the demo.

#![deny(missing_docs)]

pub mod fakekube;
pub mod invariant;
pub mod kubelet;
pub mod sim;
pub mod switch;
pub mod systemd;
pub mod world;
