//! File storage: `files:generateUploadUrl` `{}` → an upload URL, `files:save`
//! `{storageId, name}` → the file's `_id`, `files:list` `{}` → `[{_id, name, storageId, url,
//! size, contentType, sha256}]` (newest first), `files:remove` `{id}` (the row and its bytes).

use ferrovex::prelude::*;

/// Longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Files `files:list` returns at most.
pub const MAX_LISTED: usize = 500;

/// A saved file (the `files` table's document type).
#[derive(Clone, Debug, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
#[ferrovex(table = "files")]
pub struct File {
    /// Its name as uploaded.
    pub name: String,
    /// The `_storage` id of its bytes.
    pub storage_id: DocumentId,
}

#[derive(Deserialize, Type)]
#[serde(rename_all = "camelCase")]
struct SaveArgs {
    storage_id: DocumentId,
    name: String,
}

#[derive(Deserialize, Type)]
struct RemoveArgs {
    id: DocumentId,
}

/// One listed file.
#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct Listed {
    #[serde(rename = "_id")]
    id: DocumentId,
    name: String,
    storage_id: DocumentId,
    url: Option<String>,
    size: f64,
    content_type: Option<String>,
    sha256: String,
}

fn invalid(code: &str, message: &str) -> FnError {
    ConvexError::new(Value::object([("code", code), ("message", message)])).into()
}

fn save(ctx: &mut MutationCtx, args: SaveArgs) -> FnResult<DocumentId> {
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "INVALID_NAME",
            &format!("a file name has 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if ctx.storage().get_metadata(&args.storage_id)?.is_none() {
        return Err(invalid("NO_SUCH_FILE", "no stored file has this storageId"));
    }
    let file = File {
        name: name.to_owned(),
        storage_id: args.storage_id,
    };
    Ok(ctx.db.insert("files", &file)?)
}

fn list(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<Listed>> {
    let docs = ctx.db.query("files")?.order(Order::Desc).take(MAX_LISTED)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let doc: Doc<File> = Doc::try_from(doc)?;
        let id = doc.id.untyped().clone();
        let file = doc.value;
        let meta = ctx.storage().get_metadata(&file.storage_id)?;
        let url = ctx.storage().get_url(&file.storage_id)?;
        out.push(Listed {
            id,
            name: file.name,
            storage_id: file.storage_id,
            url,
            size: meta.as_ref().map_or(0.0, |m| m.size),
            content_type: meta.as_ref().and_then(|m| m.content_type.clone()),
            sha256: meta.map(|m| m.sha256).unwrap_or_default(),
        });
    }
    Ok(out)
}

fn remove(ctx: &mut MutationCtx, args: RemoveArgs) -> FnResult<()> {
    let Some(doc) = ctx.db.get(&args.id)? else {
        return Err(invalid("NO_SUCH_FILE", "no such file"));
    };
    if doc.table.as_str() != "files" {
        return Err(invalid("NO_SUCH_FILE", "no such file"));
    }
    let file = Doc::<File>::try_from(doc)?.value;
    ctx.db.delete(&args.id)?;
    if ctx.storage().get_metadata(&file.storage_id)?.is_some() {
        ctx.storage().delete(&file.storage_id)?;
    }
    Ok(())
}

pub(crate) fn register(app: App) -> App {
    app.mutation(
        "files:generateUploadUrl",
        |ctx: &mut MutationCtx, _: NoArgs| ctx.storage().generate_upload_url(),
    )
    .mutation("files:save", save)
    .query("files:list", list)
    .mutation("files:remove", remove)
}
