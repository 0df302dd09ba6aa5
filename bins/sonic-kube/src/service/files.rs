//! The file tree under `--root`: paths kept inside it, files written atomically and restored,
//! the manifest of what install changed.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;

use crate::Ctx;

use super::*;

/// `root/rel`, refusing any symbolic link from the root down (the root itself may be one).
pub(super) fn safe_path(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for part in Path::new(rel).components() {
        let std::path::Component::Normal(part) = part else {
            bail!("path {rel:?} is not a plain relative path");
        };
        p.push(part);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "{} is a symbolic link: refusing to write through it",
                p.display()
            );
        }
    }
    Ok(p)
}

pub(super) fn read_before(path: &Path) -> Result<Before> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)
                .with_context(|| format!("cannot stat {}", path.display()))?
                .permissions()
                .mode()
                & 0o7777;
            Ok(Before {
                content: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                mode: Some(mode),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Before {
            content: None,
            mode: None,
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Whether `path` holds exactly `content` with `mode`.
pub(super) fn same(path: &Path, content: &[u8], mode: u32) -> bool {
    std::fs::read(path).is_ok_and(|c| c == content)
        && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

/// Creates the missing directories of `rel`'s parent, appending each one created to `created`.
pub(super) fn make_dirs(root: &Path, rel: &str, created: &mut Vec<String>) -> Result<()> {
    let parent = Path::new(rel).parent().unwrap_or(Path::new(""));
    let mut sofar = PathBuf::new();
    for part in parent.components() {
        sofar.push(part);
        let rel_dir = sofar.to_string_lossy().into_owned();
        let p = safe_path(root, &rel_dir)?;
        if !p.exists() {
            std::fs::create_dir(&p).with_context(|| format!("cannot create {}", p.display()))?;
            created.push(rel_dir);
        }
    }
    Ok(())
}

/// Writes `content` with `mode` to `path` atomically: a temporary file in the same directory,
/// renamed over it (removed again on failure). Whatever holds the temporary file's name
/// already (a file left by a crash, or a symbolic link planted to make install write outside
/// its root) is removed, never written through, and the new file is created exclusively
/// (`O_EXCL` does not follow a link either).
pub(super) fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.sonic-kube.tmp"));
    let result = (|| -> std::io::Result<()> {
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(content)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Puts `rel` back as it was.
pub(super) fn restore(root: &Path, rel: &str, before: &Before) -> Result<()> {
    let path = safe_path(root, rel)?;
    match (&before.content, before.mode) {
        (Some(c), mode) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(c)
                .with_context(|| format!("the manifest's copy of {rel} is not base64"))?;
            write_atomic(&path, &bytes, mode.unwrap_or(0o644))
        }
        (None, _) => match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        },
    }
}

pub(super) fn manifest_rel(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}.json")
}

pub(super) fn load_manifest(root: &Path, name: &str) -> Result<Option<Manifest>> {
    let path = safe_path(root, &manifest_rel(name))?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("corrupt manifest {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub(super) fn save_manifest(root: &Path, m: &Manifest) -> Result<()> {
    let rel = manifest_rel(&m.spec.name);
    let path = safe_path(root, &rel)?;
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    write_atomic(&path, text.as_bytes(), 0o644)
}

/// `systemctl daemon-reload` (argv, no shell).
pub(super) async fn daemon_reload(ctx: &Ctx) -> Result<()> {
    let program = &ctx.tunables.systemctl;
    let out = tokio::process::Command::new(program)
        .arg("daemon-reload")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {} daemon-reload", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} daemon-reload failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
