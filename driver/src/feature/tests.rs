//! [`FeatureDriver`] against the recording fakes of its four ports ([`crate::testing`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctrmgr_core::ports::{ErrorKind, PortError};
use ctrmgr_core::{CurrentOwner, LabelOp, TransitionMode, UnitActivity};
use tokio::sync::oneshot;

use super::*;
use crate::testing::*;
use crate::{FeatureError, LabelOptions};

const LOCAL_ID: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KUBE_ID: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const NEW_KUBE_ID: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const LABEL: &str = "snmp_enabled";

fn snmp() -> FeatureName {
    FeatureName::new("snmp").expect("valid name")
}

fn id(s: &str) -> ContainerId {
    ContainerId::new(s).expect("valid id")
}

fn record(state: State, docker_id: Option<&str>) -> FeatureRecord {
    FeatureRecord::of_state(state, docker_id.map(id))
}

fn config(owner: Owner, fallback: bool) -> FeatureConfig {
    FeatureConfig::new(owner, fallback)
}

struct World {
    store: FakeStore,
    engine: FakeEngine,
    master: FakeMaster,
    units: FakeUnits,
    driver: FeatureDriver<FakeStore, FakeEngine, FakeMaster, FakeUnits>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(config: Option<FeatureConfig>, record: FeatureRecord) -> Self {
        Self::with_options(config, record, FeatureOptions::default())
    }

    fn with_options(
        config: Option<FeatureConfig>,
        record: FeatureRecord,
        options: FeatureOptions,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FakeStore::new(config, record);
        let engine = FakeEngine::new();
        let master = FakeMaster::new(MasterMode::Up);
        let units = FakeUnits::default();
        let service = LabelService::new(
            store.clone(),
            master.clone(),
            units.clone(),
            LabelOptions {
                timeout: Duration::from_secs(5),
                kubelet_unit: "kubelet".to_owned(),
                locks: Some(LockDir::new(dir.path())),
            },
        );
        let driver = FeatureDriver::new(service, engine.clone(), LockDir::new(dir.path()), options);
        Self {
            store,
            engine,
            master,
            units,
            driver,
            _dir: dir,
        }
    }

    fn lock_path(&self) -> PathBuf {
        self.driver.locks().path(&snmp())
    }

    async fn run(&self, input: Input) -> Outcome {
        self.driver.run(&snmp(), input).await.expect("run succeeds")
    }

    fn label(&self) -> Option<String> {
        self.master.node_labels().get(LABEL).cloned()
    }

    fn state(&self) -> State {
        self.store.record().state()
    }
}

fn stop() -> Input {
    Input::Stop(StopOptions {
        grace_secs: 7,
        kube_exit_wait_secs: 30,
    })
}

mod approval_loop;
mod commands;
mod locks;
mod observed;
