//! The files of `packaging/` as a switch gets them: the feature script rendered from
//! `templates/feature.sh.j2` and run by bash against the real `container`, Redis and Docker
//! Engine; the unit rendered from `templates/feature.service.j2`; the `system container`
//! wrapper; and the shipped tunables file `ctrmgr.json`, which must list every tunable with
//! its default (as must the operator guide).

use std::os::unix::fs::PermissionsExt;

use ctrmgr_core::{Owner, State};
use ctrmgr_dbclient::DB_CONFIG_ENV;
use ctrmgr_dockerclient::DOCKER_HOST_ENV;
use ctrmgr_dockerclient::testing::busybox_rootfs;
use ctrmgr_driver::Tunables;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, context};
use tokio::sync::OnceCell;

use super::*;

/// `packaging/` of the repository.
fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

/// Renders `packaging/templates/<template>` as an installer would: strict about undefined
/// variables (a misspelt variable fails here instead of rendering empty) and keeping the
/// file's last newline.
fn render(template: &str, ctx: minijinja::Value) -> String {
    let path = packaging_dir().join("templates").join(template);
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("a valid syntax"),
    );
    env.add_template(template, &source)
        .unwrap_or_else(|e| panic!("{template} does not parse: {e:#}"));
    env.get_template(template)
        .expect("the template was added")
        .render(ctx)
        .unwrap_or_else(|e| panic!("{template} does not render: {e:#}"))
}

/// Writes an executable file.
fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make the script executable");
}

/// The feature script for `name` with a local image created by `docker create <args> <image>`
/// and hooks that append their names to `hooks`, written as `<dir>/<name>.sh`.
fn feature_script(dir: &Path, name: &str, image: &str, create_args: &str, hooks: &Path) -> PathBuf {
    let hook = |h: &str| vec![format!("echo {h} >> '{}'", hooks.display())];
    let text = render(
        "feature.sh.j2",
        context! {
            name => name,
            multi_instance => false,
            local_image => image,
            docker_create_args => create_args,
            pre_start => hook("pre_start"),
            post_start => hook("post_start"),
            pre_stop => hook("pre_stop"),
            post_stop => hook("post_stop"),
        },
    );
    let path = dir.join(format!("{name}.sh"));
    write_executable(&path, &text);
    path
}

/// `bash -n`: the script parses.
fn assert_bash_parses(script: &Path) {
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(script)
        .output()
        .expect("run bash -n");
    assert!(
        out.status.success(),
        "bash -n {}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The hooks' log: one hook name per line, in the order they ran.
fn hooks_ran(hooks: &Path) -> Vec<String> {
    std::fs::read_to_string(hooks)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn the_feature_script_renders_to_bash_that_parses_and_refuses_an_unknown_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hooks = dir.path().join("hooks");
    let script = feature_script(
        dir.path(),
        "snmp",
        "docker-snmp:latest",
        "--net=host --privileged=false",
        &hooks,
    );
    assert_bash_parses(&script);
    let text = std::fs::read_to_string(&script).expect("read the script");
    assert!(text.starts_with("#!/usr/bin/env bash\n"), "{text}");
    assert!(text.contains("readonly FEATURE=\"snmp\""), "{text}");
    assert!(
        text.contains(
            "create --name \"$DOCKERNAME\" --net=host --privileged=false \"docker-snmp:latest\""
        ),
        "{text}"
    );
    for hook in ["pre_start", "post_start", "pre_stop", "post_stop"] {
        assert!(
            text.contains(&format!("echo {hook} >> '{}'", hooks.display())),
            "{hook} missing: {text}"
        );
    }

    for args in [&["bogus"][..], &[][..]] {
        let out = std::process::Command::new(&script)
            .args(args)
            .env("CTRMGR_CONTAINER", "/nonexistent/container")
            .env("CTRMGR_DOCKER", "/nonexistent/docker")
            .output()
            .expect("run the script");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("usage: "), "{args:?}: {stderr}");
        assert!(stderr.contains("{start|wait|stop|kill}"), "{stderr}");
    }
    assert!(
        hooks_ran(&hooks).is_empty(),
        "no hook runs on a usage error"
    );
}

#[test]
fn a_kube_only_feature_script_creates_no_local_container() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = render(
        "feature.sh.j2",
        context! {
            name => "telemetry",
            multi_instance => false,
            local_image => "",
            docker_create_args => "",
            pre_start => Vec::<String>::new(),
            post_start => Vec::<String>::new(),
            pre_stop => Vec::<String>::new(),
            post_stop => Vec::<String>::new(),
        },
    );
    let path = dir.path().join("telemetry.sh");
    write_executable(&path, &text);
    assert_bash_parses(&path);
    assert!(!text.contains(" create "), "{text}");
    assert!(
        text.contains("\"$CONTAINER_CMD\" \"${CONTAINER_OPTS[@]}\" start \"$DOCKERNAME\""),
        "{text}"
    );
}

