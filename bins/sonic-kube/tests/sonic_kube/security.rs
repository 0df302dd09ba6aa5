//! Security checks as tests (issue 15, point 6), through the `sonic-kube` binary against the
//! fake API server over real TLS: tokens and keys never reach a log, at any level; the
//! master's certificate is verified unless `insecure`; hostile label keys are refused before
//! anything is written; hostile argv cannot add lines to a usage error.

use base64::Engine as _;

use super::join::Joinable;
use super::{NODE, Out, Switch};

/// Runs `sonic-kube <args>` with every log line at every level on stderr (`RUST_LOG=trace`).
async fn run_traced(sw: &Switch, args: &[&str]) -> Out {
    sw.run_logging(args, "trace").await
}

/// A client certificate and key, as kubeadm's admin.conf carries them: the base64 of each PEM,
/// and the PEM of the key.
fn client_identity() -> (String, String, String) {
    let id = rcgen::generate_simple_self_signed(vec!["kubernetes-admin".to_owned()])
        .expect("generate a client certificate");
    let key_pem = id.signing_key.serialize_pem();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    (b64(&id.cert.pem()), b64(&key_pem), key_pem)
}

#[tokio::test]
async fn tokens_and_keys_never_reach_the_logs_at_trace_level() {
    let j = Joinable::new().await;
    let sw = &j.sw;
    let token = sw.fixture.fake.token().to_owned();
    j.server(Some("127.0.0.1"), true, false).await;
    let mut logs = Vec::new();

    // A join: admin.conf (with the token) fetched, checked and written.
    let out = run_traced(sw, &["config", "kubernetes", "join"]).await;
    assert!(out.ok().contains("joined"), "{}", out.stderr);
    logs.push(out);

    // A label patch with the token and client key material in the kubeconfig.
    let (cert, key, key_pem) = client_identity();
    let kubeconfig = std::fs::read_to_string(&j.kubeconfig).expect("kubeconfig");
    assert!(kubeconfig.contains(&token));
    let with_key =
        format!("{kubeconfig}    client-certificate-data: {cert}\n    client-key-data: {key}\n");
    std::fs::write(&j.kubeconfig, &with_key).expect("kubeconfig with a key");
    let out = run_traced(sw, &["config", "kubernetes", "label", "add", "hwsku", "x1"]).await;
    assert!(out.ok().contains("applied"), "{}", out.stderr);
    logs.push(out);

    // A kubeconfig kube-rs cannot parse right at the token: the error is printed and logged.
    let broken = with_key.replace(
        &format!("token: {token}"),
        &format!("token:\n      - {token}"),
    );
    std::fs::write(&j.kubeconfig, &broken).expect("broken kubeconfig");
    let out = run_traced(sw, &["config", "kubernetes", "label", "add", "hwsku", "x2"]).await;
    assert!(out.ok().contains("queued"), "{}", out.stderr);
    logs.push(out);

    // The master refusing the token: the 401 is logged.
    let wrong = with_key.replace(&token, "fake-0000");
    std::fs::write(&j.kubeconfig, wrong).expect("kubeconfig with another token");
    let out = run_traced(sw, &["config", "kubernetes", "label", "drop", "hwsku"]).await;
    assert!(out.ok().contains("queued"), "{}", out.stderr);
    logs.push(out);

    let all: String = logs
        .iter()
        .map(|o| format!("{}\n{}", o.stdout, o.stderr))
        .collect();
    assert!(
        all.contains("TRACE") && all.contains("DEBUG"),
        "trace and debug lines were written"
    );
    let mut secrets = vec![token.clone(), cert, key];
    secrets.extend(
        key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_owned),
    );
    for s in &secrets {
        assert!(!all.contains(s.as_str()), "a secret in the logs: {s}");
    }
    // The token is not in the error lines either, even a prefix of it.
    assert!(
        !all.contains(&token[..16]),
        "a part of the token in the logs"
    );
}

