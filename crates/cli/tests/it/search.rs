//! Full-text search end to end (`tests/compat/search.test.mjs`): ranked `posts:search` results
//! with prefix matching, live updates of a subscribed search, and no re-run of a search
//! subscription for a post with none of its terms (counted from `/metrics`).

#[tokio::test(flavor = "multi_thread")]
async fn the_search_suite_passes_with_the_official_clients() {
    crate::common::run_node_suite("search.test.mjs", "convex", &[], 3).await;
}
