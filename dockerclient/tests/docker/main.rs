//! Integration tests of `ctrmgr-dockerclient` against a real Docker Engine and the real
//! busybox test image (see `ctrmgr_dockerclient::testing`).
//!
//! Without an engine each test prints the skip message and returns; with
//! `CTRMGR_REQUIRE_DOCKER=1` (as CI runs them) it fails instead.

mod connect;
mod exec;
mod inventory;
mod lifecycle;
mod not_found;
mod rootfs;

use std::time::Duration;

use ctrmgr_core::ContainerId;
use ctrmgr_dockerclient::testing::TestDocker;

/// How long a test container may take to install its SIGTERM handler.
pub const READY_WITHIN: Duration = Duration::from_secs(20);

/// The engine for a test; `None` when the test is skipped.
pub async fn engine() -> Option<TestDocker> {
    TestDocker::ensure()
        .await
        .expect("these tests need a docker engine")
}

/// A container id or name from a literal.
pub fn cid(s: &str) -> ContainerId {
    ContainerId::new(s).expect("a valid container id or name")
}
