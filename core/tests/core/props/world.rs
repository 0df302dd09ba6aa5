//! Random event sequences through the in-process simulator keep the invariants of DESIGN.md §4.

use super::*;

/// The simulator as the properties run it: Downs at once or late, kubelet and hostcfgd acting
/// only on the events, no restart of the unit when its owner exits on its own.
fn options(downs: DownTiming) -> Options {
    Options {
        downs,
        sync_kubelet: false,
        reactive: false,
        unit_follows_owner: false,
        max_reactions: 4,
        feature: "snmp",
    }
}

/// A world in `state` at `EARLIER`.
fn world(state: State, cfg: FeatureConfig, label: bool, downs: DownTiming) -> Sim {
    Sim::in_state(state, cfg, label, EARLIER, options(downs))
}

/// Outside events.
#[derive(Debug, Clone)]
enum Ev {
    /// `container start` (systemd ExecStartPre).
    Start,
    /// `container stop` (systemd ExecStop).
    Stop,
    /// `container kill` (reboot scripts).
    Kill,
    /// Kubelet runs the DaemonSet's container (only while the label is on the node); it calls
    /// `container state up kube`.
    KubeDeploy,
    /// Kubelet stops the kube container because the label is gone.
    KubeletReap,
    /// The kube container exits on its own (crash, OOM, manifest update).
    KubeExit,
    /// A kube container asks again (`container state up kube` repeated).
    KubeAsksAgain,
    /// The local container exits on its own.
    LocalExit,
    /// The local container says `container state up local` from inside.
    LocalSaysUp,
    /// hostcfgd approves, with what `systemctl is-active` told it.
    Approve(bool),
    /// Time passes by this many seconds and kube-monit fires FailureTimeout.
    Monit(u32),
    /// CONFIG_DB `set_owner` written directly.
    SetOwner(Owner),
    /// `sonic-kube config feature owner`: set_owner, then systemctl stop and start.
    CliOwner(Owner),
    /// CONFIG_DB `fallback_to_local` written.
    SetFallback(bool),
    /// CONFIG_DB `kube_failure_detection` written.
    SetDetection(u32),
    /// Late `Down`s of containers our effects stopped arrive.
    DeliverDowns,
}

type Outcome<T = ()> = Result<T, String>;

/// What `systemctl is-active` says of a unit that is (or is not) active; this world's unit
/// never fails.
fn activity(active: bool) -> UnitActivity {
    if active {
        UnitActivity::Active
    } else {
        UnitActivity::Inactive
    }
}

/// The first broken invariant with the run's transcript, if one broke.
fn verdict(w: &Sim) -> Outcome {
    match w.violations.first() {
        None => Ok(()),
        Some(v) => Err(format!("{v}\n{}", w.transcript())),
    }
}

/// One outside event, then the world settles; checks invariants 1 to 3 throughout.
fn event(w: &mut Sim, ev: &Ev) -> Outcome {
    w.now = w.now.plus_secs(1);
    w.event(format!("{ev:?}"));
    match ev {
        Ev::Start => w.exec_start(),
        Ev::Stop => w.exec_stop(),
        Ev::Kill => w.kill(),
        Ev::KubeDeploy => w.kube_deploys(0),
        Ev::KubeletReap if !w.label => w.kubelet_reaps(),
        Ev::KubeExit => w.kubelet_reaps(),
        Ev::KubeAsksAgain
            if w.kube
                .as_ref()
                .is_some_and(|k| k.phase != KubePhase::Parked) =>
        {
            w.kube_asks();
        }
        Ev::LocalExit => w.local_exits(),
        Ev::LocalSaysUp => w.local_says_up(),
        Ev::Approve(active) => {
            w.feed(Input::Approve {
                unit: activity(*active),
            });
        }
        Ev::Monit(secs) => {
            w.now = w.now.plus_secs(u64::from(*secs));
            w.failure_timeout();
        }
        Ev::SetOwner(o) => w.cfg.set_owner = *o,
        Ev::CliOwner(o) => {
            w.cfg.set_owner = *o;
            w.settle();
            w.exec_stop();
            w.exec_start();
        }
        Ev::SetFallback(b) => w.cfg.fallback_to_local = *b,
        Ev::SetDetection(n) => w.cfg.kube_failure_detection_mins = *n,
        Ev::DeliverDowns => w.deliver_downs(),
        Ev::KubeletReap | Ev::KubeAsksAgain => {}
    }
    w.settle();
    verdict(w)
}

