//! The page payload: query results rendered on the server, handed to the browser runtime in
//! a `<script type="application/json">` element. It never holds a token.

use serde_json::{Value as Json, json};

use crate::auth::DisplayUser;

/// One query of the page.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PayloadQuery {
    /// Function path.
    pub path: String,
    /// Convex-JSON args, or `None` for `'skip'`.
    pub args: Option<Json>,
    /// Rendered on the server.
    pub server: bool,
    /// Kept live over the WebSocket.
    pub subscribe: bool,
    /// The Convex-encoded result, when rendered.
    pub value: Option<Json>,
    /// `{message, data}` when it failed.
    pub error: Option<Json>,
}

/// Everything the runtime needs to hydrate a page.
#[derive(Clone, Debug, Default)]
pub struct Payload {
    /// URL of the API origin (for the WebSocket and HTTP queries).
    pub api_url: String,
    /// The signed-in user's display claims, if any (no token).
    pub user: Option<DisplayUser>,
    /// The page's queries.
    pub queries: Vec<PayloadQuery>,
}

impl Payload {
    /// The `<script>` element carrying the payload, escaped so no string can close it.
    pub fn script(&self) -> String {
        let json =
            json!({"apiUrl": self.api_url, "user": self.user, "queries": self.queries}).to_string();
        let safe = json
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        format!(r#"<script type="application/json" id="__ferrovex">{safe}</script>"#)
    }
}
