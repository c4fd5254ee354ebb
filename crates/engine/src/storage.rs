//! File storage, as Convex's `ctx.storage`: the `_storage` system table (one row per file:
//! `sha256` (base64), `size`, `contentType`), single-use upload tokens in `_upload_tokens`, and
//! the bytes in a [`BlobStore`] (content-addressed, so equal files share their bytes).
//!
//! - Mutations: `generate_upload_url` (a token row written in the mutation's transaction, valid
//!   [`UPLOAD_URL_TTL`], used once), `get_url`, `get_metadata`, `delete` (the row is deleted in
//!   the transaction, so a mutation that fails deletes nothing).
//! - Queries: `get_url`, `get_metadata` (reads are recorded: a query re-runs when its file
//!   changes).
//! - Actions: `store` (bytes straight into storage), `get`, and the above, each on its own.
//! - Bytes no `_storage` row names (deleted files, uploads whose token was refused) are removed
//!   by [`Engine::collect_file_garbage`] once older than [`UNREFERENCED_GRACE`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ferrovex_store::validator::{Validator, v};
use ferrovex_store::{
    BlobKey, BlobStore, Document, DocumentId, ReadTxn, Schema, StoredBlob, TableDef, TableName,
};
use ferrovex_values::Value;
use parking_lot::RwLock;

use crate::db::{DatabaseReader, DatabaseWriter, TxnState, get_recorded_system};
use crate::engine::Engine;
use crate::error::{EngineError, FnError, FnResult};

/// The field of a `_storage` row holding the random token its URL carries (the row's `_id`
/// is not a URL: ids show up in query results, and a URL must be handed out by `get_url`).
pub const URL_TOKEN_FIELD: &str = "urlToken";
const BY_URL_TOKEN: &str = "by_url_token";

/// Files the dashboard counts at most.
pub const FILES_COUNTED: usize = 10_000;
/// Files' rows.
pub const STORAGE_TABLE: &str = "_storage";
/// Upload tokens (the token is the row's id).
pub const UPLOAD_TOKENS_TABLE: &str = "_upload_tokens";
/// How long an upload URL stays valid (as in Convex).
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(3600);
/// How old unreferenced bytes must be before they are deleted (an upload stores its bytes a
/// moment before its row commits).
pub const UNREFERENCED_GRACE: Duration = Duration::from_secs(3600);

/// The tables, added to every app's schema.
pub(crate) fn system_schema() -> Schema {
    Schema::new()
        .table(
            STORAGE_TABLE,
            TableDef::default().index(BY_URL_TOKEN, [URL_TOKEN_FIELD]),
        )
        .table(UPLOAD_TOKENS_TABLE, TableDef::default())
}

/// Where file bytes are and how file URLs begin (set when the deployment starts serving).
#[derive(Debug, Default)]
pub(crate) struct Files {
    blobs: RwLock<Option<Arc<dyn BlobStore>>>,
    api_url: RwLock<String>,
    /// How long upload URLs stay valid; [`UPLOAD_URL_TTL`] unless configured.
    upload_ttl: RwLock<Option<Duration>>,
}

impl Files {
    fn api_url(&self) -> String {
        self.api_url.read().clone()
    }

    fn upload_ttl(&self) -> Duration {
        self.upload_ttl.read().unwrap_or(UPLOAD_URL_TTL)
    }

    fn blobs(&self) -> Result<Arc<dyn BlobStore>, EngineError> {
        self.blobs.read().clone().ok_or_else(|| {
            EngineError::BadDatabaseCall(
                "file storage is not configured on this deployment".to_owned(),
            )
        })
    }
}

/// A file's metadata (`ctx.storage().get_metadata(id)`), as Convex's `FileMetadata`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    /// The file's `_id` in `_storage`.
    pub storage_id: DocumentId,
    /// Base64 SHA-256 of the bytes.
    pub sha256: String,
    /// Length in bytes.
    pub size: f64,
    /// The `Content-Type` it was uploaded with.
    pub content_type: Option<String>,
}

impl crate::typed::Type for FileMetadata {
    fn validator() -> Validator {
        v::object([
            ("storageId", v::string()),
            ("sha256", v::string()),
            ("size", v::float64()),
            ("contentType", v::union([v::string(), v::null()])),
        ])
    }
}

impl FileMetadata {
    fn of(doc: &Document) -> FileMetadata {
        let text = |name: &str| match doc.fields.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        FileMetadata {
            storage_id: doc.id.clone(),
            sha256: text("sha256").unwrap_or_default(),
            size: match doc.fields.get("size") {
                Some(Value::Float64(f)) => *f,
                _ => 0.0,
            },
            content_type: text("contentType"),
        }
    }

