//! `service remove`: stop what goes away, put every path and row back as the manifest says,
//! then delete the manifest and the directories install created.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use ctrmgr_core::FeatureName;
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::ports::Systemd as _;
use ctrmgr_dbclient::{DbName, SonicDb};

use super::Manifest;
use super::files::*;
use crate::Ctx;

/// Whether install created the path `rel` (nothing was there before).
fn created(manifest: &Manifest, rel: &str) -> bool {
    manifest.files.get(rel).is_some_and(|b| b.content.is_none())
}

/// Stops the service when its unit goes away, and the spec's instances when the template unit
/// goes away.
async fn stop_what_goes_away(ctx: &Ctx, f: &FeatureName, manifest: &Manifest) -> Result<()> {
    let mut units = Vec::new();
    if created(manifest, &format!("etc/systemd/system/{f}.service")) {
        units.push(f.as_str().to_owned());
    }
    if created(manifest, &format!("etc/systemd/system/{f}@.service")) {
        units.extend(manifest.spec.instances.iter().map(|i| format!("{f}@{i}")));
    }
    for unit in units {
        ctx.systemctl()
            .stop(&unit)
            .await
            .with_context(|| format!("cannot stop {unit} before removing its unit"))?;
    }
    Ok(())
}

/// Puts the feature's row and the instances' rows back (deleted when there was none).
async fn restore_rows(db: &SonicDb, f: &FeatureName, manifest: &Manifest) -> Result<()> {
    let rows = std::iter::once((f.as_str(), &manifest.row_before)).chain(
        manifest
            .instance_rows_before
            .iter()
            .map(|(inst, before)| (inst.as_str(), before)),
    );
    for (key, before) in rows {
        restore_row(db, key, before.as_ref()).await?;
    }
    Ok(())
}

async fn restore_row(db: &SonicDb, key: &str, before: Option<&Fields>) -> Result<()> {
    db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, key, before)
        .await?;
    println!(
        "restored CONFIG_DB FEATURE|{key}{}",
        if before.is_none() {
            " (deleted: there was none)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Deletes the manifest, then the directories install created, last first, when empty.
fn remove_manifest_and_dirs(root: &Path, f: &FeatureName, manifest: &Manifest) -> Result<()> {
    let mpath = safe_path(root, &manifest_rel(f.as_str()))?;
    std::fs::remove_file(&mpath).with_context(|| format!("cannot remove {}", mpath.display()))?;
    for d in manifest.created_dirs.iter().rev() {
        let p = safe_path(root, d)?;
        // Only if empty: something else may have been put there since.
        if let Err(e) = std::fs::remove_dir(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %p.display(), error = %e, "directory created by install kept");
        }
    }
    Ok(())
}

pub(super) async fn remove(ctx: &Ctx, feature: &str, root: &Path) -> Result<ExitCode> {
    let f = FeatureName::new(feature)?;
    let Some(manifest) = load_manifest(root, f.as_str())? else {
        bail!(
            "{f} was not installed by `sonic-kube service install` (no {})",
            safe_path(root, &manifest_rel(f.as_str()))?.display()
        );
    };
    let db = ctx.db().await?;
    stop_what_goes_away(ctx, &f, &manifest).await?;
    for (rel, before) in &manifest.files {
        restore(root, rel, before)?;
        println!("restored /{rel}");
    }
    restore_rows(&db, &f, &manifest).await?;
    remove_manifest_and_dirs(root, &f, &manifest)?;
    daemon_reload(ctx).await?;
    println!("{f}: removed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}