/// An image whose default command is [`TRAP_TERM`], as a SONiC feature image has its own
/// command: the script's `docker create` gives none. Imported once per engine (the tag names
/// this version of it).
async fn service_image(docker: &TestDocker) -> &'static str {
    const IMAGE: &str = "ctrmgr-test/busybox-service:1";
    static READY: OnceCell<()> = OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let client = docker.client();
            if client
                .image_id(IMAGE)
                .await
                .expect("inspect the service image")
                .is_some()
            {
                return;
            }
            let rootfs = busybox_rootfs().expect("busybox root file system");
            let cmd = format!(
                "CMD {}",
                serde_json::to_string(&TRAP_TERM).expect("JSON of a command")
            );
            let changes = ["ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", cmd.as_str()];
            client
                .import_image(rootfs, IMAGE, &changes)
                .await
                .expect("import the service image");
        })
        .await;
    IMAGE
}

/// Removes (forcibly) the container a feature script created, when the test ends.
struct RemoveOnDrop {
    name: String,
    host: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.name])
            .env(DOCKER_HOST_ENV, &self.host)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `<script> <verb>` as systemd runs it, with the test's `container`, tunables, Redis and
/// Docker Engine.
async fn run_script(sw: &Switch, script: &Path, verb: &str) -> Output {
    let mut c = tokio::process::Command::new(script);
    c.arg(verb)
        .env("CTRMGR_CONTAINER", BIN)
        .env("CTRMGR_DOCKER", "docker")
        .env("CTRMGR_CONFIG", sw.fixture.tunables_path())
        .env(DB_CONFIG_ENV, sw.fixture.redis.db_config_path())
        .env(DOCKER_HOST_ENV, sw.docker.host())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    run_bounded(c).await
}

fn assert_exit_0(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_feature_script_creates_starts_and_stops_the_local_container_through_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let image = service_image(&sw.docker).await;
    let _cleanup = RemoveOnDrop {
        name: f.to_string(),
        host: sw.docker.host().to_owned(),
    };
    let hooks = sw.fixture.dir.path().join("hooks");
    let script = feature_script(
        sw.fixture.dir.path(),
        sw.f(),
        image,
        "--network none --label ctrmgr-test=1",
        &hooks,
    );

    let out = run_script(&sw, &script, "start").await;
    assert_exit_0(&out, "start");

    let name = ContainerId::new(sw.f()).expect("the feature name is a container name");
    let id = sw
        .docker
        .client()
        .full_id(&name)
        .await
        .expect("the script created the local container");
    assert!(sw.running(&id).await, "the local container runs");
    let row = sw.raw_row(&f).await;
    assert_eq!(
        row.get(codec::CURRENT_OWNER).map(String::as_str),
        Some(codec::OWNER_LOCAL),
        "{row:?}"
    );
    assert_eq!(
        row.get(codec::DOCKER_ID).map(String::as_str),
        Some(id.as_str()),
        "{row:?}"
    );
    assert_eq!(sw.record(&f).await.state(), State::Local);
    assert_eq!(hooks_ran(&hooks), ["pre_start", "post_start"]);

    let out = run_script(&sw, &script, "stop").await;
    assert_exit_0(&out, "stop");

    assert_eq!(
        sw.docker_state(&id).await,
        (false, 0),
        "stopped by SIGTERM, exit 0"
    );
    let row = sw.raw_row(&f).await;
    assert_eq!(
        row.get(codec::CURRENT_OWNER).map(String::as_str),
        Some(codec::OWNER_NONE),
        "{row:?}"
    );
    assert_eq!(
        row.get(codec::DOCKER_ID).map(String::as_str),
        Some(""),
        "{row:?}"
    );
    assert_eq!(sw.record(&f).await.state(), State::Init);
    assert_eq!(
        hooks_ran(&hooks),
        ["pre_start", "post_start", "pre_stop", "post_stop"]
    );

    let out = run_script(&sw, &script, "bogus").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(hooks_ran(&hooks).len(), 4, "no hook runs on a usage error");
    assert!(!sw.running(&id).await);
}

