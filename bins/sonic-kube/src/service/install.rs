//! `service install`: plan what the spec asks for, compare it with what is there, record what
//! is there in the manifest, then write the files and the rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_dbclient::{DbName, SonicDb};

use super::files::*;
use super::render::*;
use super::{Before, Manifest, Spec};
use crate::Ctx;

/// One instance's CONFIG_DB row: its feature, what it holds now, and what install leaves
/// (`None`: deleted).
type InstanceRow = (String, Fields, Option<Fields>);

/// The instances' rows: those of the spec (what each held before the first install that wrote
/// it is kept), and those of an earlier install that the spec no longer lists, which go back to
/// what they were.
struct InstanceRows {
    /// For each of the spec's instances, its row before the first install that wrote it.
    before: BTreeMap<String, Option<Fields>>,
    /// Every instance row install looks at.
    rows: Vec<InstanceRow>,
}

impl InstanceRows {
    async fn plan(db: &SonicDb, spec: &Spec, old: Option<&Manifest>) -> Result<Self> {
        let old_instances = old
            .map(|m| m.instance_rows_before.clone())
            .unwrap_or_default();
        let mut before = BTreeMap::new();
        let mut rows = Vec::new();
        for i in &spec.instances {
            let f = spec.instance_feature(i);
            let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, &f).await?;
            let was = match old_instances.get(&f) {
                Some(b) => b.clone(),
                None => Some(current.clone()).filter(|r| !r.is_empty()),
            };
            let want = planned_instance_row(spec, was.as_ref());
            before.insert(f.clone(), was);
            rows.push((f, current, Some(want)));
        }
        for (f, was) in &old_instances {
            if !before.contains_key(f) {
                let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, f).await?;
                rows.push((f.clone(), current, was.clone()));
            }
        }
        Ok(Self { before, rows })
    }

    /// The rows whose current content is not what install leaves.
    fn changed(&self) -> Vec<&InstanceRow> {
        self.rows
            .iter()
            .filter(|(_, current, want)| want.as_ref().unwrap_or(&Fields::new()) != current)
            .collect()
    }
}

/// Paths of an earlier install that the spec no longer has: they go back to what they were.
fn stale_files(old: Option<&Manifest>, planned: &[Planned]) -> Vec<(String, Before)> {
    old.map(|m| {
        m.files
            .iter()
            .filter(|(rel, _)| !planned.iter().any(|p| &p.rel == *rel))
            .map(|(r, b)| (r.clone(), b.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// The planned files whose path does not hold exactly that content and mode.
fn changed_files<'a>(root: &Path, planned: &'a [Planned]) -> Result<Vec<&'a Planned>> {
    let mut changed = Vec::new();
    for p in planned {
        if !same(&safe_path(root, &p.rel)?, &p.content, p.mode) {
            changed.push(p);
        }
    }
    Ok(changed)
}

/// The manifest, written before anything else changes, with what every path and row held
/// before, so that a failure part-way can still be removed.
fn record_manifest(
    root: &Path,
    old: Option<Manifest>,
    spec: &Spec,
    row_before: Option<Fields>,
    instances: &InstanceRows,
    planned: &[Planned],
) -> Result<Manifest> {
    let mut manifest = old.unwrap_or_else(|| Manifest {
        spec: spec.clone(),
        files: BTreeMap::new(),
        created_dirs: Vec::new(),
        row_before,
        instance_rows_before: BTreeMap::new(),
    });
    manifest.spec = spec.clone();
    // Rows the spec no longer lists stay in the manifest until they are restored.
    for (f, before) in &instances.before {
        manifest
            .instance_rows_before
            .entry(f.clone())
            .or_insert_with(|| before.clone());
    }
    make_dirs(root, &manifest_rel(&spec.name), &mut manifest.created_dirs)?;
    for p in planned {
        if !manifest.files.contains_key(&p.rel) {
            let before = read_before(&safe_path(root, &p.rel)?)?;
            manifest.files.insert(p.rel.clone(), before);
        }
    }
    for p in planned {
        make_dirs(root, &p.rel, &mut manifest.created_dirs)?;
    }
    save_manifest(root, &manifest)?;
    Ok(manifest)
}

/// Writes the changed files and puts the stale ones back (dropping them from the manifest).
fn write_files(
    root: &Path,
    changed: &[&Planned],
    stale: &[(String, Before)],
    manifest: &mut Manifest,
) -> Result<()> {
    for p in changed {
        write_atomic(&safe_path(root, &p.rel)?, &p.content, p.mode)?;
        println!("wrote /{}", p.rel);
    }
    for (rel, before) in stale {
        restore(root, rel, before)?;
        manifest.files.remove(rel);
        println!("restored /{rel}");
    }
    Ok(())
}

/// Writes the feature's row when it changes, then each changed instance row.
async fn write_rows(
    db: &SonicDb,
    spec: &Spec,
    row: (&Fields, &Fields),
    instances: &InstanceRows,
) -> Result<()> {
    let (row, current_row) = row;
    let owner = |f: &str| {
        println!(
            "wrote CONFIG_DB FEATURE|{f}: set_owner={} fallback_to_local={}",
            spec.set_owner,
            codec::bool_str(spec.fallback)
        );
    };
    if row != current_row {
        db.replace_row(
            DbName::ConfigDb,
            codec::FEATURE_TABLE,
            &spec.name,
            Some(row),
        )
        .await?;
        owner(&spec.name);
    }
    for (f, _, want) in instances.changed() {
        db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, f, want.as_ref())
            .await?;
        if instances.before.contains_key(f) {
            owner(f);
        } else {
            println!("restored CONFIG_DB FEATURE|{f}");
        }
    }
    Ok(())
}

pub(super) async fn install(ctx: &Ctx, spec_path: &Path, root: &Path) -> Result<ExitCode> {
    let spec = Spec::load(spec_path)?;
    let name = spec.name.clone();
    let planned = plan(&spec, &instance_requires(&spec, root))?;
    let db = ctx.db().await?;
    let current_row = db
        .row(DbName::ConfigDb, codec::FEATURE_TABLE, &name)
        .await?;
    let old = load_manifest(root, &name)?;
    let row_before = match &old {
        Some(m) => m.row_before.clone(),
        None => Some(current_row.clone()).filter(|r| !r.is_empty()),
    };
    let row = planned_row(&spec, row_before.as_ref());
    let instances = InstanceRows::plan(&db, &spec, old.as_ref()).await?;
    let stale = stale_files(old.as_ref(), &planned);
    let changed = changed_files(root, &planned)?;
    let spec_changed = old.as_ref().is_none_or(|m| m.spec != spec);
    if changed.is_empty()
        && stale.is_empty()
        && row == current_row
        && instances.changed().is_empty()
        && !spec_changed
    {
        println!("{name}: already installed as specified; nothing changed");
        return Ok(ExitCode::SUCCESS);
    }

    let mut manifest = record_manifest(root, old, &spec, row_before, &instances, &planned)?;
    write_files(root, &changed, &stale, &mut manifest)?;
    write_rows(&db, &spec, (&row, &current_row), &instances).await?;
    let dropped = manifest.instance_rows_before.len();
    manifest
        .instance_rows_before
        .retain(|f, _| instances.before.contains_key(f));
    if !stale.is_empty() || dropped != manifest.instance_rows_before.len() {
        save_manifest(root, &manifest)?;
    }
    daemon_reload(ctx).await?;
    println!("{name}: installed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}
