//! Unit files as the simulator reads them: sections, durations, Exec lines, specifiers.

use std::collections::BTreeMap;

use super::*;

/// A parsed unit: `section.key` → its values in order.
#[derive(Debug, Clone, Default)]
pub(super) struct UnitDef {
    keys: BTreeMap<String, Vec<String>>,
}

impl UnitDef {
    pub(super) fn parse_into(&mut self, text: &str) {
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let full = format!("{pending}{line}");
            pending.clear();
            let line = full.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                s.clone_into(&mut section);
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let key = format!("{section}.{}", k.trim());
            let v = v.trim();
            let list = self.keys.entry(key).or_default();
            if v.is_empty() {
                list.clear();
            } else {
                list.push(v.to_owned());
            }
        }
    }

    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.keys.get(key).cloned().unwrap_or_default()
    }

    /// Space-separated lists (`Requires=a b`), every assignment.
    pub(super) fn words(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    pub(super) fn last(&self, key: &str) -> Option<String> {
        self.keys.get(key).and_then(|v| v.last().cloned())
    }

    pub(super) fn secs(&self, key: &str, default: f64) -> f64 {
        self.last(key)
            .and_then(|v| parse_secs(&v))
            .unwrap_or(default)
    }
}

/// `30`, `30s`, `5min`, `100ms`, `infinity`.
pub(super) fn parse_secs(v: &str) -> Option<f64> {
    let v = v.trim();
    if v == "infinity" {
        return Some(f64::MAX / 4.0);
    }
    for (suffix, f) in [("ms", 0.001), ("min", 60.0), ("s", 1.0), ("h", 3600.0)] {
        if let Some(n) = v.strip_suffix(suffix) {
            return n.trim().parse::<f64>().ok().map(|n| n * f);
        }
    }
    v.parse().ok()
}

/// Splits an Exec line into its flags (`-` ignore failure) and argv, with `"…"`/`'…'` quoting.
pub(super) fn split_exec(line: &str) -> (bool, Vec<String>) {
    let mut s = line.trim();
    let mut ignore = false;
    while let Some(c) = s.chars().next() {
        if matches!(c, '-' | '@' | '+' | '!' | ':') {
            ignore |= c == '-';
            s = &s[1..];
        } else {
            break;
        }
    }
    let mut argv = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    argv.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        argv.push(cur);
    }
    (ignore, argv)
}

/// `snmp` → `snmp.service`.
pub fn unit_name(n: &str) -> String {
    if n.contains('.') {
        n.to_owned()
    } else {
        format!("{n}.service")
    }
}

/// The unit file `text` of the unit `name` with systemd's specifiers resolved, in one pass:
/// `%i` the instance (as written in the name), `%I` the instance unescaped (`\xNN` a byte,
/// `-` a `/`), `%p` the prefix (`lldp` of `lldp@1.service`), `%n` the full name, `%N` the name
/// without its suffix, `%%` a `%`; any other `%x` stays as it is.
pub(super) fn expand_specifiers(text: &str, name: &str) -> String {
    let instance = Inner::instance(name);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str(&instance),
            Some('I') => out.push_str(&unescape(&instance)),
            Some('p') => out.push_str(&Inner::prefix(name)),
            Some('n') => out.push_str(name),
            Some('N') => out.push_str(stem),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `systemd-escape --unescape`: `-` is `/`, `\xNN` the byte NN.
pub(super) fn unescape(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            bytes.push(b'/');
            i += 1;
        } else if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            bytes.push(v);
            i += 4;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
