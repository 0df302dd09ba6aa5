//! Fuzz target: `ctrmgr_hostile::checks::mountinfo` and `cgroup` (the stable test calls the
//! same functions).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        ctrmgr_hostile::checks::mountinfo(text).assert_clean(&text);
        ctrmgr_hostile::checks::cgroup(text).assert_clean(&text);
    }
});
