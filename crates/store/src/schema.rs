//! The application schema: tables, the indexes declared on them and their document validators.

use std::collections::BTreeMap;

use crate::id::TableName;
use crate::index::IndexId;
use crate::search::SearchSpec;
use crate::validator::Validator;

/// Name of the index every table has, ordered by `_creationTime` then `_id`.
pub const CREATION_TIME_INDEX: &str = "by_creation_time";

/// An index over one or more fields of one table. `_creationTime` and `_id` are appended
/// to every key as tiebreaks, so keys are unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    /// The table indexed.
    pub table: TableName,
    /// The index name, unique within the table.
    pub name: String,
    /// Indexed field paths (dotted for nested objects), in key order.
    pub fields: Vec<String>,
    /// Set for a full-text search index (then `fields` is empty and the keys are terms).
    pub search: Option<SearchSpec>,
}

impl IndexDef {
    /// The stable storage id of this index.
    pub fn id(&self) -> IndexId {
        IndexId::new(&self.table, &self.name)
    }

    /// What the stored index registry records of this index: a change rebuilds it.
    pub fn signature(&self) -> String {
        // Field names are printable ASCII, so a newline is a safe separator.
        match &self.search {
            None => self.fields.join("\n"),
            Some(spec) => format!(
                "search/v1\n{}\n{}",
                spec.search_field,
                spec.filter_fields.join("\n")
            ),
        }
    }

    /// Every key of `doc` in this index: one for a regular index, one per term and filter
    /// subset for a search index.
    pub fn keys_of(&self, doc: &crate::Document) -> Vec<Vec<u8>> {
        match &self.search {
            None => vec![crate::index::index_key(self, doc)],
            Some(spec) => crate::search::search_keys(spec, doc),
        }
    }

    /// The indexes a backend maintains for documents of `table`, given the definitions passed
    /// to [`crate::Persistence::open_indexes`]: the creation-time index (always, first unless
    /// declared) and the declared ones.
    pub fn maintained_for(declared: &[IndexDef], table: &TableName) -> Vec<IndexDef> {
        let mine: Vec<IndexDef> = declared
            .iter()
            .filter(|i| &i.table == table)
            .cloned()
            .collect();
        if mine.iter().any(|i| i.name == CREATION_TIME_INDEX) {
            return mine;
        }
        let mut all = vec![IndexDef {
            table: table.clone(),
            name: CREATION_TIME_INDEX.to_owned(),
            fields: Vec::new(),
            search: None,
        }];
        all.extend(mine);
        all
    }
}

/// One table: its indexes and, optionally, the shape of its documents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableDef {
    /// Declared indexes by name (the creation-time index is implicit).
    pub indexes: BTreeMap<String, Vec<String>>,
    /// Every document's user fields (without `_id` and `_creationTime`) must match this.
    pub document: Option<Validator>,
    /// Declared full-text search indexes by name.
    pub search_indexes: BTreeMap<String, SearchSpec>,
}

impl TableDef {
    /// Declares an index over `fields`.
    pub fn index<S: Into<String>>(
        mut self,
        name: &str,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        assert!(
            !self.search_indexes.contains_key(name),
            "index {name:?}: the name is taken by a search index"
        );
        self.indexes.insert(
            name.to_owned(),
            fields.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Declares a full-text search index over the text of `search_field`, filterable by
    /// equality on up to [`crate::search::MAX_FILTER_FIELDS`] `filter_fields` (Convex's
    /// `searchIndex(name, {searchField, filterFields})`). Panics on more filter fields or a name
    /// used already, because schemas are written in code.
    pub fn search_index<S: Into<String>>(
        mut self,
        name: &str,
        search_field: &str,
        filter_fields: impl IntoIterator<Item = S>,
    ) -> Self {
        let filter_fields: Vec<String> = filter_fields.into_iter().map(Into::into).collect();
        assert!(
            filter_fields.len() <= crate::search::MAX_FILTER_FIELDS,
            "search index {name:?}: at most {} filter fields",
            crate::search::MAX_FILTER_FIELDS
        );
        assert!(
            !self.indexes.contains_key(name) && name != CREATION_TIME_INDEX,
            "search index {name:?}: the name is taken by an index"
        );
        self.search_indexes.insert(
            name.to_owned(),
            SearchSpec {
                search_field: search_field.to_owned(),
                filter_fields,
            },
        );
        self
    }

    /// Declares the shape of the table's documents (usually a [`crate::validator::v::object`]);
    /// inserts, patches and replaces that do not match fail and write nothing.
    pub fn document(mut self, validator: Validator) -> Self {
        self.document = Some(validator);
        self
    }
}

/// All tables and indexes of an application. Tables that are not declared still work (they get
/// the creation-time index only), as in Convex without a schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    tables: BTreeMap<TableName, TableDef>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a table; panics on an invalid table name because schemas are written in code.
    pub fn table(mut self, name: &str, def: TableDef) -> Self {
        let table = match TableName::parse(name) {
            Some(t) => t,
            None if name.starts_with('_') && name.len() > 1 => TableName::system(name),
            None => panic!("invalid table name in schema: {name:?}"),
        };
        self.tables.insert(table, def);
        self
    }

    /// Merges another schema's tables into this one (used to add system tables).
    pub fn merge(mut self, other: Schema) -> Self {
        self.tables.extend(other.tables);
        self
    }

    /// The declared indexes of a table, including the implicit creation-time index.
    pub fn indexes_of(&self, table: &TableName) -> Vec<IndexDef> {
        let mut out = vec![IndexDef {
            table: table.clone(),
            name: CREATION_TIME_INDEX.to_owned(),
            fields: Vec::new(),
            search: None,
        }];
        if let Some(def) = self.tables.get(table) {
            for (name, fields) in &def.indexes {
                out.push(IndexDef {
                    table: table.clone(),
                    name: name.clone(),
                    fields: fields.clone(),
                    search: None,
                });
            }
            for (name, spec) in &def.search_indexes {
                out.push(IndexDef {
                    table: table.clone(),
                    name: name.clone(),
                    fields: Vec::new(),
                    search: Some(spec.clone()),
                });
            }
        }
        out
    }

    /// One index by table and name.
    pub fn index(&self, table: &TableName, name: &str) -> Option<IndexDef> {
        self.indexes_of(table).into_iter().find(|i| i.name == name)
    }

    /// Every declared index of every declared table.
    pub fn all_indexes(&self) -> Vec<IndexDef> {
        self.tables
            .keys()
            .flat_map(|t| self.indexes_of(t))
            .collect()
    }

    /// The document validator of a table, if it declares one.
    pub fn validator_of(&self, table: &TableName) -> Option<&Validator> {
        self.tables.get(table).and_then(|t| t.document.as_ref())
    }

    /// The declared table names.
    pub fn tables(&self) -> impl Iterator<Item = &TableName> {
        self.tables.keys()
    }
}
