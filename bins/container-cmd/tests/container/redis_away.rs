//! `container state <f> up kube` while Redis goes away during the wait (issue 8, item 7): the
//! failed questions are asked again with backoff, the wait goes on and ends with the approval,
//! and `--timeout` bounds those retries too. Redis is killed while a question is on its way
//! (held at the feature lock), so that the question meets it gone.

use super::*;

const WAITING: &str = "waiting for approval";
/// Logged by each failed question while waiting.
const ASKING_AGAIN: &str = "cannot ask while waiting for approval: asking again";

/// Makes the next question of the waiting `up` fail on a Redis that is gone: the test holds
/// the feature lock, touches the feature's row (the watch reads it, and `up` asks again, which
/// first waits for the lock), and once `up` waits for the lock, kills Redis and lets the
/// question go. Returns with Redis down.
async fn take_redis_away_under_a_question(sw: &mut Switch, up: &Running) {
    let locks = ctrmgr_driver::LockDir::new(sw.fixture.dir.path().join("locks"));
    let held = locks.lock(&sw.feature).await.expect("the feature lock");
    sw.raw_set(&sw.feature.clone(), &[("current_owner_update_ts", "1")])
        .await;
    let pid = up.pid();
    tokio::time::timeout(DEADLINE, async {
        while !waits_for_a_lock(pid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("up never asked again: {:?}", up.stderr()));
    sw.fixture.redis.stop();
    drop(held);
}

/// Whether process `pid` is blocked on a `flock` (`/proc/locks` lists waiters with `->`).
fn waits_for_a_lock(pid: u32) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = pid.to_string();
    locks.lines().any(|l| {
        let mut fields = l.split_whitespace().skip(1);
        fields.next() == Some("->") && fields.nth(3) == Some(pid.as_str())
    })
}

/// Starts Redis again, empty, and writes the feature's CONFIG_DB row again (as a config reload
/// would) and then hostcfgd's approval (`kube_ready`). The test's own client reconnects by
/// itself; the first writes may still meet the old connection, so they are tried a few times.
async fn bring_redis_back_and_approve(sw: &mut Switch, feature: &FeatureName) {
    sw.fixture
        .redis
        .restart()
        .expect("redis-server starts again");
    let config = FeatureConfig::new(Owner::Kube, false);
    let mut last = None;
    for _ in 0..50 {
        match sw.fixture.db.set_feature_config(feature, &config).await {
            Ok(()) => {
                sw.set_record(feature, State::KubeReady, None).await;
                return;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot write to the restarted redis: {last:?}");
}

/// How many questions failed so far.
fn failed_questions(up: &Running) -> usize {
    up.stderr()
        .iter()
        .filter(|l| l.contains(ASKING_AGAIN))
        .count()
}

#[tokio::test]
async fn up_kube_keeps_waiting_while_redis_is_away_and_proceeds_once_approved() {
    let Some(mut sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(WAITING).await;

    take_redis_away_under_a_question(&mut sw, &up).await;
    // Two failed questions, one after its backoff: the first was not the last.
    let until = tokio::time::Instant::now() + DEADLINE;
    while failed_questions(&up) < 2 {
        assert!(up.is_running(), "keeps waiting: {:?}", up.stderr());
        assert!(
            tokio::time::Instant::now() < until,
            "never asked again: {:?}",
            up.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up.is_running(), "keeps waiting: {:?}", up.stderr());

    bring_redis_back_and_approve(&mut sw, &f).await;

    let status = up.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning);
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
}

#[tokio::test]
async fn up_kube_whose_questions_keep_failing_gives_up_at_its_timeout() {
    let Some(mut sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    let timeout_secs = 4;
    let mut up = sw.spawn(&[
        "state",
        sw.f(),
        "up",
        "kube",
        "--id",
        kube.as_str(),
        "--timeout",
        &timeout_secs.to_string(),
    ]);
    up.await_line(WAITING).await;
    let began = std::time::Instant::now();

    take_redis_away_under_a_question(&mut sw, &up).await;
    up.await_line(ASKING_AGAIN).await;

    // Never approved and never answered: the overall bound ends the retries, with status 5.
    let status = tokio::time::timeout(Duration::from_secs(timeout_secs + 10), up.finish())
        .await
        .unwrap_or_else(|_| panic!("the retries ignore --timeout: {:?}", up.stderr()));
    assert_eq!(status.code(), Some(5), "{:?}", up.stderr());
    assert!(
        began.elapsed() < Duration::from_secs(timeout_secs + 5),
        "{:?}",
        began.elapsed()
    );
    let said = up.stderr().join("\n");
    assert!(
        said.contains(&format!("not approved within {timeout_secs} s")),
        "{said}"
    );
    // Nothing was claimed while Redis was away.
    sw.fixture
        .redis
        .restart()
        .expect("redis-server starts again");
}
