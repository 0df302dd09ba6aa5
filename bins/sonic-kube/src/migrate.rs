//! `migrate`: upstream's implicit default made explicit. Upstream sonic-ctrmgrd falls back to
//! the local image unless `no_fallback_to_local` says otherwise; this project reads an absent
//! `fallback_to_local` as `false`. So every CONFIG_DB `FEATURE` row with `set_owner=kube` and
//! neither field gets `fallback_to_local=true`: the behaviour the switch had stays.

use std::process::ExitCode;

use anyhow::Result;
use ctrmgr_core::codec;
use ctrmgr_dbclient::DbName;

use crate::Ctx;
use crate::table::natural_cmp;

pub(crate) async fn run(ctx: &Ctx) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let rows = db.rows(DbName::ConfigDb, codec::FEATURE_TABLE).await?;
    let mut names: Vec<&String> = rows.keys().collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    let mut changed = 0usize;
    for name in names {
        let Some(row) = rows.get(name) else { continue };
        // The rule is the codec's (shared with the decoder of the fallback).
        let Some((field, value)) = codec::upstream::migrate_write(row) else {
            continue;
        };
        // Written only if the row still is what was read: the owner and both fallback fields
        // exactly as they were (one Lua script).
        let expect: Vec<(&str, Option<&str>)> = [
            codec::SET_OWNER,
            codec::FALLBACK_TO_LOCAL,
            codec::upstream::NO_FALLBACK_TO_LOCAL,
        ]
        .into_iter()
        .map(|f| (f, row.get(f).map(String::as_str)))
        .collect();
        let wrote = db
            .set_fields_if(
                DbName::ConfigDb,
                codec::FEATURE_TABLE,
                name,
                &expect,
                &[(field, value.to_owned())],
            )
            .await?;
        if wrote {
            changed += 1;
            println!(
                "FEATURE|{name}: {field}={value} (set_owner=kube without a fallback field: upstream's default made explicit)"
            );
        } else {
            println!("FEATURE|{name}: changed while migrating; left as it now is");
        }
    }
    if changed == 0 {
        println!("nothing to migrate: CONFIG_DB is up to date");
    } else {
        println!("migrated {changed} FEATURE row(s)");
    }
    Ok(ExitCode::SUCCESS)
}