/// Invariant 4: with owner local, a Stop followed by a Start ends in LOCAL with the local
/// container running and no kube container claimed.
fn check_stop_start_with_local_owner_ends_local(w: &Sim) -> Outcome {
    if w.cfg.set_owner != Owner::Local {
        return Ok(());
    }
    let mut w = w.clone();
    event(&mut w, &Ev::Stop)?;
    event(&mut w, &Ev::Start)?;
    if w.state() != State::Local || w.local.is_none() || w.claimed().is_some() {
        return Err(format!(
            "invariant 4: Stop then Start with owner local\n{}",
            w.transcript()
        ));
    }
    Ok(())
}

/// Invariant 5, first half: the operator sets owner kube (set_owner, stop, start); kubelet
/// deploys while the label is on and removes the container as soon as it goes; hostcfgd
/// approves what is pending. Within a few rounds a kube container runs the feature.
fn check_kube_deploying_leads_to_kube_running(w: &Sim) -> Outcome {
    let mut w = w.clone();
    w.event("liveness: owner kube, cooperative kube");
    w.options.sync_kubelet = true;
    event(&mut w, &Ev::DeliverDowns)?;
    event(&mut w, &Ev::CliOwner(Owner::Kube))?;
    for _ in 0..8 {
        if w.state() == State::KubeRunning && w.claimed().is_some() {
            return Ok(());
        }
        event(&mut w, &Ev::KubeletReap)?;
        event(&mut w, &Ev::KubeDeploy)?;
        if approval_pending(&w.rec) {
            let active = w.service_active;
            event(&mut w, &Ev::Approve(active))?;
        }
        event(&mut w, &Ev::DeliverDowns)?;
    }
    Err(format!(
        "invariant 5: owner kube with kube deploying never reached KUBE_RUNNING\n{}",
        w.transcript()
    ))
}

/// Invariant 5, second half: with fallback, N > 0 and kube never deploying, the operator's
/// owner kube leads to LOCAL (kube-monit fires at its deadline).
fn check_kube_never_deploying_falls_back_to_local(w: &Sim) -> Outcome {
    let mut w = w.clone();
    w.event("liveness: owner kube, fallback, kube never deploys");
    event(&mut w, &Ev::KubeExit)?;
    event(&mut w, &Ev::DeliverDowns)?;
    w.cfg.fallback_to_local = true;
    w.cfg.kube_failure_detection_mins = 1;
    event(&mut w, &Ev::CliOwner(Owner::Kube))?;
    for _ in 0..4 {
        if w.state() == State::Local && w.local.is_some() {
            return Ok(());
        }
        let wait = next_deadline(&w.rec, &w.cfg).map_or(0, |d| d.secs_since(w.now));
        event(&mut w, &Ev::Monit(u32::try_from(wait).unwrap_or(u32::MAX)))?;
        if approval_pending(&w.rec) {
            let active = w.service_active;
            event(&mut w, &Ev::Approve(active))?;
        }
    }
    Err(format!(
        "invariant 5: owner kube with fallback and no kube never reached LOCAL\n{}",
        w.transcript()
    ))
}

fn any_timing() -> impl Strategy<Value = DownTiming> {
    prop_oneof![Just(DownTiming::Immediate), Just(DownTiming::Deferred)]
}

/// Outside events, weighted towards the everyday ones.
fn any_event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => Just(Ev::Start),
        3 => Just(Ev::Stop),
        1 => Just(Ev::Kill),
        4 => Just(Ev::KubeDeploy),
        2 => Just(Ev::KubeletReap),
        1 => Just(Ev::KubeExit),
        1 => Just(Ev::KubeAsksAgain),
        1 => Just(Ev::LocalExit),
        1 => Just(Ev::LocalSaysUp),
        3 => any::<bool>().prop_map(Ev::Approve),
        2 => prop::sample::select(vec![0u32, 30, 59, 60, 61, 400]).prop_map(Ev::Monit),
        1 => any_owner().prop_map(Ev::SetOwner),
        2 => any_owner().prop_map(Ev::CliOwner),
        1 => any::<bool>().prop_map(Ev::SetFallback),
        1 => prop::sample::select(vec![0u32, 1, 5]).prop_map(Ev::SetDetection),
        1 => Just(Ev::DeliverDowns),
    ]
}

