//! What install writes: the unit, the script, the drop-ins and the FEATURE rows, rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, Result};
use ctrmgr_core::codec::{self, Fields};
use minijinja::{Environment, UndefinedBehavior, context, syntax::SyntaxConfig};

use super::*;

pub(super) fn render(name: &str, source: &str, ctx: minijinja::Value) -> Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .context("template syntax")?,
    );
    env.add_template(name, source)
        .with_context(|| format!("template {name}"))?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .with_context(|| format!("cannot render {name}"))
}

/// One file install writes.
pub(super) struct Planned {
    pub(super) rel: String,
    pub(super) content: Vec<u8>,
    pub(super) mode: u32,
}

/// Where systemd finds units, below the root.
pub(super) const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "lib/systemd/system",
    "usr/lib/systemd/system",
];

/// The units of `requires` that are templates themselves (`<unit>@.service` below the root):
/// the template unit requires their instance of the same name (`<unit>@%i.service`), as
/// upstream's `per_namespace` units require `database@%i.service`.
pub(super) fn instance_requires(spec: &Spec, root: &Path) -> BTreeSet<String> {
    if !spec.multi_instance {
        return BTreeSet::new();
    }
    spec.requires
        .iter()
        .filter(|u| {
            UNIT_DIRS
                .iter()
                .any(|d| safe_path(root, &format!("{d}/{u}@.service")).is_ok_and(|p| p.is_file()))
        })
        .cloned()
        .collect()
}

/// Every file install writes for `spec`, in order: the unit (and its template), the script,
/// the dependents' drop-ins and the reboot hooks.
pub(super) fn plan(spec: &Spec, instance_requires: &BTreeSet<String>) -> Result<Vec<Planned>> {
    let mut out = plan_units(spec, instance_requires)?;
    out.push(plan_script(spec)?);
    out.extend(plan_dropins(spec)?);
    out.extend(plan_hooks(spec)?);
    Ok(out)
}

/// The unit, and for a multi-instance feature its template unit too.
fn plan_units(spec: &Spec, instance_requires: &BTreeSet<String>) -> Result<Vec<Planned>> {
    let name = &spec.name;
    let mut unit_ctx = BTreeMap::new();
    unit_ctx.insert("name", minijinja::Value::from(name.as_str()));
    unit_ctx.insert("requires", minijinja::Value::from(spec.requires.clone()));
    if let Some(d) = &spec.description {
        unit_ctx.insert("description", minijinja::Value::from(d.as_str()));
    }
    unit_ctx.insert(
        "user",
        minijinja::Value::from(spec.user.as_deref().unwrap_or("root")),
    );
    if let Some(t) = spec.stop_timeout {
        unit_ctx.insert("stop_timeout", minijinja::Value::from(t));
    }
    unit_ctx.insert(
        "instance_requires",
        minijinja::Value::from(instance_requires.iter().cloned().collect::<Vec<String>>()),
    );
    // As sonic-buildimage's slave.mk renders a per_namespace template twice: `<name>.service`
    // (multi_instance false: the host's instance) and `<name>@.service` (true).
    let variants: &[bool] = if spec.multi_instance {
        &[false, true]
    } else {
        &[false]
    };
    let mut out = Vec::new();
    for &multi in variants {
        unit_ctx.insert("multi_instance", minijinja::Value::from(multi));
        out.push(Planned {
            rel: format!(
                "etc/systemd/system/{name}{}.service",
                if multi { "@" } else { "" }
            ),
            content: render(
                "feature.service.j2",
                UNIT_TEMPLATE,
                minijinja::Value::from(unit_ctx.clone()),
            )?
            .into_bytes(),
            mode: 0o644,
        });
    }
    Ok(out)
}

