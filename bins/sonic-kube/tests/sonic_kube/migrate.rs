//! `migrate`: `fallback_to_local=true` on set_owner=kube rows with no fallback field; nothing
//! else changes, and a second run changes nothing.

use ctrmgr_dbclient::DbName;

use super::Switch;

#[tokio::test]
async fn kube_rows_without_a_fallback_field_get_fallback_to_local_true_once() {
    let sw = Switch::new().await;
    for (name, fields) in [
        ("snmp", &[("state", "enabled"), ("set_owner", "kube")][..]),
        ("lldp", &[("set_owner", "KUBE")]),
        (
            "pmon",
            &[("set_owner", "kube"), ("fallback_to_local", "false")],
        ),
        (
            "radv",
            &[("set_owner", "kube"), ("no_fallback_to_local", "true")],
        ),
        ("bgp", &[("set_owner", "local")]),
        ("swss", &[("state", "enabled")]),
    ] {
        sw.set(DbName::ConfigDb, "FEATURE", name, fields).await;
    }
    let before = sw.snapshot().await;
    let out = sw.run(&["migrate"]).await;
    assert_eq!(
        out.ok(),
        "FEATURE|lldp: fallback_to_local=true (set_owner=kube without a fallback field: upstream's default made explicit)\n\
         FEATURE|snmp: fallback_to_local=true (set_owner=kube without a fallback field: upstream's default made explicit)\n\
         migrated 2 FEATURE row(s)\n"
    );
    let after = sw.snapshot().await;
    let mut want = before.clone();
    for f in ["lldp", "snmp"] {
        want.get_mut(&format!("CONFIG_DB:FEATURE|{f}"))
            .expect("row")
            .insert("fallback_to_local".to_owned(), "true".to_owned());
    }
    assert_eq!(after, want);

    let out = sw.run(&["migrate"]).await;
    assert_eq!(out.ok(), "nothing to migrate: CONFIG_DB is up to date\n");
    assert_eq!(sw.snapshot().await, want);
}
