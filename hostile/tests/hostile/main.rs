//! The stable, seeded drivers of the hostile-input properties (issue 15, point 5): each test
//! runs a parser's [`ctrmgr_hostile::checks`] function over a few hand-picked inputs and then
//! `CTRMGR_RELIABILITY_CASES` generated ones (a default of a few thousand, a fraction of a
//! second; `cargo xtask reliability` runs 100,000), and prints the `RELIABILITY …` line that
//! goes into RELIABILITY.md. The cargo-fuzz targets of `fuzz/` call the same functions.

use ctrmgr_hostile::cli::{BINARIES, Binary};
use ctrmgr_hostile::{Gen, Tally, cases, checks};

/// Runs `check` on the fixed inputs, then on `n` generated ones, and finishes the tally.
fn run<T: std::fmt::Debug>(
    name: &str,
    seed: u64,
    n: u64,
    fixed: Vec<T>,
    mut generate: impl FnMut(&mut Gen) -> T,
    check: impl Fn(&T) -> ctrmgr_hostile::Verdict,
) {
    let mut g = Gen::new(seed);
    let mut t = Tally::default();
    for input in &fixed {
        t.one(input, || check(input));
    }
    for _ in 0..cases(n) {
        let input = generate(&mut g);
        t.one(&input, || check(&input));
    }
    t.finish(name, seed);
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn hostile_database_config() {
    run(
        "hostile-database-config",
        0x5eed_0101,
        3000,
        strings(&[
            "",
            "{",
            "null",
            "[]",
            r#"{"INSTANCES":{},"DATABASES":{}}"#,
            r#"{"INSTANCES":{"redis":{"port":0}},"DATABASES":{"STATE_DB":{"id":6,"separator":"|","instance":"redis"}}}"#,
            r#"{"INSTANCES":{"redis":{"hostname":"h\nx","port":"65536"}},"DATABASES":{"STATE_DB":{"id":-1,"separator":"","instance":"r\u001b[2J"}}}"#,
            r#"{"INSTANCES":{"redis":{"unix_socket_path":"/x"}},"DATABASES":{"CONFIG_DB":{"id":4294967296,"separator":"|","instance":"redis"}}}"#,
        ]),
        Gen::db_config,
        |t| checks::db_config(t),
    );
}

#[test]
fn hostile_tunables() {
    let keys = checks::tunable_keys();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    run(
        "hostile-tunables",
        0x5eed_0102,
        3000,
        strings(&[
            "",
            "{}",
            "[1]",
            r#"{"label_timeout_secs": -1}"#,
            r#"{"label_timeout_secs": 18446744073709551616}"#,
            r#"{"admin_conf_url": "https://x/admin.conf"}"#,
            r#"{"kubelet_unit": " \n"}"#,
            r#"{"kubeconfig": {"a\nb": 1}}"#,
            "{\"a\u{1b}[2J\": 1}",
            r#"{"stop_grace_secs": 1} trailing"#,
            // Cut short inside a hostile unknown key's value: the error's key path holds it.
            r#"{"a\r\nb\u001b[31m": "x"#,
        ]),
        |g| g.tunables(&keys),
        |t| checks::tunables(t),
    );
}

#[test]
fn hostile_kubeconfig() {
    run(
        "hostile-kubeconfig",
        0x5eed_0103,
        1000,
        strings(&[
            "",
            "<html>login</html>",
            "apiVersion: v1\nkind: Config\nclusters: []\n",
            "apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: \"https://a b\"\n",
            "apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1/x\nusers:\n- name: u\n  user:\n    token:\n      - S3CRET-token-in-a-list\n",
            "users:\n- name: u\n  user: S3CRET-user-as-a-string\n",
            "users:\n- name: u\n  user:\n    client-key-data: 42424242424242\n",
            "clusters:\n- name: c\n  cluster:\n    server: https://h\u{1b}[2J/\n",
        ]),
        Gen::kubeconfig,
        |t| checks::kubeconfig(t),
    );
}

#[test]
fn hostile_service_specs() {
    run(
        "hostile-service-specs",
        0x5eed_0104,
        1500,
        strings(&[
            r#"{"name":"telemetry"}"#,
            r#"{"name":"../../etc/x"}"#,
            r#"{"name":"/etc/x"}"#,
            r#"{"name":"telemetry","required_by":["../../etc/x"]}"#,
            r#"{"name":"telemetry","requires":["a/b"]}"#,
            r#"{"name":"telemetry","description":"x\nExecStartPre=/bin/evil"}"#,
            r#"{"name":"telemetry","warm_reboot":["{{ name }}"],"fast_reboot":["{% raw %}"]}"#,
            "{\"name\":\"telemetry\",\"a\\nb\":1}",
            "{\"name\":\"telemetry\",\"a\\u001b[2J\":1}",
        ]),
        |g| g.service_spec(checks::SPEC_KEYS),
        |t| checks::service_spec(t),
    );
}

#[test]
fn hostile_mountinfo_and_cgroup() {
    run(
        "hostile-mountinfo",
        0x5eed_0105,
        3000,
        strings(&[
            "",
            "\n\n",
            "1 2 3 4 /etc/hostname",
            "/docker/containers/",
            "/containers/0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
            "x /containers/é0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f/",
        ]),
        Gen::mountinfo,
        |t| checks::mountinfo(t),
    );
    run(
        "hostile-cgroup",
        0x5eed_0106,
        3000,
        strings(&[
            "",
            "0::/kubepods",
            "0::/kubepods/",
            "::::",
            "docker-",
            "0::/docker-0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
            "0::/kubepods/é/0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
        ]),
        Gen::cgroup,
        |t| checks::cgroup(t),
    );
}

#[test]
fn hostile_label_rows_and_arguments() {
    let row = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    run(
        "hostile-labels",
        0x5eed_0107,
        3000,
        vec![
            row(&[("hwsku", "Force10-S6000")]),
            row(&[
                ("../x", "1"),
                ("a|b", "1"),
                ("k", "$(id)"),
                ("snmp_enabled", "true"),
            ]),
            row(&[("k\nFEATURE|x", "v"), ("k", "v\u{1b}[2J"), ("", "")]),
            row(&[
                ("a/b/c", "1"),
                ("-a", "1"),
                ("a..b", "1"),
                (&"a".repeat(64), "1"),
            ]),
        ],
        Gen::label_row,
        |r| checks::labels(r),
    );
}

#[test]
fn hostile_command_lines() {
    for (i, bin) in BINARIES.into_iter().enumerate() {
        let words = bin.words();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let fixed: Vec<Vec<String>> = vec![
            vec![],
            strings(&["--help"]),
            strings(&["--no-such-option"]),
            strings(&["snmp\nFEATURE|x"]),
            strings(&["--config=a\nb"]),
            strings(&["\u{1b}[2J"]),
            strings(&["start", "../x"]),
            strings(&["config", "kubernetes", "label", "add", "k\nx", "v"]),
            strings(&["state", "snmp", "up", "kube", "--id", "x\ny"]),
            // Found by the argv fuzz target.
            strings(&["el\"", "", "", "", "\n ", "", "", "\u{b}er\n"]),
        ];
        let seed = 0x5eed_0110 + u64::try_from(i).unwrap_or(0);
        run(
            &format!("hostile-argv-{}", bin.name()),
            seed,
            600,
            fixed,
            |g| g.argv(&words),
            |argv| ctrmgr_hostile::cli::cli(bin, argv),
        );
    }
    // Every binary is there, and a word of each is known.
    assert!(Binary::SonicKube.words().contains(&"kubernetes".to_owned()));
    assert!(Binary::Container.words().contains(&"kill-all".to_owned()));
}
