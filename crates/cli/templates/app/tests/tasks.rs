//! The app's functions on the real engine (a temporary SQLite database), under `cargo test`.

use ferrovex::testing::{TestApp, TestError};
use serde_json::{Value, json};

#[test]
fn added_tasks_are_listed_and_counted() {
    let t = TestApp::new({{crate}}::app());
    let id: String = t
        .mutation("tasks:add", &json!({ "text": "write a test" }))
        .unwrap();
    let tasks: Vec<Value> = t.query("tasks:list", &json!({})).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["_id"], id);
    assert_eq!(tasks[0]["text"], "write a test");
    let summary: Value = t.action("tasks:summary", &json!({})).unwrap();
    assert_eq!(summary["openCount"], 1);
    let _: () = t
        .mutation("tasks:setDone", &json!({ "id": id, "done": true }))
        .unwrap();
    let summary: Value = t.action("tasks:summary", &json!({})).unwrap();
    assert_eq!(summary["openCount"], 0);
}

#[test]
fn bad_arguments_are_refused_before_the_function_runs() {
    let t = TestApp::new({{crate}}::app());
    let err = t
        .mutation::<String>("tasks:add", &json!({ "text": 5 }))
        .unwrap_err();
    let TestError::Failed(message) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert!(message.starts_with("ArgumentValidationError"), "{message}");
    let err = t
        .mutation::<String>("tasks:add", &json!({ "text": "  " }))
        .unwrap_err();
    assert!(matches!(err, TestError::Convex(_)), "{err:?}");
}
