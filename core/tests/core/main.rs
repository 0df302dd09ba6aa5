//! Integration tests of `ctrmgr-core`.
//!
//! - [`table`]: the rows (and condition branches) of the DESIGN.md §4 transition table as data,
//!   stepped by one runner that names every failing row; plus the decoding rule for
//!   non-canonical pairs, `next_deadline`, `approval_pending`, totality and determinism of
//!   `step`.
//! - [`upstream`]: the upstream mirror of STATE_DB writes (issue 12), property-tested.
//! - [`hostile`]: hostile input fed to every decoder: no panic, every rejection one line.
//! - [`props`]: proptest properties: the DB codec is total and round-trips, and random input
//!   sequences driven through a small world simulator keep the invariants of DESIGN.md §4.

mod decoding;
mod hostile;
mod props;
mod security;
mod table;
mod upstream;

use ctrmgr_core::{ContainerId, Timestamp};

/// The `now` every table step is taken at.
pub const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

/// The timestamps a record starts with, so that a test can tell what a step rewrote.
pub const EARLIER: Timestamp = Timestamp::from_secs(1_600_000_000);

/// A container id from a literal that is known to be valid.
pub fn cid(s: &str) -> ContainerId {
    ContainerId::new(s).expect("test container ids are valid")
}
