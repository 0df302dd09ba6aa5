//! `service install | remove | list` (the seed's "Service install for kube managed features",
//! Proposal 2). From a JSON spec, `install` renders with minijinja, from `packaging/templates/`:
//! the unit `/etc/systemd/system/<name>.service`, the script `/usr/local/bin/<name>.sh`, a
//! drop-in `/etc/systemd/system/<dependent>.service.d/ctrmgr-<name>.conf` for each unit that
//! depends on the feature, and the reboot hooks `/etc/sonic/ctrmgr/reboot.d/{warm,fast}/<name>.sh`;
//! it writes CONFIG_DB `FEATURE|<name>` and runs `systemctl daemon-reload`.
//!
//! Before it changes anything it writes a manifest, `/var/lib/ctrmgr/services/<name>.json`,
//! holding what each path and the row were before (content and mode, or absent) and which
//! directories it created; `remove` puts all of it back, byte for byte, and deletes the
//! manifest and those directories. A second `install` of the same spec changes nothing and
//! says so; an `install` of a changed spec updates the files and keeps the original "before".
//!
//! A spec with `multi_instance` (sonic-buildimage's `per_namespace` templates and their
//! `multi_instance` variable) also gets the template unit `/etc/systemd/system/<name>@.service`,
//! whose `ExecStartPre`/`ExecStart`/`ExecStop` pass `%i` to the script; the script then acts on
//! the container `<name><instance>` (docker_image_ctl.j2's `$DOCKERNAME$DEV`). For each of the
//! spec's `instances`, install writes the row `FEATURE|<name><instance>` as well, so that
//! `container` runs that instance as the spec says (an instance without a row runs its local
//! container, decisions u3).
//!
//! Every name is a validated feature name (`[a-z0-9][a-z0-9_-]{0,31}`) and every path is built
//! from fixed directories and such names, below `--root`; a symbolic link on the way is refused,
//! so nothing is written outside the root.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use ctrmgr_core::FeatureName;
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_dbclient::DbName;
use serde::{Deserialize, Serialize};

use crate::Ctx;
use crate::cli::ServiceCommand;
use crate::table::Table;

mod files;
mod render;
mod spec;

use files::*;
use render::*;
pub use spec::spec_paths;

const UNIT_TEMPLATE: &str = include_str!("../../../packaging/templates/feature.service.j2");
const SCRIPT_TEMPLATE: &str = include_str!("../../../packaging/templates/feature.sh.j2");
const DROPIN_TEMPLATE: &str =
    include_str!("../../../packaging/templates/feature-dependent.conf.j2");
const HOOK_TEMPLATE: &str = include_str!("../../../packaging/templates/reboot-hook.sh.j2");

/// Where the manifests live, below the root.
const MANIFEST_DIR: &str = "var/lib/ctrmgr/services";

/// What `service install` reads: one feature's service, as the seed's Proposal 2 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// The feature: `[a-z0-9][a-z0-9_-]{0,31}`.
    name: String,
    /// The unit's Description (default "`<name> container`").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Units this one requires and starts after.
    #[serde(default)]
    requires: Vec<String>,
    /// Units that require this one (each gets a drop-in).
    #[serde(default)]
    required_by: Vec<String>,
    /// The local image, or none for a kube-only feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local_image: Option<String>,
    /// Arguments of `docker create` for the local container.
    #[serde(default)]
    docker_create_args: String,
    /// Shell lines run on the host before the container starts.
    #[serde(default)]
    pre_start: Vec<String>,
    /// Shell lines run after the container started.
    #[serde(default)]
    post_start: Vec<String>,
    /// Shell lines run before the container stops.
    #[serde(default)]
    pre_stop: Vec<String>,
    /// Shell lines run after the container stopped.
    #[serde(default)]
    post_stop: Vec<String>,
    /// Shell lines that prepare the feature for a warm reboot.
    #[serde(default)]
    warm_reboot: Vec<String>,
    /// Shell lines that prepare the feature for a fast reboot.
    #[serde(default)]
    fast_reboot: Vec<String>,
    /// `local` or `kube` (default kube: the seed's phase 1 is kube-only features).
    #[serde(default = "default_owner")]
    set_owner: String,
    /// `fallback_to_local` (default false).
    #[serde(default)]
    fallback: bool,
    /// The unit's `User=` (default root), as SONiC's own units (telemetry, pmon and lldp run as
    /// admin): `[a-z_][a-z0-9_-]{0,31}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// The unit's `TimeoutStopSec=`, seconds (default: systemd's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_timeout: Option<u32>,
    /// Also render the template unit `<name>@.service` (one instance per ASIC namespace or
    /// DPU, started by featured as `<name>@<n>.service`), as sonic-buildimage does for the
    /// templates in `per_namespace/` (`multi_instance == 'true'`); default false. The FEATURE
    /// row gets `has_per_asic_scope=True`.
    #[serde(default, skip_serializing_if = "is_false")]
    multi_instance: bool,
    /// With `multi_instance`: the instances (`0`, `1`, …, `dpu0`: `[a-z0-9]{1,8}`) whose
    /// container `<name><instance>` runs as this spec says; each gets its own FEATURE row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    instances: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_owner() -> String {
    codec::OWNER_KUBE.to_owned()
}

