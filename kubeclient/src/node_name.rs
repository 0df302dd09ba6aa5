//! This switch's Kubernetes node name (DESIGN.md §6).

use std::path::Path;

use ctrmgr_core::DeviceMetadata;

use crate::Error;

/// Where Linux exposes the system hostname; read directly, so no process is spawned.
pub const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// The node name: `DEVICE_METADATA|localhost` `hostname` lower-cased, else the system hostname
/// (from [`HOSTNAME_FILE`]) lower-cased.
pub fn node_name(meta: &DeviceMetadata) -> Result<String, Error> {
    node_name_with(meta, Path::new(HOSTNAME_FILE))
}

/// [`node_name`] with the hostname file given (for tests and unusual systems).
pub fn node_name_with(meta: &DeviceMetadata, hostname_file: &Path) -> Result<String, Error> {
    if let Some(name) = meta.node_name() {
        return Ok(name);
    }
    let text = std::fs::read_to_string(hostname_file).map_err(|source| Error::Hostname {
        path: hostname_file.to_path_buf(),
        source,
    })?;
    let name = text.trim();
    if name.is_empty() {
        return Err(Error::NoNodeName {
            path: hostname_file.to_path_buf(),
        });
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_metadata_hostname_wins_and_is_lower_cased() {
        let meta = DeviceMetadata {
            hostname: Some("Sonic-ToR-01".into()),
            ..DeviceMetadata::default()
        };
        let name =
            node_name_with(&meta, Path::new("/nonexistent/hostname")).expect("metadata has it");
        assert_eq!(name, "sonic-tor-01");
    }

    #[test]
    fn system_hostname_is_used_when_metadata_has_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hostname");
        std::fs::write(&file, "Switch-7\n").expect("write hostname");
        let name = node_name_with(&DeviceMetadata::default(), &file).expect("file has it");
        assert_eq!(name, "switch-7");
    }

    #[test]
    fn an_empty_system_hostname_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hostname");
        std::fs::write(&file, "\n").expect("write hostname");
        let err = node_name_with(&DeviceMetadata::default(), &file).expect_err("empty");
        assert!(err.to_string().contains("hostname"), "{err}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
}
