//! 2. Redis round trips: `container id` and `state … up local` against redis-cli.

use super::*;

/// One Redis-only command benchmarked against redis-cli.
pub(super) struct RedisCase {
    pub(super) what: &'static str,
    pub(super) args: Vec<&'static str>,
    /// Whether STATE_DB's record is deleted before each run (so that the command writes).
    pub(super) fresh_record: bool,
}

pub(super) fn redis_section(bins: &Bins, setup: &Setup) -> Result<Section> {
    let mut s = Section::new(REDIS_TITLE);
    s.notes.push(format!(
        "Against a redis-server on a unix socket. The floor is `redis-cli -s <sock> -n {} -r \
         <k> HGETALL {}`: a process that spawns, connects and makes the same number of round \
         trips as our command did (SELECT plus k HGETALLs). Our round trips were counted from \
         one run under strace (writes on the Redis socket; a pipelined batch is one). `id` \
         reads a recorded `docker_id` (no engine call); `state up local` runs once from INIT \
         (it writes the owner: the record is deleted, untimed, before each run) and once with \
         the same id already recorded (it reads and decides, nothing to write). Start-up is \
         part of both: `ldd` lists {} libraries for redis-cli and {} for our `container`, \
         so ours can come in under the floor.",
        codec::DEFAULT_CONFIG_DB_ID,
        feature_key(),
        shared_libraries("redis-cli"),
        shared_libraries(&bins.kube),
    ));
    setup.seed_feature()?;
    let cases = [
        RedisCase {
            what: "`container id`",
            args: vec!["id", FEATURE],
            fresh_record: false,
        },
        RedisCase {
            what: "`container state up local` from INIT (writes)",
            args: vec!["state", FEATURE, "up", "local", "--id", RECORDED_ID],
            fresh_record: true,
        },
        RedisCase {
            what: "`container state up local`, already recorded",
            args: vec!["state", FEATURE, "up", "local", "--id", RECORDED_ID],
            fresh_record: false,
        },
    ];
    for case in &cases {
        for (build, bin) in bins.containers() {
            let what = format!("{} ({build})", case.what);
            let row = redis_row(setup, bin, case, &what);
            match row {
                Ok(row) => s.rows.push(row),
                Err(e) => {
                    eprintln!("xtask: bench: {what}: not measured: {e:#}");
                    s.failed = true;
                    s.rows.push(Row {
                        what,
                        floor: "—".to_owned(),
                        ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                        compared: "—".to_owned(),
                        target: format!("≤ {REDIS_RATIO_TARGET}× floor"),
                        met: Met::NotJudged,
                    });
                }
            }
        }
    }
    Ok(s)
}

pub(super) fn redis_row(setup: &Setup, bin: &Path, case: &RedisCase, what: &str) -> Result<Row> {
    let mut ours_cmd = setup.ours(bin, &case.args);

    // One traced run counts the round trips, and shows the command does what it should.
    if case.fresh_record {
        setup.clear_record()?;
    } else {
        setup.record_owner()?;
    }
    let writes = traced_writes(&ours_cmd, &setup.socket, &setup.work)?;
    let trips = writes.len();
    ensure!(trips >= 1, "{what} made no request to Redis under strace");
    let id = setup.record_field(codec::DOCKER_ID)?;
    ensure!(
        id == RECORDED_ID,
        "after {what}, STATE_DB {} docker_id is {id:?}, not the recorded id",
        feature_key()
    );

    let hgetalls = trips.saturating_sub(1).max(1);
    let key = feature_key();
    let mut floor_cmd = setup.cli(codec::DEFAULT_CONFIG_DB_ID);
    floor_cmd.args(["-r", &hgetalls.to_string(), "HGETALL", &key]);

    let (ours, floor) = interleave(
        what,
        REDIS_RUNS,
        REDIS_BUDGET,
        &mut || {
            if case.fresh_record {
                setup.clear_record()?;
            }
            timed(&mut ours_cmd)
        },
        &mut || timed(&mut floor_cmd),
    )?;
    let (o, f) = (Stats::of(&ours)?, Stats::of(&floor)?);
    let r = ratio(o.median, f.median);
    Ok(Row {
        what: format!("{what}: {trips} round trip(s), {} runs", o.runs),
        floor: f.show(),
        ours: o.show(),
        compared: format!("{r:.2}× ({})", signed_ms(o.median, f.median)),
        target: format!("≤ {REDIS_RATIO_TARGET}× floor"),
        met: Met::when(r <= REDIS_RATIO_TARGET),
    })
}
