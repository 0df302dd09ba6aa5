//! Fuzz target: `ctrmgr_hostile::cli::cli` (the stable test calls the same function). The
//! first byte picks the binary; the rest is its argv, arguments separated by NUL (which an
//! argv cannot hold).
#![no_main]

use ctrmgr_hostile::cli::{BINARIES, cli};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let bin = BINARIES[usize::from(*first) % BINARIES.len()];
    if let Ok(text) = std::str::from_utf8(rest) {
        let argv: Vec<String> = if text.is_empty() {
            Vec::new()
        } else {
            text.split('\0').map(str::to_owned).collect()
        };
        cli(bin, &argv).assert_clean(&(bin, &argv));
    }
});
