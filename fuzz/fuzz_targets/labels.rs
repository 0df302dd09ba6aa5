//! Fuzz target: `ctrmgr_hostile::checks::labels` (the stable test calls the same function).
//! The input is a `KUBE_LABELS|SET` row: fields separated by NUL, a field's key and value by
//! byte 1.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let row: Vec<(String, String)> = text
            .split('\0')
            .map(|f| match f.split_once('\u{1}') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (f.to_owned(), String::new()),
            })
            .collect();
        ctrmgr_hostile::checks::labels(&row).assert_clean(&row);
    }
});