    /// The key of the bytes.
    pub fn blob_key(&self) -> Option<BlobKey> {
        let digest: [u8; 32] = STANDARD.decode(&self.sha256).ok()?.try_into().ok()?;
        Some(BlobKey::from_digest(&digest))
    }
}

fn file_row(
    txn: &mut dyn ReadTxn,
    state: &mut TxnState,
    id: &DocumentId,
) -> Result<Option<Document>, EngineError> {
    Ok(get_recorded_system(txn, state, id)?.filter(|d| d.table.as_str() == STORAGE_TABLE))
}

/// The URL serving a `_storage` row's bytes.
fn url_of(files: &Files, doc: &Document) -> Option<String> {
    match doc.fields.get(URL_TOKEN_FIELD) {
        Some(Value::String(token)) => Some(format!("{}/api/storage/{token}", files.api_url())),
        _ => None,
    }
}

fn new_url_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn row_fields(stored: &StoredBlob, content_type: Option<&str>) -> Value {
    let mut fields = BTreeMap::from([
        (
            "sha256".to_owned(),
            Value::from(STANDARD.encode(stored.sha256).as_str()),
        ),
        ("size".to_owned(), Value::Float64(stored.size as f64)),
        (
            URL_TOKEN_FIELD.to_owned(),
            Value::from(new_url_token().as_str()),
        ),
    ]);
    if let Some(ct) = content_type {
        fields.insert("contentType".to_owned(), Value::from(ct));
    }
    Value::Object(fields)
}

fn new_token(db: &mut DatabaseWriter<'_>, files: &Files) -> Result<String, EngineError> {
    let expires = db.txn.ts().as_millis_f64() + files.upload_ttl().as_secs_f64() * 1e3;
    let id = db.insert_into(
        TableName::system(UPLOAD_TOKENS_TABLE),
        Value::Object(BTreeMap::from([(
            "expiresAt".to_owned(),
            Value::Float64(expires),
        )])),
    )?;
    Ok(format!("{}/api/storage/upload?token={id}", files.api_url()))
}

/// `ctx.storage()` in a query.
pub struct QueryStorage<'c, 'a> {
    pub(crate) db: &'c mut DatabaseReader<'a>,
    pub(crate) files: &'c Files,
}

impl QueryStorage<'_, '_> {
    /// The URL serving the file's bytes, or `None` when there is no such file.
    pub fn get_url(&mut self, id: &DocumentId) -> FnResult<Option<String>> {
        Ok(file_row(self.db.txn, self.db.state, id)?.and_then(|d| url_of(self.files, &d)))
    }

    /// The file's metadata, or `None`.
    pub fn get_metadata(&mut self, id: &DocumentId) -> FnResult<Option<FileMetadata>> {
        Ok(file_row(self.db.txn, self.db.state, id)?.map(|d| FileMetadata::of(&d)))
    }
}

/// `ctx.storage()` in a mutation: everything happens in the mutation's transaction.
pub struct MutationStorage<'c, 'a> {
    pub(crate) db: &'c mut DatabaseWriter<'a>,
    pub(crate) files: &'c Files,
}

impl MutationStorage<'_, '_> {
    /// A URL the client `POST`s a file's bytes to (with their `Content-Type`); it answers
    /// `{"storageId": "…"}`. Valid for [`UPLOAD_URL_TTL`], once, and only if this mutation
    /// commits.
    pub fn generate_upload_url(&mut self) -> FnResult<String> {
        Ok(new_token(self.db, self.files)?)
    }

    /// The URL serving the file's bytes, or `None` when there is no such file.
    pub fn get_url(&mut self, id: &DocumentId) -> FnResult<Option<String>> {
        Ok(file_row(&mut *self.db.txn, self.db.state, id)?.and_then(|d| url_of(self.files, &d)))
    }

    /// The file's metadata, or `None`.
    pub fn get_metadata(&mut self, id: &DocumentId) -> FnResult<Option<FileMetadata>> {
        Ok(file_row(&mut *self.db.txn, self.db.state, id)?.map(|d| FileMetadata::of(&d)))
    }

    /// Deletes the file (its bytes go once nothing names them); an error when there is none.
    pub fn delete(&mut self, id: &DocumentId) -> FnResult<()> {
        if file_row(&mut *self.db.txn, self.db.state, id)?.is_none() {
            return Err(FnError::internal(format!("no stored file {id}")));
        }
        Ok(self.db.raw_delete(id)?)
    }
}

/// `ctx.storage()` in an action: each call commits on its own.
pub struct ActionStorage<'a> {
    pub(crate) engine: &'a Engine,
}

