//! Raw rows: whole hashes read and written verbatim, for the operator CLI (`sonic-kube show`
//! prints SONiC's own fields, `service install|remove` saves and restores a row exactly,
//! `migrate` fills in a field only where it is missing). Typed access stays in [`SonicDb`]'s
//! other methods; nothing here decodes.

use std::collections::BTreeMap;

use ctrmgr_core::codec::Fields;
use redis::Value;

use crate::db::{DbName, SonicDb};
use crate::error::{Error, Result};
use crate::scripts;

impl SonicDb {
    /// The fields of `<table><sep><key>` in `db`, verbatim (empty when the row is absent).
    pub async fn row(&self, db: DbName, table: &str, key: &str) -> Result<Fields> {
        let d = self.db(db);
        d.hgetall(&d.key(table, key)).await
    }

    /// Every row of `table` in `db`, by key (without the table prefix), read in one pipeline
    /// after one SCAN; rows deleted between the two are left out.
    pub async fn rows(&self, db: DbName, table: &str) -> Result<BTreeMap<String, Fields>> {
        let d = self.db(db);
        let keys = d.table_keys(table).await?;
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut p = d.pipe();
        for k in &keys {
            p.hgetall(d.key(table, k));
        }
        let rows: Vec<Fields> = d.query(&p, &format!("read {}", d.key(table, "*"))).await?;
        Ok(keys
            .into_iter()
            .zip(rows)
            .filter(|(_, f)| !f.is_empty())
            .collect())
    }

    /// Sets `pairs` of `<table><sep><key>` in `db` in one HSET (other fields stay).
    pub async fn set_fields(
        &self,
        db: DbName,
        table: &str,
        key: &str,
        pairs: &[(&str, String)],
    ) -> Result<()> {
        let d = self.db(db);
        d.hset(&d.key(table, key), pairs).await
    }

    /// Replaces `<table><sep><key>` in `db` with exactly `fields`, atomically (DEL then HSET
    /// in one MULTI); `None` or an empty map deletes the row.
    pub async fn replace_row(
        &self,
        db: DbName,
        table: &str,
        key: &str,
        fields: Option<&Fields>,
    ) -> Result<()> {
        let d = self.db(db);
        let k = d.key(table, key);
        let mut p = d.atomic();
        p.del(&k).ignore();
        if let Some(f) = fields.filter(|f| !f.is_empty()) {
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            p.hset_multiple(&k, &pairs).ignore();
        }
        d.query::<()>(&p, &format!("write {k}")).await
    }

    /// Sets `pairs` of `<table><sep><key>` in `db` only if, at that moment, every field of
    /// `expect` holds exactly the value given (`None`: the field is absent) — one Lua script,
    /// so no writer can come between the check and the write. Returns whether it wrote.
    pub async fn set_fields_if(
        &self,
        db: DbName,
        table: &str,
        key: &str,
        expect: &[(&str, Option<&str>)],
        pairs: &[(&str, String)],
    ) -> Result<bool> {
        let d = self.db(db);
        let k = d.key(table, key);
        let mut inv = scripts::SET_IF.key(&k);
        inv.arg(expect.len());
        for (f, v) in expect {
            inv.arg(*f)
                .arg(if v.is_some() { "1" } else { "0" })
                .arg(v.unwrap_or(""));
        }
        for (f, v) in pairs {
            inv.arg(*f).arg(v);
        }
        let action = format!("conditional write {k}");
        let reply: Value = d.eval(&scripts::SET_IF, &inv, &action).await?;
        match reply {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            other => Err(Error::UnexpectedReply {
                db: db.as_str().to_owned(),
                action,
                detail: format!("{other:?}"),
            }),
        }
    }
}
