//! Records healed by Stop then Start, and the daemons' functions agreeing with `step`.

use super::*;

/// Steps `input` from `rec` and carries out its writes as one writer would (the guard of each
/// write must hold: nothing else writes), feeding the LocalUp a `docker start` answers.
fn drive(rec: &mut FeatureRecord, cfg: &FeatureConfig, input: Input) -> Result<(), String> {
    let s = step(rec, cfg, input.clone(), NOW_PROPS);
    for e in s.effects {
        match e {
            Effect::Write(w) => {
                if let Some(g) = w.guard
                    && g != rec.transition_mode
                {
                    return Err(format!(
                        "{input:?}: a write guarded on {g} finds {} although nothing else wrote",
                        rec.transition_mode
                    ));
                }
                w.apply(rec);
            }
            Effect::DockerStart => {
                let id = ContainerId::new("started0").map_err(|e| e.to_string())?;
                drive(rec, cfg, Input::LocalUp(id))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `now` of the record-healing properties: far after any timestamp they generate.
const NOW_PROPS: Timestamp = Timestamp::from_secs(1_800_000_000);

proptest! {
    #![proptest_config(config(2000))]

    /// Issue 8, item 2: from every record that decodes, whatever its fields say, a Stop then a
    /// Start (what `systemctl restart`, and the operator guide's recovery advice, do) end on a
    /// canonical record — no write leaves a record non-canonical (owner included).
    #[test]
    fn stop_then_start_heals_every_decodable_record(
        fields in any_fields(),
        cfg in any_config(),
    ) {
        let Ok(mut rec) = codec::decode_feature_record("FEATURE|x", &fields) else {
            return Ok(());
        };
        let before = rec.clone();
        drive(&mut rec, &cfg, Input::Stop(StopOptions::default()))
            .map_err(TestCaseError::fail)?;
        drive(&mut rec, &cfg, Input::Start).map_err(TestCaseError::fail)?;
        prop_assert!(
            rec.classify().1.is_none(),
            "{before:?} under {cfg:?}: Stop then Start left {rec:?}"
        );
        prop_assert_eq!(rec.start_requested_ts, None, "a Start clears the marker");
    }

    /// Issue 8, item 2: the functions the daemons decide with agree with `step` on every
    /// decodable record: hostcfgd has an approval to carry out exactly when `step` does
    /// something with Approve, and kube-monit has a deadline exactly when `step` takes
    /// FailureTimeout.
    #[test]
    fn approval_pending_and_next_deadline_agree_with_step_on_every_decodable_record(
        fields in any_fields(),
        cfg in any_config(),
    ) {
        let Ok(rec) = codec::decode_feature_record("FEATURE|x", &fields) else {
            return Ok(());
        };
        for unit in [UnitActivity::Active, UnitActivity::Failed] {
            let approve = step(&rec, &cfg, Input::Approve { unit }, NOW_PROPS);
            prop_assert_eq!(
                approval_pending(&rec),
                approve.reason != Reason::ApproveNothingPending,
                "{:?}: approval_pending vs step ({:?})", &rec, approve.reason
            );
            let monit = step(&rec, &cfg, Input::FailureTimeout { unit }, Timestamp::MAX);
            prop_assert_eq!(
                next_deadline(&rec, &cfg).is_some(),
                monit.reason != Reason::FailureNotApplicable,
                "{:?} {:?}: next_deadline vs step ({:?})", &rec, &cfg, monit.reason
            );
        }
    }
}
