//! The official Convex CLI (npm `convex` 1.48.0) drives Ferrovex deployments as a
//! self-hosted Convex backend (`CONVEX_SELF_HOSTED_URL` plus `CONVEX_SELF_HOSTED_ADMIN_KEY`),
//! in `tests/compat/convex_cli.test.mjs`: `run` (public and internal functions, a wrong admin
//! key), `data`, `env set|list|get|remove`, the seed's static-keys recipe
//! (`npx convex run auth:getLatestJwks | npx convex env set JWKS`, with tokens from before and
//! after it still verifying), `logs`, and `export` from one deployment then `import` into a
//! second, empty one (ids kept; a second import needs `--replace`).

use crate::common::{Server, run_node_suite};

/// The admin key `serve` generated in `dir`.
fn admin_key(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("admin_key"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_convex_cli_drives_a_deployment() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start_with(dir_a.path(), 0, &[], &[]);
    let b = Server::start_with(dir_b.path(), 0, &[], &[]);
    let key_a = admin_key(dir_a.path());
    let key_b = admin_key(dir_b.path());
    run_node_suite(
        "convex_cli.test.mjs",
        "convex",
        &[
            ("CONVEX_URL", &a.url),
            ("ADMIN_KEY", &key_a),
            ("CONVEX_URL_B", &b.url),
            ("ADMIN_KEY_B", &key_b),
            ("SITE_URL", &a.site_url),
        ],
        8,
    )
    .await;
}
