//! sonic-utilities' groups accept an unambiguous prefix of a word (clicommon.AliasedGroup:
//! `show feature stat`); so does `sonic-kube`, at every depth, so that a plugin forwarding the
//! words one to one works with them too. An ambiguous prefix is a usage error.

use ctrmgr_dbclient::DbName;

use super::Switch;

#[tokio::test]
async fn unambiguous_prefixes_are_the_words_they_begin_and_ambiguous_ones_are_refused() {
    let sw = Switch::new().await;
    sw.set(
        DbName::ConfigDb,
        "FEATURE",
        "snmp",
        &[
            ("state", "enabled"),
            ("auto_restart", "enabled"),
            ("set_owner", "kube"),
        ],
    )
    .await;

    let full = sw.run(&["show", "feature", "status"]).await;
    let full = full.ok();
    assert!(full.starts_with("Feature"), "{full}");
    for words in [
        &["show", "feature", "stat"][..],
        &["sh", "feat", "status"],
        &["show", "f", "st"],
    ] {
        assert_eq!(sw.run(words).await.ok(), full, "{words:?}");
    }
    assert_eq!(
        sw.run(&["show", "kube", "server", "conf"]).await.ok(),
        "Kubernetes server is not configured\n"
    );

    // `config kube …`, the seed's own spelling, is `config kubernetes …`.
    let out = sw.run(&["conf", "kube", "serv", "ip", "10.3.157.24"]).await;
    assert_eq!(out.ok(), "");
    let out = sw.run(&["config", "feature", "fall", "snmp", "on"]).await;
    assert_eq!(out.ok(), "");
    let server = sw
        .row(DbName::ConfigDb, "KUBERNETES_MASTER", "SERVER")
        .await;
    assert_eq!(server.get("ip").map(String::as_str), Some("10.3.157.24"));
    let snmp = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        snmp.get("fallback_to_local").map(String::as_str),
        Some("true")
    );

    // Ambiguous: `s` (show, service), `kubernetes s` (server, status), `i` (ip, insecure).
    let before = sw.snapshot().await;
    for words in [
        &["s", "feature", "status"][..],
        &["show", "kubernetes", "s"],
        &["config", "kubernetes", "server", "i", "10.0.0.1"],
    ] {
        let out = sw.run(words).await;
        assert_eq!(out.code, Some(2), "{words:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{words:?}");
    }
    assert_eq!(sw.snapshot().await, before, "nothing written");
}
