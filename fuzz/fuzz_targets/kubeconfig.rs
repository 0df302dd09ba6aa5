//! Fuzz target: `ctrmgr_hostile::checks::kubeconfig` (the stable test calls the same function).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The file is read as UTF-8 (`read_to_string`): other bytes never reach the parser.
    if let Ok(text) = std::str::from_utf8(data) {
        ctrmgr_hostile::checks::kubeconfig(text).assert_clean(&text);
    }
});
