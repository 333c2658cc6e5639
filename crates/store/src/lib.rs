//! The daemon's crash-safe metadata store: named tables of JSON records keyed
//! by strings, kept in one embedded ACID database (redb) in the data root.
//!
//! Every change goes through [`Store::write`], which commits all its updates
//! atomically and durably or none of them, so a SIGKILL at any moment leaves
//! either the old or the new state, never a mix. [`Store::write_deferred`]
//! commits as atomically but leaves durability to the next durable commit.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

/// A named table of JSON records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table(pub &'static str);

impl Table {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.0)
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, read or written.
    #[error("metadata store: {0}")]
    Db(String),
    /// A record could not be encoded or decoded.
    #[error("metadata store: record {table}/{key} is not valid: {err}")]
    Decode {
        /// Table of the record.
        table: &'static str,
        /// Key of the record.
        key: String,
        /// The decoding error.
        err: serde_json::Error,
    },
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The embedded metadata database.
pub struct Store {
    db: redb::Database,
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = redb::Database::create(path)
            .map_err(|e| StoreError::Db(format!("cannot open database {}: {e}", path.display())))?;
        Ok(Store { db })
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = match tx.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err(e)),
        };
        match t.get(key).map_err(db_err)? {
            Some(v) => decode(table, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Reads every record of a table, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = match tx.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_err(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let key = k.value().to_string();
            let rec = decode(table, &key, v.value())?;
            out.push((key, rec));
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction and commits it durably if `f`
    /// returns `Ok`; nothing is written if it returns `Err`.
    pub fn write<R, E>(
        &self,
        f: impl FnOnce(&mut Txn) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E>
    where
        E: From<StoreError>,
    {
        self.commit(redb::Durability::Immediate, f)
    }

    fn commit<R, E>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&mut Txn) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(durability).map_err(db_err)?;
        let mut txn = Txn { tx };
        let r = f(&mut txn)?;
        txn.tx.commit().map_err(db_err)?;
        Ok(r)
    }
}

impl Store {
    /// Like [`Store::write`], but the commit is only made visible: it
    /// becomes durable with the next durable commit (any [`Store::write`],
    /// or [`Store::flush`]). A crash before that loses it, and the store
    /// comes back as it was before it. For a change whose answer should not
    /// wait for the disk and whose loss the caller recovers from.
    pub fn write_deferred<R, E>(
        &self,
        f: impl FnOnce(&mut Txn) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E>
    where
        E: From<StoreError>,
    {
        self.commit(redb::Durability::None, f)
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        tx.commit().map_err(db_err)
    }
}

fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Decode {
        table: table.0,
        key: key.to_string(),
        err,
    })
}

/// An open write transaction (see [`Store::write`]).
pub struct Txn {
    tx: redb::WriteTransaction,
}

impl Txn {
    /// Reads one record as seen inside this transaction.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let t = self.tx.open_table(table.def()).map_err(db_err)?;
        let v = t.get(key).map_err(db_err)?;
        match v {
            Some(v) => decode(table, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Inserts or replaces a record.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|err| StoreError::Decode {
            table: table.0,
            key: key.to_string(),
            err,
        })?;
        let mut t = self.tx.open_table(table.def()).map_err(db_err)?;
        t.insert(key, bytes.as_slice()).map_err(db_err)?;
        Ok(())
    }

    /// Removes a record; returns whether it existed.
    pub fn delete(&mut self, table: Table, key: &str) -> Result<bool> {
        let mut t = self.tx.open_table(table.def()).map_err(db_err)?;
        let existed = t.remove(key).map_err(db_err)?.is_some();
        Ok(existed)
    }

    /// Reads every record of a table as seen inside this transaction.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let t = self.tx.open_table(table.def()).map_err(db_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let key = k.value().to_string();
            let rec = decode(table, &key, v.value())?;
            out.push((key, rec));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table("things");

    #[test]
    fn write_read_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), None);
        assert!(s.list::<u32>(T).unwrap().is_empty());
        s.write(|tx| -> Result<()> {
            tx.put(T, "b", &2u32)?;
            tx.put(T, "a", &1u32)
        })
        .unwrap();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), Some(1));
        let all = s.list::<u32>(T).unwrap();
        assert_eq!(all, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
        s.write(|tx| tx.delete(T, "a")).unwrap();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), None);
    }

    #[test]
    fn a_deferred_write_is_seen_at_once_and_kept_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let s = Store::open(&path).unwrap();
        s.write(|tx| tx.put(T, "a", &1u32)).unwrap();
        s.write_deferred(|tx| tx.delete(T, "a")).unwrap();
        s.write_deferred(|tx| tx.put(T, "b", &2u32)).unwrap();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), None);
        assert_eq!(s.get::<u32>(T, "b").unwrap(), Some(2));
        s.flush().unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.list::<u32>(T).unwrap(), vec![("b".to_string(), 2)]);
    }

    #[test]
    fn failed_transaction_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let r: std::result::Result<(), StoreError> = s.write(|tx| {
            tx.put(T, "x", &1u32)?;
            Err(StoreError::Db("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(s.get::<u32>(T, "x").unwrap(), None);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        {
            let s = Store::open(&p).unwrap();
            s.write(|tx| tx.put(T, "k", &"v")).unwrap();
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.get::<String>(T, "k").unwrap().as_deref(), Some("v"));
    }
}
