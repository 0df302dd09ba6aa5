//! Finding the id of the container this process runs in, for `container state <f> up|down`
//! called from inside a container: `/proc/self/mountinfo` first (Docker bind-mounts
//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` from `…/docker/containers/<id>/`,
//! which is also the only source under cgroup v2 with a private cgroup namespace),
//! then `/proc/self/cgroup` (cgroup v1 `…/docker/<id>`, systemd's `docker-<id>.scope`).

use std::path::Path;

use ctrmgr_core::ContainerId;

/// Where the kernel lists this process's mounts.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where the kernel lists this process's cgroups.
pub const CGROUP: &str = "/proc/self/cgroup";

/// Length of a full container id.
const ID_LEN: usize = 64;

fn is_hex_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The first full id that follows `marker` in `text` and whose remainder satisfies `end`.
fn id_after(text: &str, marker: &str, end: impl Fn(&str) -> bool) -> Option<String> {
    text.match_indices(marker).find_map(|(at, _)| {
        let rest = text.get(at + marker.len()..)?;
        let id = rest.get(..ID_LEN)?;
        let after = rest.get(ID_LEN..)?;
        (is_hex_id(id) && end(after)).then(|| id.to_owned())
    })
}

/// The container id in a `mountinfo` text: `/docker/containers/<64 hex>/` under Docker's
/// default data root, or `/containers/<64 hex>/` under another one (`--data-root`).
pub fn id_from_mountinfo(text: &str) -> Option<ContainerId> {
    id_after(text, "/docker/containers/", |a| a.starts_with('/'))
        .or_else(|| id_after(text, "/containers/", |a| a.starts_with('/')))
        .and_then(|id| ContainerId::new(&id).ok())
}

/// The container id in a `cgroup` text: `docker-<64 hex>.scope` (systemd driver, v1 or v2)
/// or `/docker/<64 hex>` ending a path or followed by `/` (cgroupfs driver).
pub fn id_from_cgroup(text: &str) -> Option<ContainerId> {
    id_after(text, "docker-", |a| a.starts_with(".scope"))
        .or_else(|| {
            text.lines()
                .find_map(|line| id_after(line, "/docker/", |a| a.is_empty() || a.starts_with('/')))
        })
        .and_then(|id| ContainerId::new(&id).ok())
}

/// This process's container id, from the two files (missing files count as no match):
/// the cgroup first, then the mounts. In a pod, the feature container joins its sandbox's
/// network namespace (`--network container:<sandbox>`), and Docker then bind-mounts the
/// sandbox's `hostname`, `hosts` and `resolv.conf`, so `mountinfo` names the sandbox; the
/// cgroup path, when it holds an id, is always the container's own (docs/decisions.md y1).
pub fn detect_in(mountinfo: &Path, cgroup: &Path) -> Option<ContainerId> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    id_from_cgroup(&read(cgroup)).or_else(|| id_from_mountinfo(&read(mountinfo)))
}

/// This process's container id, from [`MOUNTINFO`] and [`CGROUP`].
pub fn detect() -> Option<ContainerId> {
    detect_in(Path::new(MOUNTINFO), Path::new(CGROUP))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

    #[test]
    fn mountinfo_of_a_docker_container_names_its_id() {
        let text = format!(
            "1034 1010 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n\
             1050 1034 254:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             1051 1034 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(
            id_from_mountinfo(&text).map(String::from),
            Some(ID.to_owned())
        );
    }

    #[test]
    fn mountinfo_under_another_data_root_names_the_id() {
        let text = format!(
            "93 72 254:0 /srv/engine/data/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n"
        );
        assert_eq!(
            id_from_mountinfo(&text).map(String::from),
            Some(ID.to_owned())
        );
    }

    #[test]
    fn mountinfo_outside_a_container_names_nothing() {
        let text = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n\
                    24 22 254:1 /var/lib/docker/containers/short/hostname /x rw - ext4 /dev/vda1 rw\n";
        assert_eq!(id_from_mountinfo(text), None);
    }

    #[test]
    fn cgroup_v1_cgroupfs_paths_name_the_id() {
        let text = format!("12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n");
        assert_eq!(id_from_cgroup(&text).map(String::from), Some(ID.to_owned()));
    }

    #[test]
    fn cgroup_systemd_scopes_name_the_id() {
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(id_from_cgroup(&text).map(String::from), Some(ID.to_owned()));
    }

    #[test]
    fn a_host_cgroup_or_a_bad_id_names_nothing() {
        assert_eq!(
            id_from_cgroup("0::/user.slice/user-0.slice/session-1.scope\n"),
            None
        );
        assert_eq!(id_from_cgroup("0::/docker/notanid\n"), None);
        let upper = ID.to_ascii_uppercase();
        assert_eq!(id_from_cgroup(&format!("0::/docker/{upper}\n")), None);
        assert_eq!(id_from_cgroup(&format!("0::/docker-{ID}x.scope\n")), None);
    }

    /// Found by the end-to-end kubelet simulator: a pod's feature container sees its
    /// sandbox's files in `mountinfo` but its own id in the cgroup.
    #[test]
    fn in_a_pod_the_cgroup_wins_over_the_sandboxs_mounts() {
        const SANDBOX: &str = "3231fbdf11ffc872552bc92a9beefde0af37efe95d8bb2d45ea0a51e7c3ef5b6";
        let dir = tempfile::tempdir().expect("temp dir");
        let mountinfo = dir.path().join("mountinfo");
        let cgroup = dir.path().join("cgroup");
        std::fs::write(
            &mountinfo,
            format!("127 109 254:0 /var/lib/docker/containers/{SANDBOX}/hostname /etc/hostname rw - ext4 /dev/vda rw\n"),
        )
        .expect("write mountinfo");
        std::fs::write(&cgroup, format!("8:pids:/docker/{ID}\n0::/docker/{ID}\n"))
            .expect("write cgroup");
        assert_eq!(
            detect_in(&mountinfo, &cgroup).map(String::from),
            Some(ID.to_owned())
        );
        std::fs::write(&cgroup, "0::/\n").expect("write cgroup");
        assert_eq!(
            detect_in(&mountinfo, &cgroup).map(String::from),
            Some(SANDBOX.to_owned()),
            "a private cgroup namespace leaves only the mounts"
        );
    }

    #[test]
    fn missing_files_name_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            detect_in(&dir.path().join("mountinfo"), &dir.path().join("cgroup")),
            None
        );
    }
}