/// Runs `events` from a world and checks every invariant after every event.
fn run(mut w: Sim, events: &[Ev]) -> Outcome<Sim> {
    w.settle();
    verdict(&w)?;
    for ev in events {
        event(&mut w, ev)?;
        check_stop_start_with_local_owner_ends_local(&w)?;
    }
    Ok(w)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_event_sequences_keep_invariants_one_to_four(
        state in any_state(),
        cfg in any_config(),
        label in any::<bool>(),
        timing in any_timing(),
        events in prop::collection::vec(any_event(), 0..40),
    ) {
        let w = world(state, cfg, label, timing);
        if let Err(e) = run(w, &events) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn after_random_event_sequences_owner_kube_reaches_kube_running_or_local_with_fallback(
        state in any_state(),
        cfg in any_config(),
        label in any::<bool>(),
        timing in any_timing(),
        events in prop::collection::vec(any_event(), 0..30),
    ) {
        let w = world(state, cfg, label, timing);
        let checked = run(w, &events).and_then(|w| {
            check_kube_deploying_leads_to_kube_running(&w)?;
            check_kube_never_deploying_falls_back_to_local(&w)
        });
        if let Err(e) = checked {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn a_kube_container_parked_while_owner_was_local_takes_over_once_owner_is_kube_again() {
    // A label left on the node from before a reboot lets kubelet deploy a container while the
    // owner is local: it parks. The service starts and stops (INIT; the label goes: invariant 8).
    let w = world(
        State::Init,
        FeatureConfig::new(Owner::Local, false),
        true,
        DownTiming::Immediate,
    );
    let events = [Ev::KubeDeploy, Ev::Start, Ev::Stop];
    let w = run(w, &events).expect("the run keeps invariants 1 to 4");
    assert_eq!(w.rec.state(), State::Init);
    assert!(
        w.kube
            .as_ref()
            .is_some_and(|k| k.phase == KubePhase::Parked),
        "kubelet deployed a container that parked"
    );
    // Owner kube again (set_owner, stop, start) with a cooperative kube: a kube container must
    // end up running the feature (invariant 5).
    if let Err(e) = check_kube_deploying_leads_to_kube_running(&w) {
        panic!("{e}");
    }
}

#[test]
fn the_label_follows_set_owner_local() {
    // Issue 8, item 5: owner kube with fallback runs the local image and adds the label; the
    // operator moves the feature to local (set_owner, stop, start). Wave 1 kept
    // `<f>_enabled=true` on the node for ever (LOCAL | Stop and INIT | Start with owner local
    // left it), so the DaemonSet deployed a pod that parked for ever.
    let w = world(
        State::Init,
        FeatureConfig::new(Owner::Kube, true),
        false,
        DownTiming::Immediate,
    );
    let w = run(w, &[Ev::Start]).expect("starts");
    assert!(w.label, "owner kube with fallback adds the label");
    let w = run(w, &[Ev::CliOwner(Owner::Local)]).expect("moves to local");
    assert_eq!(w.rec.state(), State::Local);
    assert!(!w.label, "owner local: the label is gone");
    // And from any state, a Stop or a Start with owner local removes it.
    for state in State::ALL {
        for ev in [Ev::Start, Ev::Stop] {
            let w = world(
                state,
                FeatureConfig::new(Owner::Local, false),
                true,
                DownTiming::Immediate,
            );
            let w = run(w, std::slice::from_ref(&ev)).expect("keeps the invariants");
            assert!(!w.label, "{state} {ev:?}: the label outlived owner local");
        }
    }
}

#[test]
fn the_simulator_reaches_every_state_from_init() {
    // A guard against a simulator that cannot fail because it never gets anywhere.
    let mut seen = HashMap::new();
    let script = [
        (Owner::Local, vec![Ev::Start, Ev::Stop]),
        (Owner::Local, vec![Ev::Start]),
        (Owner::Kube, vec![Ev::Start]),
        (Owner::Kube, vec![Ev::Start, Ev::KubeDeploy]),
        (Owner::Kube, vec![Ev::Start, Ev::KubeDeploy, Ev::KubeExit]),
        (Owner::Kube, vec![Ev::SetFallback(true), Ev::Start]),
        (
            Owner::Kube,
            vec![Ev::SetFallback(true), Ev::Start, Ev::KubeDeploy],
        ),
        (Owner::Kube, vec![Ev::KubeDeploy]),
    ];
    for (owner, events) in script {
        let w = world(
            State::Init,
            FeatureConfig::new(owner, false),
            true,
            DownTiming::Immediate,
        );
        let w = run(w, &events).expect("the scripted runs keep the invariants");
        seen.insert(w.rec.state(), events.len());
    }
    let mut states: Vec<_> = seen.keys().copied().collect();
    states.sort();
    assert_eq!(states, State::ALL.to_vec());
}