/// What a path held before install: its bytes (base64) and mode, or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Before {
    content: Option<String>,
    mode: Option<u32>,
}

/// `/var/lib/ctrmgr/services/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    spec: Spec,
    /// Every path install wrote (relative to the root), with what it held before.
    files: BTreeMap<String, Before>,
    /// Directories install created, in creation order (relative to the root).
    created_dirs: Vec<String>,
    /// CONFIG_DB `FEATURE|<name>` before install; `None` when there was no row.
    row_before: Option<Fields>,
    /// CONFIG_DB `FEATURE|<name><instance>` before install, for each instance install wrote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    instance_rows_before: BTreeMap<String, Option<Fields>>,
}

pub(crate) async fn run(ctx: &Ctx, cmd: ServiceCommand) -> Result<ExitCode> {
    match cmd {
        ServiceCommand::Install { spec, root } => install(ctx, &spec, &root.root).await,
        ServiceCommand::Remove { feature, root } => remove(ctx, &feature, &root.root).await,
        ServiceCommand::List { root, json } => list(&root.root, json),
    }
}

// ---- the commands ---------------------------------------------------------------------------

async fn install(ctx: &Ctx, spec_path: &Path, root: &Path) -> Result<ExitCode> {
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

    // The instances' rows: those of the spec (what each held before the first install that
    // wrote it is kept), and those of an earlier install that the spec no longer lists, which
    // go back to what they were.
    let old_instances = old
        .as_ref()
        .map(|m| m.instance_rows_before.clone())
        .unwrap_or_default();
    let mut instance_rows_before = BTreeMap::new();
    // (feature, current row, row to leave or `None` to delete)
    let mut instance_rows: Vec<(String, Fields, Option<Fields>)> = Vec::new();
    for i in &spec.instances {
        let f = spec.instance_feature(i);
        let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, &f).await?;
        let before = match old_instances.get(&f) {
            Some(b) => b.clone(),
            None => Some(current.clone()).filter(|r| !r.is_empty()),
        };
        let want = planned_instance_row(&spec, before.as_ref());
        instance_rows_before.insert(f.clone(), before);
        instance_rows.push((f, current, Some(want)));
    }
    for (f, before) in &old_instances {
        if !instance_rows_before.contains_key(f) {
            let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, f).await?;
            instance_rows.push((f.clone(), current, before.clone()));
        }
    }
    let changed_rows: Vec<&(String, Fields, Option<Fields>)> = instance_rows
        .iter()
        .filter(|(_, current, want)| want.as_ref().unwrap_or(&Fields::new()) != current)
        .collect();

    // Paths of an earlier install that this spec no longer has go back to what they were.
    let stale: Vec<(String, Before)> = old
        .as_ref()
        .map(|m| {
            m.files
                .iter()
                .filter(|(rel, _)| !planned.iter().any(|p| &p.rel == *rel))
                .map(|(r, b)| (r.clone(), b.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut changed_files = Vec::new();
    for p in &planned {
        let path = safe_path(root, &p.rel)?;
        if !same(&path, &p.content, p.mode) {
            changed_files.push(p);
        }
    }
    let spec_changed = old.as_ref().is_none_or(|m| m.spec != spec);
    if changed_files.is_empty()
        && stale.is_empty()
        && row == current_row
        && changed_rows.is_empty()
        && !spec_changed
    {
        println!("{name}: already installed as specified; nothing changed");
        return Ok(ExitCode::SUCCESS);
    }

    // The manifest first, with what every path and row held before, so that a failure
    // part-way can still be removed.
    let mut manifest = old.unwrap_or_else(|| Manifest {
        spec: spec.clone(),
        files: BTreeMap::new(),
        created_dirs: Vec::new(),
        row_before: row_before.clone(),
        instance_rows_before: BTreeMap::new(),
    });
    manifest.spec = spec.clone();
    // Rows the spec no longer lists stay in the manifest until they are restored below.
    for (f, before) in &instance_rows_before {
        manifest
            .instance_rows_before
            .entry(f.clone())
            .or_insert_with(|| before.clone());
    }
    make_dirs(root, &manifest_rel(&name), &mut manifest.created_dirs)?;
    for p in &planned {
        if !manifest.files.contains_key(&p.rel) {
            let before = read_before(&safe_path(root, &p.rel)?)?;
            manifest.files.insert(p.rel.clone(), before);
        }
    }
    for p in &planned {
        make_dirs(root, &p.rel, &mut manifest.created_dirs)?;
    }
    save_manifest(root, &manifest)?;

    for p in &changed_files {
        write_atomic(&safe_path(root, &p.rel)?, &p.content, p.mode)?;
        println!("wrote /{}", p.rel);
    }
    for (rel, before) in &stale {
        restore(root, rel, before)?;
        manifest.files.remove(rel);
        println!("restored /{rel}");
    }
    if row != current_row {
        db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, &name, Some(&row))
            .await?;
        println!(
            "wrote CONFIG_DB FEATURE|{name}: set_owner={} fallback_to_local={}",
            spec.set_owner,
            codec::bool_str(spec.fallback)
        );
    }
    for (f, _, want) in &changed_rows {
        db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, f, want.as_ref())
            .await?;
        if instance_rows_before.contains_key(f) {
            println!(
                "wrote CONFIG_DB FEATURE|{f}: set_owner={} fallback_to_local={}",
                spec.set_owner,
                codec::bool_str(spec.fallback)
            );
        } else {
            println!("restored CONFIG_DB FEATURE|{f}");
        }
    }
    let dropped = manifest.instance_rows_before.len();
    manifest
        .instance_rows_before
        .retain(|f, _| instance_rows_before.contains_key(f));
    if !stale.is_empty() || dropped != manifest.instance_rows_before.len() {
        save_manifest(root, &manifest)?;
    }
    daemon_reload(ctx).await?;
    println!("{name}: installed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}

async fn remove(ctx: &Ctx, feature: &str, root: &Path) -> Result<ExitCode> {
    let f = FeatureName::new(feature)?;
    let Some(manifest) = load_manifest(root, f.as_str())? else {
        bail!(
            "{f} was not installed by `sonic-kube service install` (no {})",
            safe_path(root, &manifest_rel(f.as_str()))?.display()
        );
    };
    let db = ctx.db().await?;
    let unit_rel = format!("etc/systemd/system/{f}.service");
    if manifest
        .files
        .get(&unit_rel)
        .is_some_and(|b| b.content.is_none())
    {
        // The unit goes away: stop the service it defines first.
        use ctrmgr_core::ports::Systemd as _;
        ctx.systemctl()
            .stop(f.as_str())
            .await
            .with_context(|| format!("cannot stop {f} before removing its unit"))?;
    }
    let template_rel = format!("etc/systemd/system/{f}@.service");
    if manifest
        .files
        .get(&template_rel)
        .is_some_and(|b| b.content.is_none())
    {
        // The template goes away: stop the spec's instances first.
        use ctrmgr_core::ports::Systemd as _;
        for i in &manifest.spec.instances {
            let unit = format!("{f}@{i}");
            ctx.systemctl()
                .stop(&unit)
                .await
                .with_context(|| format!("cannot stop {unit} before removing its unit"))?;
        }
    }
    for (rel, before) in &manifest.files {
        restore(root, rel, before)?;
        println!("restored /{rel}");
    }
    db.replace_row(
        DbName::ConfigDb,
        codec::FEATURE_TABLE,
        f.as_str(),
        manifest.row_before.as_ref(),
    )
    .await?;
    println!(
        "restored CONFIG_DB FEATURE|{f}{}",
        if manifest.row_before.is_none() {
            " (deleted: there was none)"
        } else {
            ""
        }
    );
    for (inst, before) in &manifest.instance_rows_before {
        db.replace_row(
            DbName::ConfigDb,
            codec::FEATURE_TABLE,
            inst,
            before.as_ref(),
        )
        .await?;
        println!(
            "restored CONFIG_DB FEATURE|{inst}{}",
            if before.is_none() {
                " (deleted: there was none)"
            } else {
                ""
            }
        );
    }
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
    daemon_reload(ctx).await?;
    println!("{f}: removed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}

fn list(root: &Path, json: bool) -> Result<ExitCode> {
    let dir = safe_path(root, MANIFEST_DIR)?;
    let mut manifests = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for e in entries {
                let p = e
                    .with_context(|| format!("cannot read {}", dir.display()))?
                    .path();
                let Some(stem) = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                if FeatureName::new(stem).is_err() {
                    continue;
                }
                if let Some(m) = load_manifest(root, stem)? {
                    manifests.push(m);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
    manifests.sort_by(|a, b| crate::table::natural_cmp(&a.spec.name, &b.spec.name));
    if json {
        let specs: Vec<&Spec> = manifests.iter().map(|m| &m.spec).collect();
        println!("{}", serde_json::to_string_pretty(&specs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new([
        "Feature",
        "SetOwner",
        "Fallback",
        "LocalImage",
        "Requires",
        "RequiredBy",
        "RebootHooks",
    ]);
    for m in &manifests {
        let s = &m.spec;
        let hooks: Vec<&str> = [("warm", &s.warm_reboot), ("fast", &s.fast_reboot)]
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(k, _)| k)
            .collect();
        t.row([
            s.name.clone(),
            s.set_owner.clone(),
            codec::bool_str(s.fallback).to_owned(),
            s.local_image.clone().unwrap_or_default(),
            s.requires.join(","),
            s.required_by.join(","),
            hooks.join(","),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
