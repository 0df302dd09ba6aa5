//! [`Gen::db_config`]: hostile `database_config.json` texts.

use super::Gen;

impl Gen {
    /// A `database_config.json` text: SONiC's own with one value made hostile, or one built
    /// from hostile parts.
    pub fn db_config(&mut self) -> String {
        if self.one_in(2) {
            return self.sonic_db_config_made_hostile();
        }
        let mut root = serde_json::Map::new();
        if !self.one_in(8) {
            let instances = self.db_instances();
            root.insert("INSTANCES".to_owned(), serde_json::Value::Object(instances));
        }
        if !self.one_in(8) {
            let dbs = self.db_databases();
            root.insert("DATABASES".to_owned(), serde_json::Value::Object(dbs));
        }
        if self.one_in(2) {
            root.insert("VERSION".to_owned(), serde_json::Value::from("1.0"));
        }
        let text = if self.one_in(10) {
            self.json_value(0).to_string()
        } else {
            serde_json::Value::Object(root).to_string()
        };
        self.corrupt(text)
    }

    /// SONiC's own `database_config.json` with one value (usually) made hostile, as text
    /// (sometimes corrupted).
    fn sonic_db_config_made_hostile(&mut self) -> String {
        let mut v = serde_json::json!({
            "INSTANCES": {"redis": {"hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/var/run/redis/redis.sock"}},
            "DATABASES": {
                "CONFIG_DB": {"id": 4, "separator": "|", "instance": "redis"},
                "STATE_DB": {"id": 6, "separator": "|", "instance": "redis"}
            },
            "VERSION": "1.0"
        });
        let (section, entry, field) = match self.below(4) {
            0 => (
                "INSTANCES",
                "redis",
                self.pick(&["hostname", "port", "unix_socket_path"]),
            ),
            1 => (
                "DATABASES",
                "CONFIG_DB",
                self.pick(&["id", "separator", "instance"]),
            ),
            2 => (
                "DATABASES",
                "STATE_DB",
                self.pick(&["id", "separator", "instance"]),
            ),
            _ => ("DATABASES", "APPL_DB", "id"),
        };
        if !self.one_in(4) {
            v[section][entry][field] = self.json_value(1);
        }
        let text = v.to_string();
        self.corrupt(text)
    }

    /// One to three `INSTANCES` entries of hostile parts.
    fn db_instances(&mut self) -> serde_json::Map<String, serde_json::Value> {
        let mut instances = serde_json::Map::new();
        for _ in 0..self.below(3) + 1 {
            let name = self.near(&["redis", "redis_chassis"]);
            let inst = self.json_object(&["hostname", "port", "unix_socket_path"], |g, k| {
                match (k, g.below(3)) {
                    ("port", 0) => serde_json::Value::from(g.next_u64() % 70_000),
                    ("port", 1) => serde_json::Value::from(g.near(&["6379", "0", "65535"])),
                    ("hostname", 0) => serde_json::Value::from("127.0.0.1"),
                    ("unix_socket_path", 0) => serde_json::Value::from("/var/run/redis/redis.sock"),
                    _ => g.json_value(1),
                }
            });
            instances.insert(name, inst);
        }
        instances
    }

    /// One to four `DATABASES` entries of hostile parts.
    fn db_databases(&mut self) -> serde_json::Map<String, serde_json::Value> {
        let mut dbs = serde_json::Map::new();
        for _ in 0..self.below(4) + 1 {
            let name = self.near(&["CONFIG_DB", "STATE_DB", "APPL_DB"]);
            let db = self.json_object(&["id", "separator", "instance"], |g, k| {
                match (k, g.below(3)) {
                    ("id", 0) => serde_json::Value::from(g.next_u64() % 20),
                    ("separator", 0) => serde_json::Value::from(g.pick(&["|", ":", ""])),
                    ("instance", 0) => serde_json::Value::from("redis"),
                    _ => g.json_value(1),
                }
            });
            dbs.insert(name, db);
        }
        dbs
    }
}
