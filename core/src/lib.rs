//! # ctrmgr-core
//!
//! The pure heart of sonic-ctrmgr: what a SONiC feature's container state is, how it may change,
//! and how it is spelled in SONiC's Redis databases. No I/O, no clock, no async runtime: inputs
//! go in as data, effects come out as data, time is a parameter (like quinn-proto or str0m).
//!
//! A tour:
//! - [`types`]: [`FeatureName`], [`ContainerId`], [`Owner`], [`TransitionMode`], the seven
//!   [`State`]s, [`FeatureConfig`] (CONFIG_DB) and [`FeatureRecord`] (STATE_DB).
//! - [`codec`]: every DB table, field and value spelling, and total decoders that report a bad
//!   value with its key, field and value.
//! - [`machine`]: [`step`], the transition function of DESIGN.md §4, with its [`Input`]s,
//!   [`Effect`]s and [`Reason`]s; [`next_deadline`] for kube-monit.
//! - [`label`]: node label keys, values and operations, and the pending-label list functions.
//! - [`ports`]: the traits adapters implement for the driver.
//! - [`retry`]: the one [`retry::Backoff`] and the one-line error chain [`retry::error_line`].
//!
//! Driving it:
//! ```
//! use ctrmgr_core::{step, FeatureConfig, FeatureRecord, Input, Owner, State, Effect, Timestamp};
//! let cfg = FeatureConfig::new(Owner::Kube, false);
//! let s = step(&FeatureRecord::default(), &cfg, Input::Start, Timestamp::from_secs(1_700_000_000));
//! assert_eq!(s.next, State::KubeReady);
//! assert!(s.effects.contains(&Effect::LabelAdd));
//! ```
#![deny(missing_docs)]

pub mod codec;
pub mod label;
pub mod machine;
pub mod ports;
pub mod retry;
pub mod types;

pub use codec::{DecodeError, DecodeWarning, DecodedRecord};
pub use label::{LabelKey, LabelOp, LabelParseError, LabelValue};
pub use machine::{
    Effect, Input, KubeAnswer, OwnerWrite, Reason, StateWrite, Step, StopOptions, Target,
    apply_writes, approval_pending, next_deadline, step, step_decoded,
};
pub use types::{
    Anomaly, ContainerId, CurrentOwner, DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord,
    MINUTE_SECS, NameError, Owner, ServerConfig, ServerStatus, State, Timestamp, TransitionMode,
    UnitActivity,
};
