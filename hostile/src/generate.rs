//! [`Gen`]: seeded hostile inputs that know each format.

use std::fmt::Write as _;

mod db_config;

/// Fragments an attacker, a typo or a half-written file puts into a value: injection syntax
/// (paths, Redis keys, shell, new lines, NUL), documented spellings and near misses, numbers
/// at and past their limits, Unicode that looks like ASCII or reorders text.
const PIECES: &[&str] = &[
    "",
    "snmp",
    "lldp",
    "local",
    "kube",
    "true",
    "false",
    "enabled",
    "0",
    "-1",
    "1",
    "6443",
    "65536",
    "4294967296",
    "99999999999999999999",
    "1e3",
    "0x10",
    "10.0.0.1",
    "::1",
    "[fd00::1]",
    "127.0.0.1:6443",
    "https://",
    "http://",
    "https://{ip}/admin.conf",
    "{ip}",
    "{port}",
    "a=b",
    "k-",
    "x/y",
    "../",
    "..",
    "../../etc/passwd",
    "/",
    "/etc/x",
    "|",
    "*",
    "?",
    "[",
    "\n",
    "\r\n",
    "\0",
    "\t",
    "\u{1b}[31m",
    " ",
    ";",
    "&&",
    "$(",
    "`id`",
    "'",
    "\"",
    "\\",
    ",",
    ":",
    "=",
    "@",
    "#",
    "%",
    "-",
    "--",
    "_",
    ".",
    "é",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "𝕏",
    "FEATURE|snmp",
    "KEYS *",
    "{{ name }}",
    "{% raw %}",
    "kubernetes.io/",
    "node-role.kubernetes.io/master",
    "S3CRET-token-0123456789",
];

/// A seeded generator (xorshift64*): the same seed gives the same inputs, so a failure names
/// the seed that reproduces it.
#[derive(Debug, Clone)]
pub struct Gen(u64);

