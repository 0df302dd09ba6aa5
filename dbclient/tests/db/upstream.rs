//! Upstream's mirror in a real STATE_DB: random input sequences (a fixed-seed generator, so a
//! failure reproduces) are stepped through the core as the driver does, every write goes
//! through `SonicDb::write_state`, and after every transition the row read back with HGETALL
//! carries both field sets, consistent with each other — as `show feature status` and monit's
//! `container_checker` read them.

use std::collections::VecDeque;

use ctrmgr_core::codec::{self, upstream};
use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, Owner, State,
    StopOptions, Timestamp, step,
};
use ctrmgr_dbclient::{DbName, Fields};

use crate::support::{Raw, connect, feature, redis};

/// xorshift64: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn id(n: u64) -> ContainerId {
    ContainerId::new(&format!("{n:02x}feedc0ffee0123456789ab")).expect("valid id")
}

fn check(name: &str, row: &Fields, context: &str) {
    let rec = codec::decode_feature_record("FEATURE|x", row).expect("decodable");
    let up = upstream::decode_upstream(row);
    if let Some(m) = up.mode {
        assert_eq!(m, rec.transition_mode, "{context}: remote_state in {row:?}");
    }
    let want_id = match rec.current_owner {
        CurrentOwner::None => String::new(),
        CurrentOwner::Local => name.to_owned(),
        CurrentOwner::Kube => rec
            .docker_id
            .as_ref()
            .map(|d| d.short().to_owned())
            .unwrap_or_default(),
    };
    if row.contains_key(codec::CURRENT_OWNER) {
        assert_eq!(
            up.container_id, want_id,
            "{context}: container_id in {row:?}"
        );
        assert!(up.mode.is_some(), "{context}: remote_state set in {row:?}");
    }
    if rec.current_owner != CurrentOwner::None || rec.state() == State::KubeReady {
        assert_eq!(up.system_state, "up", "{context}: system_state in {row:?}");
    }
    if matches!(rec.state(), State::Init | State::KubeStopped) {
        assert_ne!(up.system_state, "up", "{context}: system_state in {row:?}");
    }
    assert_eq!(
        up.update_time,
        rec.current_owner_update_ts
            .max(rec.transition_mode_update_ts),
        "{context}: update_time in {row:?}"
    );
}

#[tokio::test]
async fn random_transitions_leave_both_field_sets_consistent_in_state_db() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for seq in 0..30 {
        let name = format!("f{seq}");
        let f = feature(&name);
        let key = format!("FEATURE|{name}");
        let mut cfg = FeatureConfig::new(Owner::Kube, rng.next(2) == 0);
        let mut history = Vec::new();
        let mut next_local = 100;
        for i in 0..25 {
            let now = Timestamp::from_secs(1_700_000_000 + (seq * 100 + i) as u64);
            let input = match rng.next(7) {
                0 => Input::Start,
                1 => Input::Stop(StopOptions::default()),
                2 => Input::Kill,
                3 => Input::LocalUp(id(rng.next(3))),
                4 => Input::KubeUp(id(rng.next(3))),
                5 => Input::Down(id(rng.next(3))),
                _ => {
                    let owner = if rng.next(2) == 0 {
                        Owner::Local
                    } else {
                        Owner::Kube
                    };
                    cfg = FeatureConfig::new(owner, rng.next(2) == 0);
                    history.push(format!("{owner}/{}", cfg.fallback_to_local));
                    continue;
                }
            };
            history.push(input.name().to_owned());
            let rec: FeatureRecord = db.feature_record(&f).await.expect("read");
            let mut effects: VecDeque<Effect> = step(&rec, &cfg, input, now).effects.into();
            while let Some(e) = effects.pop_front() {
                match e {
                    Effect::DockerStart => {
                        next_local += 1;
                        let rec = db.feature_record(&f).await.expect("read");
                        let up = step(&rec, &cfg, Input::LocalUp(id(next_local)), now);
                        for e in up.effects.into_iter().rev() {
                            effects.push_front(e);
                        }
                    }
                    Effect::Write(w) => {
                        db.write_state(&f, &w).await.expect("write");
                    }
                    _ => {}
                }
            }
            let row = raw.hgetall(&db, DbName::StateDb, &key).await;
            check(&name, &row, &format!("sequence {seq}: {history:?}"));
        }
    }
}