#[test]
fn the_feature_unit_requires_and_follows_its_dependencies_and_runs_the_script() {
    let unit = render(
        "feature.service.j2",
        context! {
            name => "snmp", requires => vec!["database", "swss"], user => "root",
            multi_instance => false, instance_requires => Vec::<String>::new()
        },
    );
    let lines: Vec<&str> = unit.lines().collect();
    let with = |prefix: &str| -> Vec<&str> {
        lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(prefix))
            .collect()
    };
    assert_eq!(
        with("Requires="),
        ["Requires=database.service", "Requires=swss.service"]
    );
    assert_eq!(
        with("After="),
        [
            "After=database.service",
            "After=swss.service",
            "After=sonic.target"
        ]
    );
    assert_eq!(with("BindsTo="), ["BindsTo=sonic.target"]);
    assert_eq!(with("User="), ["User=root"]);
    assert_eq!(with("Description="), ["Description=snmp container"]);
    assert_eq!(
        with("ExecStartPre="),
        ["ExecStartPre=/usr/local/bin/snmp.sh start"]
    );
    assert_eq!(
        with("ExecStart="),
        ["ExecStart=/usr/local/bin/snmp.sh wait"]
    );
    assert_eq!(with("ExecStop="), ["ExecStop=/usr/local/bin/snmp.sh stop"]);
    // featured's auto_restart drop-in decides (decisions pkg-5); systemd's stop timeout.
    assert!(with("Restart=").is_empty(), "{unit}");
    assert!(with("TimeoutStopSec=").is_empty(), "{unit}");

    // Dependencies belong to [Unit], the scripts to [Service].
    let section = |line: &str| {
        let at = lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("{line:?} missing: {unit}"));
        lines[..at]
            .iter()
            .rev()
            .find(|l| l.starts_with('['))
            .copied()
    };
    assert_eq!(section("Requires=swss.service"), Some("[Unit]"));
    assert_eq!(section("After=database.service"), Some("[Unit]"));
    assert_eq!(
        section("ExecStop=/usr/local/bin/snmp.sh stop"),
        Some("[Service]")
    );

    let described = render(
        "feature.service.j2",
        context! {
            name => "lldp", requires => Vec::<String>::new(), description => "LLDP",
            user => "admin", stop_timeout => 30, multi_instance => false,
            instance_requires => Vec::<String>::new()
        },
    );
    assert!(described.contains("\nDescription=LLDP\n"), "{described}");
    assert!(!described.contains("Requires="), "{described}");
    assert!(described.contains("\nUser=admin\n"), "{described}");
    assert!(described.contains("\nTimeoutStopSec=30\n"), "{described}");
}

