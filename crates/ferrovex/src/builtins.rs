//! Functions every deployment has unless the app defines its own under the same path:
//! `auth:getLatestJwks`, the internal action of the seed's static-keys recipe
//! (`npx convex run auth:getLatestJwks | npx convex env set JWKS`). It returns the newest
//! signing key in Better Auth's row format (`[{id, publicKey, privateKey, createdAt, alg}]`,
//! the private key encrypted with the auth secret), creating the first key if there is none.

use std::sync::{Arc, OnceLock};

use ferrovex_auth::service::AuthService;
use ferrovex_engine::{App, FnError, NoArgs};

/// The path of the JWKS action.
pub const GET_LATEST_JWKS: &str = "auth:getLatestJwks";

/// The auth service, known once it has started (after the engine, which holds the app).
pub(crate) type AuthCell = Arc<OnceLock<Arc<AuthService>>>;

/// `app` with the built-in functions it does not define itself.
pub(crate) fn add(app: App, auth: &AuthCell) -> App {
    let defined = app
        .functions()
        .any(|f| f.path.to_string() == GET_LATEST_JWKS);
    if defined {
        return app;
    }
    let auth = auth.clone();
    app.internal_action(GET_LATEST_JWKS, move |_ctx, _: NoArgs| {
        let auth = auth.clone();
        async move {
            let service = auth
                .get()
                .ok_or_else(|| FnError::internal("auth has not started yet"))?;
            let rows = service
                .export_jwks(false)
                .await
                .map_err(|e| FnError::internal(e.to_string()))?;
            Ok(rows)
        }
    })
}