/// The feature's script, `/usr/local/bin/<name>.sh`.
fn plan_script(spec: &Spec) -> Result<Planned> {
    let name = &spec.name;
    Ok(Planned {
        rel: format!("usr/local/bin/{name}.sh"),
        content: render(
            "feature.sh.j2",
            SCRIPT_TEMPLATE,
            context! {
                name => name,
                multi_instance => spec.multi_instance,
                local_image => spec.local_image.clone().unwrap_or_default(),
                docker_create_args => &spec.docker_create_args,
                pre_start => &spec.pre_start,
                post_start => &spec.post_start,
                pre_stop => &spec.pre_stop,
                post_stop => &spec.post_stop,
            },
        )?
        .into_bytes(),
        mode: 0o755,
    })
}

/// One drop-in for each unit of `required_by`.
fn plan_dropins(spec: &Spec) -> Result<Vec<Planned>> {
    let name = &spec.name;
    let mut out = Vec::new();
    for dep in &spec.required_by {
        out.push(Planned {
            rel: format!("etc/systemd/system/{dep}.service.d/ctrmgr-{name}.conf"),
            content: render(
                "feature-dependent.conf.j2",
                DROPIN_TEMPLATE,
                context! { name => name, dependent => dep },
            )?
            .into_bytes(),
            mode: 0o644,
        });
    }
    Ok(out)
}

/// The warm and fast reboot hooks, each only when the spec has lines for it.
fn plan_hooks(spec: &Spec) -> Result<Vec<Planned>> {
    let name = &spec.name;
    let mut out = Vec::new();
    for (kind, lines) in [("warm", &spec.warm_reboot), ("fast", &spec.fast_reboot)] {
        if lines.is_empty() {
            continue;
        }
        out.push(Planned {
            rel: format!("etc/sonic/ctrmgr/reboot.d/{kind}/{name}.sh"),
            content: render(
                "reboot-hook.sh.j2",
                HOOK_TEMPLATE,
                context! { name => name, kind => kind, lines => lines },
            )?
            .into_bytes(),
            mode: 0o755,
        });
    }
    Ok(out)
}

/// CONFIG_DB `FEATURE|<f>` `has_per_asic_scope`: featured starts `<f>@<n>.service` for each
/// ASIC namespace when it is `True` (sonic-host-services `scripts/featured`).
pub(super) const HAS_PER_ASIC_SCOPE: &str = "has_per_asic_scope";

/// The FEATURE row install leaves: the row before, with the spec's owner and fallback (both
/// spellings), and SONiC's `state`/`auto_restart` when the row had none; `has_per_asic_scope`
/// `True` for a multi-instance feature.
pub(super) fn planned_row(spec: &Spec, before: Option<&Fields>) -> Fields {
    let mut row = before.cloned().unwrap_or_default();
    row.entry(codec::FEATURE_STATE.to_owned())
        .or_insert_with(|| "enabled".to_owned());
    row.entry("auto_restart".to_owned())
        .or_insert_with(|| "enabled".to_owned());
    if spec.multi_instance {
        row.insert(HAS_PER_ASIC_SCOPE.to_owned(), "True".to_owned());
    }
    owner_fields(spec, row)
}

/// The row of an instance `<name><instance>` install leaves: the row before with the spec's
/// owner and fallback only. No `state`: featured would start a unit `<name><instance>.service`,
/// which does not exist; the instance runs as `<name>@<instance>.service`.
pub(super) fn planned_instance_row(spec: &Spec, before: Option<&Fields>) -> Fields {
    owner_fields(spec, before.cloned().unwrap_or_default())
}

pub(super) fn owner_fields(spec: &Spec, mut row: Fields) -> Fields {
    row.insert(codec::SET_OWNER.to_owned(), spec.set_owner.clone());
    row.insert(
        codec::FALLBACK_TO_LOCAL.to_owned(),
        codec::bool_str(spec.fallback).to_owned(),
    );
    row.insert(
        codec::upstream::NO_FALLBACK_TO_LOCAL.to_owned(),
        codec::bool_str(!spec.fallback).to_owned(),
    );
    row
}