impl ActionStorage<'_> {
    /// Stores `bytes` as a new file and returns its id.
    pub async fn store(&self, bytes: Vec<u8>, content_type: Option<&str>) -> FnResult<DocumentId> {
        let blobs = self.engine.inner.files.blobs()?;
        let stored = tokio::task::spawn_blocking(move || {
            let mut writer = blobs.begin()?;
            std::io::Write::write_all(&mut writer, &bytes)
                .map_err(|e| ferrovex_store::StoreError::Backend(e.to_string()))?;
            writer.finish()
        })
        .await
        .map_err(|e| FnError::internal(e.to_string()))??;
        let fields = row_fields(&stored, content_type);
        Ok(self
            .engine
            .system_write(move |db| db.insert_into(TableName::system(STORAGE_TABLE), fields))
            .await?)
    }

    /// The file's bytes, or `None` when there is no such file.
    pub async fn get(&self, id: &DocumentId) -> FnResult<Option<Vec<u8>>> {
        let Some(meta) = self.get_metadata(id).await? else {
            return Ok(None);
        };
        let blobs = self.engine.inner.files.blobs()?;
        let key = meta
            .blob_key()
            .ok_or_else(|| FnError::internal("a stored file's digest is malformed"))?;
        let bytes = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, FnError> {
            let Some(mut blob) = blobs.open(&key)? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut blob.reader, &mut out)
                .map_err(|e| FnError::internal(e.to_string()))?;
            Ok(Some(out))
        })
        .await
        .map_err(|e| FnError::internal(e.to_string()))??;
        Ok(bytes)
    }

    /// The URL serving the file's bytes, or `None`.
    pub async fn get_url(&self, id: &DocumentId) -> FnResult<Option<String>> {
        let id = id.clone();
        let row = self
            .engine
            .system_read(move |db| Ok(db.get(&id)?.filter(|d| d.table.as_str() == STORAGE_TABLE)))
            .await?;
        Ok(row.and_then(|d| url_of(&self.engine.inner.files, &d)))
    }

    /// The file's metadata, or `None`.
    pub async fn get_metadata(&self, id: &DocumentId) -> FnResult<Option<FileMetadata>> {
        Ok(self.engine.file_metadata(id).await?)
    }

    /// Deletes the file; an error when there is none.
    pub async fn delete(&self, id: &DocumentId) -> FnResult<()> {
        let id = id.clone();
        self.engine
            .system_write(move |db| {
                if file_row(&mut *db.txn, db.state, &id)?.is_none() {
                    return Err(EngineError::BadDatabaseCall(format!("no stored file {id}")));
                }
                db.raw_delete(&id)
            })
            .await?;
        Ok(())
    }

    /// A single-use upload URL (committed on its own).
    pub async fn generate_upload_url(&self) -> FnResult<String> {
        let engine = self.engine.clone();
        Ok(self
            .engine
            .system_write(move |db| new_token(db, &engine.inner.files))
            .await?)
    }
}

/// Why an upload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadRefusal {
    /// No such token, or it was used already.
    UnknownOrUsed,
    /// The token expired.
    Expired,
}

impl std::fmt::Display for UploadRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UploadRefusal::UnknownOrUsed => {
                "this upload URL was used already or never existed; generate a new one"
            }
            UploadRefusal::Expired => "this upload URL has expired; generate a new one",
        })
    }
}

fn token_state(doc: Option<Document>, now_ms: f64) -> Result<Document, UploadRefusal> {
    let doc = doc
        .filter(|d| d.table.as_str() == UPLOAD_TOKENS_TABLE)
        .ok_or(UploadRefusal::UnknownOrUsed)?;
    match doc.fields.get("expiresAt") {
        Some(Value::Float64(at)) if *at >= now_ms => Ok(doc),
        _ => Err(UploadRefusal::Expired),
    }
}

impl Engine {
    /// Sets where file bytes are kept, the public URL of the API origin (file URLs are
    /// `<api_url>/api/storage/<id>`) and how long upload URLs stay valid.
    pub fn configure_files(&self, blobs: Arc<dyn BlobStore>, api_url: &str, upload_ttl: Duration) {
        *self.inner.files.blobs.write() = Some(blobs);
        *self.inner.files.api_url.write() = api_url.trim_end_matches('/').to_owned();
        *self.inner.files.upload_ttl.write() = Some(upload_ttl);
    }

    /// The blob store, when file storage is configured.
    pub fn blobs(&self) -> Option<Arc<dyn BlobStore>> {
        self.inner.files.blobs.read().clone()
    }

    /// Whether `token` may upload now (checked again when the upload completes).
    pub async fn check_upload_token(
        &self,
        token: &str,
    ) -> Result<Result<(), UploadRefusal>, EngineError> {
        let Some(id) = DocumentId::parse(token) else {
            return Ok(Err(UploadRefusal::UnknownOrUsed));
        };
        let now = self.now_ms();
        self.system_read(move |db| Ok(token_state(db.get(&id)?, now).map(|_| ())))
            .await
    }