impl Gen {
    /// A generator with this seed (0 is replaced: xorshift needs a bit set).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0); the modulo bias does not matter here.
    pub fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }

    /// A random character: ASCII most of the time, any scalar value sometimes.
    pub fn char(&mut self) -> char {
        if self.one_in(3) {
            char::from_u32(u32::try_from(self.next_u64() % 0x11_0000).unwrap_or(0))
                .unwrap_or('\u{fffd}')
        } else {
            char::from(u8::try_from(self.next_u64() % 128).unwrap_or(b'?'))
        }
    }

    /// A hostile string: fragments, random characters and, rarely, a long run.
    pub fn string(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..self.below(6) {
            match self.below(5) {
                0 => s.push(self.char()),
                1 if self.one_in(40) => s.push_str(&"a".repeat(self.below(300))),
                _ => s.push_str(self.pick(PIECES)),
            }
        }
        s
    }

    /// A string that is often one of `good` (the documented spellings), else hostile, else one
    /// of `good` with a hostile fragment.
    pub fn near(&mut self, good: &[&str]) -> String {
        match self.below(4) {
            0 | 1 => self.pick(good).to_owned(),
            2 => self.string(),
            _ => {
                let base = self.pick(good).to_owned();
                let extra = self.string();
                if self.one_in(2) {
                    base + &extra
                } else {
                    extra + &base
                }
            }
        }
    }

    /// 64 hex digits (a container id), sometimes one short, upper-case or with a non-hex digit.
    pub fn hex_id(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..4 {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        match self.below(8) {
            0 => {
                s.pop();
            }
            1 => s = s.to_ascii_uppercase(),
            2 => s.replace_range(10..11, "g"),
            _ => {}
        }
        s
    }

    /// A JSON value: mostly of the kinds a field expects (strings, numbers, booleans), with
    /// nesting, nulls and hostile strings.
    pub fn json_value(&mut self, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.one_in(2)),
            2 => Value::from(self.next_u64() % 70_000),
            3 => Value::from(
                i64::try_from(self.next_u64() >> 1)
                    .unwrap_or(0)
                    .wrapping_neg(),
            ),
            4 | 5 => Value::String(self.string()),
            6 => Value::Array(
                (0..self.below(4))
                    .map(|_| self.json_value(depth + 1))
                    .collect(),
            ),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    m.insert(self.string(), self.json_value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    /// A JSON object with some of `keys` (and sometimes an unknown key), each value from
    /// `value`.
    pub fn json_object(
        &mut self,
        keys: &[&str],
        mut value: impl FnMut(&mut Self, &str) -> serde_json::Value,
    ) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for k in keys {
            if !self.one_in(3) {
                let v = value(self, k);
                m.insert((*k).to_owned(), v);
            }
        }
        if self.one_in(5) {
            let k = self.string();
            let v = self.json_value(1);
            m.insert(k, v);
        }
        serde_json::Value::Object(m)
    }

    /// The text of `v`, and sometimes a corruption of it: cut short, a character inserted or
    /// left out, or a fragment spliced in (what a half-written file or a fuzzer gives).
    pub fn corrupt(&mut self, text: String) -> String {
        if !self.one_in(4) {
            return text;
        }
        let mut chars: Vec<char> = text.chars().collect();
        let at = self.below(chars.len() + 1);
        match self.below(4) {
            0 => chars.truncate(at),
            1 => chars.insert(at, self.char()),
            2 if at < chars.len() => {
                chars.remove(at);
            }
            _ => {
                let piece: Vec<char> = self.pick(PIECES).chars().collect();
                chars.splice(at..at, piece);
            }
        }
        chars.into_iter().collect()
    }

    /// `base` (a valid document) with one top-level value, or a new key, made hostile, as
    /// text (sometimes corrupted).
    pub fn one_hostile(&mut self, mut base: serde_json::Value, keys: &[&str]) -> String {
        let key = if self.one_in(5) {
            self.string()
        } else {
            self.pick(keys).to_owned()
        };
        if !self.one_in(4)
            && let Some(m) = base.as_object_mut()
        {
            let v = match self.below(3) {
                0 => serde_json::Value::from(self.string()),
                _ => self.json_value(1),
            };
            m.insert(key, v);
        }
        let text = base.to_string();
        self.corrupt(text)
    }

    /// A `ctrmgr.json` (tunables) text with the real keys.
    pub fn tunables(&mut self, keys: &[&str]) -> String {
        let defaults = serde_json::to_value(ctrmgr_driver::Tunables::default())
            .unwrap_or(serde_json::Value::Null);
        if self.one_in(2) {
            return self.one_hostile(defaults, keys);
        }
        let v = self.json_object(keys, |g, k| match g.below(6) {
            2 | 3 => defaults[k].clone(),
            0 => serde_json::Value::from(g.next_u64() % 400),
            1 if k.ends_with("url") => serde_json::Value::from(
                g.near(&["https://{ip}/admin.conf", "https://{ip}:{port}/x"]),
            ),
            1 => serde_json::Value::from(g.near(&["kubelet", "/usr/bin/systemctl", "/run/ctrmgr"])),
            _ => g.json_value(1),
        });
        let text = v.to_string();
        self.corrupt(text)
    }

    /// A YAML scalar: plain, or double-quoted with JSON escapes (YAML's are a superset).
    fn yaml_scalar(&mut self, s: &str) -> String {
        if self.one_in(2) {
            serde_json::Value::from(s).to_string()
        } else {
            s.to_owned()
        }
    }

    /// A kubeconfig (admin.conf) text: clusters, contexts, users with a bearer token and client
    /// key material, hostile values and structure.
    pub fn kubeconfig(&mut self) -> String {
        let server = self.near(&[
            "https://10.0.0.1:6443",
            "https://[fd00::1]:6443",
            "https://master.example",
            "http://10.0.0.1",
        ]);
        let cluster = self.near(&["kubernetes"]);
        let context = self.near(&["admin@kubernetes"]);
        let current = self.near(&["admin@kubernetes", ""]);
        let token = format!("S3CRET-token-{:016x}", self.next_u64());
        let key = format!("S3CRET-key-{:016x}", self.next_u64());
        let mut s = String::new();
        let _ = writeln!(s, "apiVersion: {}", self.near(&["v1"]));
        let _ = writeln!(s, "kind: {}", self.near(&["Config"]));
        if !self.one_in(6) {
            s.push_str("clusters:\n");
            for _ in 0..self.below(3) + 1 {
                let n = self.yaml_scalar(&cluster);
                let srv = self.yaml_scalar(&server);
                let _ = writeln!(s, "- name: {n}\n  cluster:\n    server: {srv}");
                if self.one_in(3) {
                    let _ = writeln!(
                        s,
                        "    insecure-skip-tls-verify: {}",
                        self.near(&["true", "false"])
                    );
                }
                if self.one_in(3) {
                    let ca = self.string();
                    let _ = writeln!(
                        s,
                        "    certificate-authority-data: {}",
                        self.yaml_scalar(&ca)
                    );
                }
            }
        }
        if !self.one_in(6) {
            s.push_str("contexts:\n");
            let n = self.yaml_scalar(&context);
            let c = self.yaml_scalar(&cluster);
            let _ = writeln!(
                s,
                "- name: {n}\n  context:\n    cluster: {c}\n    user: admin"
            );
        }
        if !self.one_in(4) {
            let c = self.yaml_scalar(&current);
            let _ = writeln!(s, "current-context: {c}");
        }
        s.push_str("users:\n- name: admin\n  user:\n");
        match self.below(4) {
            0 => {
                let _ = writeln!(s, "    token: {token}");
            }
            1 => {
                let _ = writeln!(
                    s,
                    "    client-key-data: {key}\n    client-certificate-data: {token}"
                );
            }
            2 => {
                // The secret where a structure is expected: a parser must not echo it.
                let _ = writeln!(s, "    token:\n      - {token}");
            }
            _ => {
                let _ = writeln!(s, "    password: {token}\n    username: {}", self.string());
            }
        }
        if self.one_in(5) {
            let junk = self.string();
            s.push_str(&junk);
        }
        self.corrupt(s)
    }

    /// A `service install` spec text with the real keys.
    pub fn service_spec(&mut self, keys: &[&str]) -> String {
        if self.one_in(2) {
            let base = serde_json::json!({
                "name": "telemetry",
                "description": "Telemetry container",
                "requires": ["database"],
                "required_by": ["swss"],
                "local_image": "docker-sonic-telemetry:latest",
                "docker_create_args": "--net=host",
                "pre_start": ["/usr/bin/true"],
                "warm_reboot": ["/usr/bin/true"],
                "set_owner": "kube",
                "fallback": true,
                "user": "admin",
                "stop_timeout": 30
            });
            return self.one_hostile(base, keys);
        }
        let v = self.json_object(keys, |g, k| match (k, g.below(3)) {
            ("name", 0 | 1) => {
                serde_json::Value::from(g.near(&["telemetry", "snmp", "dhcp_relay"]))
            }
            ("requires" | "required_by", 0 | 1) => serde_json::Value::from(
                (0..g.below(3))
                    .map(|_| g.near(&["database", "swss", "snmp"]))
                    .collect::<Vec<_>>(),
            ),
            (
                "pre_start" | "post_start" | "pre_stop" | "post_stop" | "warm_reboot"
                | "fast_reboot",
                0 | 1,
            ) => serde_json::Value::from((0..g.below(3)).map(|_| g.string()).collect::<Vec<_>>()),
            ("local_image", 0) => serde_json::Value::from(g.near(&["docker-snmp:latest"])),
            ("set_owner", 0) => serde_json::Value::from(g.near(&["local", "kube"])),
            ("fallback", 0) => serde_json::Value::Bool(g.one_in(2)),
            ("user", 0) => serde_json::Value::from(g.near(&["admin", "root"])),
            ("stop_timeout", 0) => serde_json::Value::from(g.next_u64() % 100),
            ("multi_instance", 0 | 1) => serde_json::Value::Bool(g.one_in(2)),
            ("instances", 0 | 1) => serde_json::Value::from(
                (0..g.below(3))
                    .map(|_| g.near(&["0", "1", "asic0"]))
                    .collect::<Vec<_>>(),
            ),
            _ => match g.below(3) {
                0 => g.json_value(1),
                _ => serde_json::Value::from(g.string()),
            },
        });
        let text = v.to_string();
        self.corrupt(text)
    }

    /// A `/proc/self/mountinfo` text: mount lines of a container, a pod, the host, and junk.
    pub fn mountinfo(&mut self) -> String {
        let mut s = String::new();
        for i in 0..self.below(6) + 1 {
            let id = self.hex_id();
            let root = match self.below(6) {
                0 => format!("/var/lib/docker/containers/{id}/mounts/shm"),
                1 => format!("/srv/data/containers/{id}/hostname"),
                2 => format!("/var/lib/docker/containers/{id}{}", self.string()),
                3 => "/".to_owned(),
                _ => self.string(),
            };
            let point = self.near(&[
                "/dev/shm",
                "/etc/hostname",
                "/etc/hosts",
                "/etc/resolv.conf",
                "/",
            ]);
            let _ = writeln!(
                s,
                "{} {} 254:1 {root} {point} rw,relatime - ext4 /dev/vda1 rw",
                1000 + i,
                1000
            );
            if self.one_in(6) {
                let junk = self.string();
                s.push_str(&junk);
            }
        }
        self.corrupt(s)
    }

    /// A `/proc/self/cgroup` text: v1 and v2 lines of Docker, kubelet and the host, and junk.
    pub fn cgroup(&mut self) -> String {
        let mut s = String::new();
        for n in 0..self.below(5) + 1 {
            let id = self.hex_id();
            let path = match self.below(7) {
                0 => format!("/docker/{id}"),
                1 => format!("/system.slice/docker-{id}.scope"),
                2 => format!("/kubepods/besteffort/pod0f1e/{id}"),
                3 => format!(
                    "/kubepods.slice/kubepods-pod0f1e.slice/docker-{id}{}",
                    self.near(&[".scope", ""])
                ),
                4 => "/user.slice/user-0.slice/session-1.scope".to_owned(),
                5 => format!("/kubepods{}{}", self.string(), id),
                _ => self.string(),
            };
            let ctl = self.near(&["", "memory", "cpu,cpuacct"]);
            let _ = writeln!(s, "{n}:{ctl}:{path}");
        }
        self.corrupt(s)
    }

    /// An argv (without the program name) built from a binary's `words` (subcommands,
    /// options, documented values) and hostile strings.
    pub fn argv(&mut self, words: &[&str]) -> Vec<String> {
        (0..self.below(6))
            .map(|_| match self.below(5) {
                0..=2 => self.pick(words).to_owned(),
                _ => self.string(),
            })
            .collect()
    }

    /// A `KUBE_LABELS|SET` row: label keys and values as sonic-utilities or a hand edit left
    /// them.
    pub fn label_row(&mut self) -> Vec<(String, String)> {
        (0..self.below(5))
            .map(|_| {
                let k = self.near(&[
                    "hwsku",
                    "snmp_enabled",
                    "sonic.net/role",
                    "node-role.kubernetes.io/worker",
                    "a..b",
                ]);
                let v = self.near(&["true", "false", "", "Force10-S6000"]);
                (k, v)
            })
            .collect()
    }
}
