//! The test image's root file system (no engine needed).

use ctrmgr_dockerclient::testing::{APPLETS, BUSYBOX, busybox_rootfs};

#[test]
fn the_test_rootfs_holds_busybox_and_a_link_per_applet() {
    let tar = busybox_rootfs().expect("busybox-static is installed");
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut busybox_size = None;
    let mut links = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("an entry");
        let path = entry.path().expect("a path").display().to_string();
        let header = entry.header();
        if path == "bin/busybox" {
            assert_eq!(header.mode().expect("a mode") & 0o777, 0o755);
            busybox_size = Some(header.size().expect("a size"));
        }
        if header.entry_type().is_symlink() {
            let target = entry.link_name().expect("a link").expect("a target");
            assert_eq!(target.display().to_string(), "busybox", "{path}");
            links.push(path);
        }
    }
    let expected_size = std::fs::metadata(BUSYBOX).expect("busybox").len();
    assert_eq!(busybox_size, Some(expected_size));
    let expected: Vec<String> = APPLETS.iter().map(|a| format!("bin/{a}")).collect();
    assert_eq!(links, expected);
}
