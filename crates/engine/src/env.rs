//! Deployment environment variables (Convex's `npx convex env`): stored in the
//! `_environment_variables` system table, changed at runtime by the admin, read by functions
//! with `ctx.env("NAME")`. A query that reads a variable re-runs when it changes, like any
//! other read.

use std::collections::BTreeMap;

use ferrovex_store::{Schema, TableDef, TableName};
use ferrovex_values::Value;

use crate::db::{DatabaseReader, DatabaseWriter, Query};
use crate::engine::Engine;
use crate::error::EngineError;

/// The system table holding the variables (`{name, value}`).
pub const ENV_TABLE: &str = "_environment_variables";
const BY_NAME: &str = "by_name";
/// Longest variable name, as in Convex.
pub const MAX_ENV_NAME_LEN: usize = 40;
/// Largest value (bytes of UTF-8), as in Convex.
pub const MAX_ENV_VALUE_BYTES: usize = 8 * 1024;
/// Most variables a deployment may hold, as in Convex.
pub const MAX_ENV_VARS: usize = 100;

/// The table's schema, added to every app's.
pub(crate) fn system_schema() -> Schema {
    Schema::new().table(ENV_TABLE, TableDef::default().index(BY_NAME, ["name"]))
}

/// Checks a variable name: a letter or `_` first, then letters, digits and `_`.
pub fn check_env_name(name: &str) -> Result<(), EngineError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > MAX_ENV_NAME_LEN
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(EngineError::BadDatabaseCall(format!(
            "invalid environment variable name {name:?}: use at most {MAX_ENV_NAME_LEN} letters, \
             digits and _, not starting with a digit"
        )));
    }
    Ok(())
}

fn check_env_value(name: &str, value: &str) -> Result<(), EngineError> {
    if value.len() > MAX_ENV_VALUE_BYTES {
        return Err(EngineError::BadDatabaseCall(format!(
            "the value of environment variable {name} is {} bytes; at most {MAX_ENV_VALUE_BYTES} are allowed",
            value.len()
        )));
    }
    Ok(())
}

fn by_name<'q>(query: Query<'q>, name: &str) -> Result<Query<'q>, EngineError> {
    query.with_index(BY_NAME, |r| r.eq("name", name))
}

fn value_of(doc: &ferrovex_store::Document) -> Option<String> {
    match doc.fields.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Reads one variable inside a transaction, recording the read (so a query re-runs when the
/// variable changes).
pub(crate) fn read_env(
    txn: &mut dyn ferrovex_store::ReadTxn,
    state: &mut crate::db::TxnState,
    name: &str,
) -> Result<Option<String>, EngineError> {
    check_env_name(name)?;
    let was_system = state.system;
    state.system = true;
    let found = Query::open(txn, state, ENV_TABLE, false)
        .and_then(|q| by_name(q, name))
        .and_then(Query::first);
    state.system = was_system;
    Ok(found?.as_ref().and_then(value_of))
}

impl DatabaseReader<'_> {
    /// The deployment environment variable `name`, if set.
    pub fn env(&mut self, name: &str) -> Result<Option<String>, EngineError> {
        read_env(self.txn, self.state, name)
    }
}

impl DatabaseWriter<'_> {
    /// The deployment environment variable `name`, if set.
    pub fn env(&mut self, name: &str) -> Result<Option<String>, EngineError> {
        read_env(self.txn, self.state, name)
    }
}

/// One change to the variables: set `name` to `value`, or remove it (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvChange {
    /// The variable.
    pub name: String,
    /// Its new value; `None` removes it.
    pub value: Option<String>,
}

impl Engine {
    /// Every deployment environment variable, by name.
    pub async fn env_vars(&self) -> Result<BTreeMap<String, String>, EngineError> {
        self.system_read(|db| {
            let docs = db.query(ENV_TABLE)?.take(MAX_ENV_VARS + 1)?;
            Ok(docs
                .iter()
                .filter_map(|d| match d.fields.get("name") {
                    Some(Value::String(n)) => Some((n.clone(), value_of(d)?)),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    /// Applies `changes` in one transaction (all or none): every name and value is checked
    /// first, and the total stays within [`MAX_ENV_VARS`].
    pub async fn update_env_vars(&self, changes: Vec<EnvChange>) -> Result<(), EngineError> {
        for change in &changes {
            check_env_name(&change.name)?;
            if let Some(value) = &change.value {
                check_env_value(&change.name, value)?;
            }
        }
        self.system_write(move |db| {
            for change in changes {
                let existing = by_name(db.query(ENV_TABLE)?, &change.name)?.first()?;
                match (existing, change.value) {
                    (Some(doc), Some(value)) => {
                        let mut fields = doc.fields.clone();
                        fields.insert("value".to_owned(), Value::String(value));
                        db.raw_replace(doc, fields)?;
                    }
                    (Some(doc), None) => db.raw_delete(&doc.id)?,
                    (None, Some(value)) => {
                        let row = Value::Object(BTreeMap::from([
                            ("name".to_owned(), Value::String(change.name)),
                            ("value".to_owned(), Value::String(value)),
                        ]));
                        db.insert_into(TableName::system(ENV_TABLE), row)?;
                    }
                    (None, None) => {}
                }
            }
            let count = db.query(ENV_TABLE)?.take(MAX_ENV_VARS + 1)?.len();
            if count > MAX_ENV_VARS {
                return Err(EngineError::BadDatabaseCall(format!(
                    "a deployment may have at most {MAX_ENV_VARS} environment variables"
                )));
            }
            Ok(())
        })
        .await
    }

    /// One variable, read in its own snapshot (for actions and Ferrovex's own code).
    pub async fn env_var(&self, name: &str) -> Result<Option<String>, EngineError> {
        let name = name.to_owned();
        self.system_read(move |db| db.env(&name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_convexs_rules() {
        for ok in ["JWKS", "_X", "a1", "SITE_URL"] {
            assert!(check_env_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "é", &"A".repeat(41)] {
            assert!(check_env_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_bounded() {
        assert!(check_env_value("A", &"x".repeat(MAX_ENV_VALUE_BYTES)).is_ok());
        assert!(check_env_value("A", &"x".repeat(MAX_ENV_VALUE_BYTES + 1)).is_err());
    }
}