/// `container <args>` or `system container <args>`, with the shipped tunables file.
fn run_sync(program: &Path, prefix: &[&str], redis: &TestRedis, args: &[&str]) -> Output {
    std::process::Command::new(program)
        .args(prefix)
        .arg("--db-config")
        .arg(redis.db_config_path())
        .arg("--config")
        .arg(packaging_dir().join("ctrmgr.json"))
        .args(args)
        .env("CTRMGR_CONTAINER", BIN)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("run the command")
}

#[tokio::test]
async fn system_container_is_container() {
    let redis = TestRedis::start().expect("redis-server starts");
    let db = redis.connect().await.expect("connect to redis");
    let f = unique_feature();
    // A kube owner: `container id` prints the recorded id (for a local owner, the name).
    db.set_feature_config(&f, &FeatureConfig::new(Owner::Kube, false))
        .await
        .expect("write CONFIG_DB FEATURE");
    let id = ContainerId::new(&"0123456789abcdef".repeat(4)).expect("a container id");
    db.set_feature_record(
        &f,
        &FeatureRecord::of_state(State::KubeRunning, Some(id.clone())),
    )
    .await
    .expect("write STATE_DB FEATURE");
    let system = packaging_dir().join("bin/system");

    let direct = run_sync(Path::new(BIN), &[], &redis, &["id", f.as_str()]);
    let wrapped = run_sync(&system, &["container"], &redis, &["id", f.as_str()]);
    assert_eq!(direct.status.code(), Some(0), "{direct:?}");
    assert_eq!(String::from_utf8_lossy(&direct.stdout).trim(), id.as_str());
    assert_eq!(
        (wrapped.status.code(), &wrapped.stdout, &wrapped.stderr),
        (direct.status.code(), &direct.stdout, &direct.stderr)
    );

    // A failure passes through unchanged: exit 1 and the same line.
    let unknown = unique_feature();
    let direct = run_sync(Path::new(BIN), &[], &redis, &["id", unknown.as_str()]);
    let wrapped = run_sync(&system, &["container"], &redis, &["id", unknown.as_str()]);
    assert_eq!(direct.status.code(), Some(1));
    assert_eq!(
        (wrapped.status.code(), &wrapped.stderr),
        (direct.status.code(), &direct.stderr)
    );

    for args in [&["foo"][..], &[][..]] {
        let out = std::process::Command::new(&system)
            .args(args)
            .env("CTRMGR_CONTAINER", BIN)
            .output()
            .expect("run system");
        assert_eq!(out.status.code(), Some(2), "system {args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: system container"),
            "{out:?}"
        );
    }
}

/// Every tunable with its default, as JSON: what `Tunables::default()` serializes to.
fn default_tunables() -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(Tunables::default()).expect("tunables serialize") {
        serde_json::Value::Object(map) => map,
        other => panic!("tunables serialize to an object, not {other}"),
    }
}

#[test]
fn the_shipped_ctrmgr_json_lists_every_tunable_with_its_default() {
    let path = packaging_dir().join("ctrmgr.json");
    let text = std::fs::read_to_string(&path).expect("read packaging/ctrmgr.json");
    let parsed = Tunables::parse(&path, &text).expect("packaging/ctrmgr.json parses");
    assert_eq!(parsed, Tunables::default());
    let file: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let file = file.as_object().expect("an object");
    let defaults = default_tunables();
    let missing: Vec<&String> = defaults.keys().filter(|k| !file.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys missing from ctrmgr.json: {missing:?}"
    );
    assert_eq!(file, &defaults);
}

#[test]
fn the_operator_guide_documents_every_tunable_with_its_default() {
    let guide = std::fs::read_to_string(packaging_dir().join("../docs/operator-guide.md"))
        .expect("read docs/operator-guide.md");
    for (key, value) in default_tunables() {
        let shown = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let row = format!("| `{key}` | `{shown}` |");
        assert!(
            guide.lines().any(|l| l.starts_with(&row)),
            "docs/operator-guide.md has no row starting {row:?}"
        );
    }
}