#[tokio::test]
async fn the_masters_certificate_is_verified_unless_insecure() {
    // The join: admin.conf over TLS the switch cannot verify is refused, naming the cause.
    let j = Joinable::new().await;
    j.server(Some("127.0.0.1"), false, false).await;
    let out = j.sw.run(&["config", "kubernetes", "join"]).await;
    out.error("admin.conf");
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "names the certificate: {}",
        out.stderr
    );
    assert!(j.etc_files().is_empty(), "{:?}", j.etc_files());
    j.server(Some("127.0.0.1"), true, false).await;
    let out = j.sw.run(&["config", "kubernetes", "join"]).await;
    assert!(out.ok().contains("joined"), "{}", out.stderr);

    // A label patch: a kubeconfig without the master's CA does not reach the master …
    let sw = Switch::new().await;
    let yaml = sw.fixture.fake.kubeconfig_yaml();
    let without_ca: String = yaml
        .lines()
        .filter(|l| !l.trim_start().starts_with("certificate-authority-data:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without_ca, yaml);
    std::fs::write(&sw.fixture.kubeconfig, &without_ca).expect("kubeconfig");
    let out = sw
        .run(&["config", "kubernetes", "label", "add", "a", "1"])
        .await;
    let said = out.ok();
    assert!(
        said.contains("queued") && said.to_lowercase().contains("certificate"),
        "{said}"
    );
    let labels = sw.fixture.fake.node_labels(NODE).expect("node");
    assert!(!labels.contains_key("a"), "{labels:?}");
    assert_eq!(sw.fixture.fake.patch_count(NODE), 0);

    // … and one that says insecure-skip-tls-verify does.
    let insecure = without_ca.replace(
        "    server:",
        "    insecure-skip-tls-verify: true\n    server:",
    );
    std::fs::write(&sw.fixture.kubeconfig, insecure).expect("kubeconfig");
    let out = sw
        .run(&["config", "kubernetes", "label", "add", "b", "2"])
        .await;
    assert!(out.ok().contains("applied"), "{}", out.stdout);
    let labels = sw.fixture.fake.node_labels(NODE).expect("node");
    assert_eq!(
        labels.get("a").map(String::as_str),
        Some("1"),
        "drained first"
    );
    assert_eq!(labels.get("b").map(String::as_str), Some("2"));
}

/// Label keys and values that try path, Redis-key or shell injection are refused with one
/// line before anything is written: Redis, the node and systemd are untouched.
#[tokio::test]
async fn hostile_label_keys_and_values_are_refused_before_anything_is_written() {
    let sw = Switch::new().await;
    let before = sw.snapshot().await;
    let keys = [
        "../x",
        "a/../../b",
        "/etc/passwd",
        "a|b",
        "PENDING_LABELS|x",
        "*",
        "k\nFEATURE|x",
        "$(id)",
        "`id`",
        "a;reboot",
        "a b",
        "\u{1b}[2J",
        "k\0x",
    ];
    for key in keys {
        if key.contains('\0') {
            continue; // an argv cannot hold NUL
        }
        for args in [
            vec!["config", "kubernetes", "label", "add", "--", key, "v"],
            vec!["config", "kubernetes", "label", "drop", "--", key],
            vec!["config", "kubernetes", "label", "add", "k", key],
        ] {
            let out = sw.run(&args).await;
            out.error("label");
            assert!(
                !out.stderr.contains('\u{1b}'),
                "no raw escape: {:?}",
                out.stderr
            );
        }
    }
    assert_eq!(sw.snapshot().await, before);
    assert_eq!(sw.fixture.fake.patch_count(NODE), 0);
    assert!(sw.systemctl_calls().is_empty());
}

/// A hostile argument cannot add a line or a terminal escape to a usage error (exit 2).
#[tokio::test]
async fn a_usage_error_shows_a_hostile_argument_escaped() {
    let sw = Switch::new().await;
    let before = sw.snapshot().await;
    for args in [
        vec!["no-such\nerror: forged line"],
        vec!["config", "kubernetes", "\u{1b}[2Jx"],
        vec!["config", "kubernetes", "server", "insecure", "on\nx"],
    ] {
        let out = sw.run(&args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("error: "), "{first:?}");
        assert!(!out.stderr.contains("\nerror: forged"), "{}", out.stderr);
        assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
        assert_eq!(
            out.stderr
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{}",
            out.stderr
        );
    }
    assert_eq!(sw.snapshot().await, before);
}