    /// Records an uploaded file under `token` (used up in the same transaction) and returns
    /// its id.
    pub async fn complete_upload(
        &self,
        token: &str,
        stored: StoredBlob,
        content_type: Option<String>,
    ) -> Result<Result<DocumentId, UploadRefusal>, EngineError> {
        let Some(id) = DocumentId::parse(token) else {
            return Ok(Err(UploadRefusal::UnknownOrUsed));
        };
        let now = self.now_ms();
        self.system_write(move |db| {
            let found = db.raw_get(&id)?;
            match token_state(found, now) {
                Ok(doc) => {
                    db.raw_delete(&doc.id)?;
                    let fields = row_fields(&stored, content_type.as_deref());
                    Ok(Ok(db.insert_into(TableName::system(STORAGE_TABLE), fields)?))
                }
                Err(refusal) => Ok(Err(refusal)),
            }
        })
        .await
    }

    /// A file's metadata, read in its own snapshot.
    pub async fn file_metadata(
        &self,
        id: &DocumentId,
    ) -> Result<Option<FileMetadata>, EngineError> {
        let id = id.clone();
        self.system_read(move |db| {
            Ok(db
                .get(&id)?
                .filter(|d| d.table.as_str() == STORAGE_TABLE)
                .map(|d| FileMetadata::of(&d)))
        })
        .await
    }

    /// The metadata of the file whose URL carries `token` (see [`URL_TOKEN_FIELD`]).
    pub async fn file_by_url_token(
        &self,
        token: &str,
    ) -> Result<Option<FileMetadata>, EngineError> {
        let token = token.to_owned();
        self.system_read(move |db| {
            Ok(db
                .query(STORAGE_TABLE)?
                .with_index(BY_URL_TOKEN, |q| q.eq(URL_TOKEN_FIELD, token.as_str()))?
                .first()?
                .map(|d| FileMetadata::of(&d)))
        })
        .await
    }

    /// The newest `n` files (with their `_creationTime` and URL path), and the count and total
    /// size of the newest [`FILES_COUNTED`] (for the dashboard).
    pub async fn recent_files(
        &self,
        n: usize,
    ) -> Result<(Vec<(f64, FileMetadata, String)>, usize, f64), EngineError> {
        self.system_read(move |db| {
            let rows = db
                .query(STORAGE_TABLE)?
                .order(ferrovex_store::Order::Desc)
                .take(FILES_COUNTED)?;
            let total: f64 = rows.iter().map(|d| FileMetadata::of(d).size).sum();
            let count = rows.len();
            let recent = rows
                .iter()
                .take(n)
                .map(|d| {
                    let path = match d.fields.get(URL_TOKEN_FIELD) {
                        Some(Value::String(t)) => format!("/api/storage/{t}"),
                        _ => String::new(),
                    };
                    (d.creation_time, FileMetadata::of(d), path)
                })
                .collect();
            Ok((recent, count, total))
        })
        .await
    }

    /// Deletes bytes no file names (older than [`UNREFERENCED_GRACE`]) and expired upload
    /// tokens; returns how many blobs were deleted.
    pub async fn collect_file_garbage(&self) -> Result<usize, EngineError> {
        let Some(blobs) = self.blobs() else {
            return Ok(0);
        };
        let now = self.now_ms();
        let referenced: HashSet<BlobKey> = self
            .with_snapshot(|reader| {
                let table = TableName::system(STORAGE_TABLE);
                let mut keys = HashSet::new();
                let mut cursor = crate::snapshot::PageCursor::default();
                loop {
                    let (docs, next) = reader.page(&table, &cursor, 1000)?;
                    keys.extend(docs.iter().filter_map(|d| FileMetadata::of(d).blob_key()));
                    match next {
                        Some(next) => cursor = next,
                        None => return Ok(keys),
                    }
                }
            })
            .await?;
        let listed = {
            let blobs = blobs.clone();
            tokio::task::spawn_blocking(move || blobs.list())
                .await
                .map_err(|e| EngineError::BadDatabaseCall(e.to_string()))??
        };
        let mut deleted = 0;
        let cutoff = SystemTime::now() - UNREFERENCED_GRACE;
        for (key, stored_at) in listed {
            if stored_at < cutoff && !referenced.contains(&key) {
                // Checked again at the delete: bytes an upload reused meanwhile are young again.
                let blobs = blobs.clone();
                let gone = tokio::task::spawn_blocking(move || blobs.delete_if_older(&key, cutoff))
                    .await
                    .map_err(|e| EngineError::BadDatabaseCall(e.to_string()))??;
                deleted += usize::from(gone);
            }
        }
        self.system_write(move |db| {
            let tokens = db.query(UPLOAD_TOKENS_TABLE)?.take(10_000)?;
            for doc in tokens {
                if token_state(Some(doc.clone()), now).is_err() {
                    db.raw_delete(&doc.id)?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(deleted)
    }
}
