//! A stored document: system fields plus user fields holding Convex values.

use std::collections::BTreeMap;

use ferrovex_values::Value;

use crate::id::{DocumentId, TableName};

/// One document of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// `_id`.
    pub id: DocumentId,
    /// The table the document lives in.
    pub table: TableName,
    /// `_creationTime`, milliseconds since the epoch (a float, as in Convex).
    pub creation_time: f64,
    /// The user fields (never contain `_id` or `_creationTime`).
    pub fields: BTreeMap<String, Value>,
}

impl Document {
    /// A field by dotted path (`"a.b"` reads field `b` of object field `a`); system fields
    /// `_id` and `_creationTime` are readable too. `None` means the field is missing.
    pub fn field(&self, path: &str) -> Option<Value> {
        match path {
            "_id" => return Some(Value::String(self.id.as_str().to_owned())),
            "_creationTime" => return Some(Value::Float64(self.creation_time)),
            _ => {}
        }
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut current = self.fields.get(first)?;
        for part in parts {
            match current {
                Value::Object(map) => current = map.get(part)?,
                _ => return None,
            }
        }
        Some(current.clone())
    }

    /// The document as a Convex object including `_id` and `_creationTime`.
    pub fn to_value(&self) -> Value {
        let mut map = self.fields.clone();
        map.insert("_id".to_owned(), Value::String(self.id.as_str().to_owned()));
        map.insert(
            "_creationTime".to_owned(),
            Value::Float64(self.creation_time),
        );
        Value::Object(map)
    }

    /// The stored form of the user fields: Convex JSON text (what every backend keeps).
    pub fn encode_body(&self) -> String {
        Value::Object(self.fields.clone())
            .to_convex_json()
            .to_string()
    }

    /// A document read back from a backend's row: its id, table, creation time and the
    /// [`Document::encode_body`] text.
    pub fn decode_stored(
        id: String,
        table: &str,
        creation_time: f64,
        body: &str,
    ) -> Result<Document, crate::StoreError> {
        let fields = match ferrovex_values::parse_convex_json_str(body) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(crate::StoreError::Backend(format!(
                    "stored document {id} is a {} instead of an object",
                    other.type_name()
                )));
            }
            Err(source) => return Err(crate::StoreError::Corrupt { id, source }),
        };
        Ok(Document {
            id: DocumentId::from_stored(id),
            table: TableName::system(table),
            creation_time,
            fields,
        })
    }

    /// Consumes the document into a Convex object including the system fields.
    pub fn into_value(self) -> Value {
        let mut map = self.fields;
        map.insert("_id".to_owned(), Value::String(self.id.as_str().to_owned()));
        map.insert(
            "_creationTime".to_owned(),
            Value::Float64(self.creation_time),
        );
        Value::Object(map)
    }
}

impl serde::Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}
