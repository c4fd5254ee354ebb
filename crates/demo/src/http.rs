//! HTTP actions on the site origin: `POST /demo/messages` (JSON `{author, body, channel?}` →
//! `messages:send` → `200 {"id": ...}`; a ConvexError answers 400 with its data),
//! `GET /demo/messages?channel=...` (the list), both open to any origin; and
//! `POST /demo/panic`, which panics (a 500 that reveals nothing), `GET /demo/whoami` (the
//! Bearer token's subject) and `POST /demo/private` (no CORS).

use ferrovex::prelude::*;

#[derive(Serialize, Deserialize)]
struct NewMessage {
    author: String,
    body: String,
    #[serde(default)]
    channel: Option<String>,
}

async fn post_message(ctx: ActionCtx, req: HttpRequest) -> FnResult<HttpResponse> {
    let Ok(message) = req.json::<NewMessage>() else {
        return Ok(HttpResponse::json(
            400,
            &serde_json::json!({ "code": "BAD_JSON", "message": "expected {author, body, channel?}" }),
        ));
    };
    let id: String = ctx.run_mutation("messages:send", &message).await?;
    Ok(HttpResponse::json(200, &serde_json::json!({ "id": id })))
}

async fn list_messages(ctx: ActionCtx, req: HttpRequest) -> FnResult<HttpResponse> {
    let args = Value::object([(
        "channel",
        req.query_param("channel")
            .map(Value::from)
            .unwrap_or(Value::Null),
    )]);
    let messages: serde_json::Value = ctx.run_query("messages:list", &args).await?;
    Ok(HttpResponse::json(200, &messages))
}

async fn panic_route(_ctx: ActionCtx, _req: HttpRequest) -> FnResult<HttpResponse> {
    panic!("a deliberate panic with a secret detail: hunter2");
}

/// Who called, from `Authorization: Bearer <jwt>`: `{"subject": ...}` or `{"subject": null}`.
async fn whoami(ctx: ActionCtx, _req: HttpRequest) -> FnResult<HttpResponse> {
    let subject = ctx.auth().user_identity().map(|i| i.subject.clone());
    Ok(HttpResponse::json(
        200,
        &serde_json::json!({ "subject": subject }),
    ))
}

/// A route without CORS: browsers on other origins cannot read it.
async fn private(_ctx: ActionCtx, _req: HttpRequest) -> FnResult<HttpResponse> {
    Ok(HttpResponse::text(200, "same origin only"))
}

/// Registers the demo's HTTP actions.
pub fn register(app: App) -> App {
    app.http_route_with(
        HttpRoute::new("POST", "/demo/messages").cors_any(),
        post_message,
    )
    .http_route_with(
        HttpRoute::new("GET", "/demo/messages").cors_any(),
        list_messages,
    )
    .http_route_with(
        HttpRoute::new("POST", "/demo/panic").cors_any(),
        panic_route,
    )
    .http_route_with(HttpRoute::new("GET", "/demo/whoami").cors_any(), whoami)
    .http_route("POST", "/demo/private", private)
}
