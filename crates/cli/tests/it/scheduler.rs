//! Scheduled functions and crons on a real server: exactly once for mutations across
//! `kill -9`, at most once for actions, time order after a restart, cancel, and a cron that
//! neither overlaps nor runs a tick twice across a restart. The official clients' view
//! (atomicity, live updates) is in `tests/compat/scheduler_client.test.mjs`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::common::{Server, port_of, run_node_suite};

/// Calls a function over HTTP with clean JSON; `Err` carries the error message (or the
/// transport failure, e.g. while the server is down).
async fn call(url: &str, kind: &str, path: &str, args: Json) -> Result<Json, String> {
    let body = json!({ "path": path, "args": args, "format": "json" }).to_string();
    let client = crate::common::client();
    let req = hyper::Request::post(format!("{url}/api/{kind}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let reply: Json = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    match reply["status"].as_str() {
        Some("success") => Ok(reply["value"].clone()),
        _ => Err(reply["errorMessage"]
            .as_str()
            .unwrap_or("no message")
            .to_owned()),
    }
}

async fn query(server: &Server, path: &str) -> Json {
    call(&server.url, "query", path, json!({})).await.unwrap()
}

/// Polls `check` until it holds, or fails with `what` after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kinds(jobs: &Json) -> Vec<String> {
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_mutations_run_exactly_once_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let port = port_of(&server.url);
    let mut scheduled = BTreeSet::new();
    let mut crashes = 0;
    for i in 0..200 {
        let text = format!("reminder-{i:03}");
        loop {
            // The delay spreads the runs over the crashes too.
            let args = json!({ "text": text, "delayMs": f64::from(i % 7) * 60.0 });
            match call(&server.url, "mutation", "reminders:schedule", args).await {
                Ok(_) => break,
                Err(e) => {
                    // A reply lost to a crash may still have committed: look before retrying.
                    let jobs = call(&server.url, "query", "reminders:jobs", json!({})).await;
                    if let Ok(jobs) = jobs
                        && jobs
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|j| j["args"]["text"] == text)
                    {
                        break;
                    }
                    eprintln!("retrying {text}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        scheduled.insert(text);
        // A crash every 40 reminders, while earlier ones are due and firing.
        if i % 40 == 39 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            server.crash();
            crashes += 1;
            server = Server::start_on(dir.path(), port);
        }
    }
    // One more crash while the last jobs are due.
    server.crash();
    server = Server::start_on(dir.path(), port);
    assert!(crashes >= 3, "only {crashes} crashes while scheduling");
    eventually(
        Duration::from_secs(60),
        "every reminder to fire",
        || async {
            kinds(&query(&server, "reminders:jobs").await)
                .iter()
                .all(|k| k == "success")
        },
    )
    .await;
    let jobs = query(&server, "reminders:jobs").await;
    assert_eq!(jobs.as_array().unwrap().len(), 200, "one job per reminder");
    let fired = query(&server, "reminders:list").await;
    let texts: Vec<&str> = fired
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = texts.iter().copied().collect();
    assert_eq!(texts.len(), 200, "every scheduled mutation ran once");
    assert_eq!(distinct.len(), 200, "no reminder fired twice");
    assert!(distinct.iter().all(|t| scheduled.contains(*t)));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_killed_mid_run_is_failed_not_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = port_of(&server.url);
    call(
        &server.url,
        "mutation",
        "demo:scheduleSleep",
        json!({ "ms": 3000.0 }),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(10), "the action to start", || async {
        kinds(&query(&server, "demo:sleepJobs").await) == ["inProgress"]
    })
    .await;
    server.crash();
    let server = Server::start_on(dir.path(), port);
    // Failed once the dead process's lease expires (10 s, looked at every 2 s).
    eventually(
        Duration::from_secs(40),
        "the interrupted action to be failed",
        || async { kinds(&query(&server, "demo:sleepJobs").await) == ["failed"] },
    )
    .await;
    let jobs = query(&server, "demo:sleepJobs").await;
    assert_eq!(
        jobs[0]["state"]["error"], "Transient error while executing action",
        "{jobs}"
    );
    // Longer than the action would take: it never runs again, so `slept` stays 0.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let slept = call(
        &server.url,
        "query",
        "counter:get",
        json!({ "name": "slept" }),
    )
    .await
    .unwrap();
    assert_eq!(slept["value"], "0", "the action ran again: {slept}");
    assert_eq!(kinds(&query(&server, "demo:sleepJobs").await), ["failed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn overdue_jobs_run_in_time_order_after_a_restart_and_canceled_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = port_of(&server.url);
    // Scheduled out of order; due between 1.0 and 1.4 s from now.
    let order = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4];
    for i in order {
        let args = json!({ "text": format!("due-{i}"), "delayMs": 1000.0 + f64::from(i) * 40.0 });
        call(&server.url, "mutation", "reminders:schedule", args)
            .await
            .unwrap();
    }
    let doomed = call(
        &server.url,
        "mutation",
        "reminders:schedule",
        json!({ "text": "canceled", "delayMs": 1200.0 }),
    )
    .await
    .unwrap();
    call(
        &server.url,
        "mutation",
        "reminders:cancel",
        json!({ "id": doomed }),
    )
    .await
    .unwrap();
    server.crash();
    // Everything is overdue when the server comes back.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let server = Server::start_on(dir.path(), port);
    eventually(Duration::from_secs(20), "the overdue reminders", || async {
        query(&server, "reminders:list")
            .await
            .as_array()
            .unwrap()
            .len()
            == 10
    })
    .await;
    let fired = query(&server, "reminders:list").await;
    let texts: Vec<String> = fired
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("due-{i}")).collect();
    assert_eq!(texts, expected, "overdue jobs ran in time order");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs = query(&server, "reminders:jobs").await;
    let canceled: Vec<&Json> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["_id"] == doomed)
        .collect();
    assert_eq!(canceled[0]["state"]["kind"], "canceled", "{jobs}");
    assert_eq!(
        query(&server, "reminders:list")
            .await
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_second_cron_never_overlaps_or_repeats_a_tick_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cron = ["--demo-cron-secs", "1"];
    let server = Server::start_with(dir.path(), 0, &cron, &[]);
    let port = port_of(&server.url);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    server.interrupt();
    let server = Server::start_with(dir.path(), port, &cron, &[]);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    // A crash too, then a last stretch.
    server.crash();
    let server = Server::start_with(dir.path(), port, &cron, &[]);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let ticks = query(&server, "demo:cronTicks").await;
    let ticks = ticks.as_array().unwrap();
    let ran: Vec<&Json> = ticks
        .iter()
        .filter(|t| t["state"]["kind"] == "success")
        .collect();
    assert!(ran.len() >= 5, "too few ticks ran: {ticks:?}");
    let open = ticks
        .iter()
        .filter(|t| matches!(t["state"]["kind"].as_str(), Some("pending" | "inProgress")))
        .count();
    assert_eq!(open, 1, "exactly one next tick is pending: {ticks:?}");
    let times: Vec<f64> = ran
        .iter()
        .map(|t| t["scheduledTime"].as_f64().unwrap())
        .collect();
    for pair in ran.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (a_at, b_at) = (
            a["scheduledTime"].as_f64().unwrap(),
            b["scheduledTime"].as_f64().unwrap(),
        );
        assert!(b_at - a_at >= 999.0, "two runs for one tick: {times:?}");
        assert!(
            a["completedTime"].as_f64().unwrap() <= b_at + 1.0,
            "runs overlapped: {a} {b}"
        );
    }
    let counter = call(
        &server.url,
        "query",
        "counter:get",
        json!({ "name": "cron" }),
    )
    .await
    .unwrap();
    assert_eq!(
        counter["value"],
        ran.len().to_string(),
        "each successful tick incremented once"
    );
    // The log labels cron runs.
    let log = server.stdout.lock().join("\n");
    assert!(log.contains("M counter:increment (cron) success"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn official_clients_see_atomic_scheduling_and_live_reminders() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    run_node_suite(
        "scheduler_client.test.mjs",
        "convex",
        &[("CONVEX_URL", server.url.as_str())],
        3,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_lists_jobs_and_cancels_only_from_its_own_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let id = call(
        &server.url,
        "mutation",
        "reminders:schedule",
        json!({ "text": "later", "delayMs": 60_000.0 }),
    )
    .await
    .unwrap();
    let id = id.as_str().unwrap().to_owned();
    let (status, _, page) = crate::common::send(
        "GET",
        &format!("{}/_dashboard/jobs", server.url),
        vec![],
        &[],
    )
    .await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains(&id) && page.contains("reminders:fire") && page.contains("pending"),
        "{page}"
    );
    let host = server.url.trim_start_matches("http://").to_owned();
    let cancel = |origin: Option<String>| {
        let url = format!("{}/_dashboard/jobs/cancel", server.url);
        let body = format!("id={id}").into_bytes();
        let host = host.clone();
        async move {
            let mut headers = vec![
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                ("host", host),
            ];
            if let Some(origin) = origin {
                headers.push(("origin", origin));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            crate::common::send("POST", &url, body, &headers).await.0
        }
    };
    assert_eq!(cancel(None).await, 403, "a POST without Origin is refused");
    assert_eq!(
        cancel(Some("http://evil.example".to_owned())).await,
        403,
        "another site cannot cancel"
    );
    assert_eq!(kinds(&query(&server, "reminders:jobs").await), ["pending"]);
    assert_eq!(cancel(Some(format!("http://{host}"))).await, 303);
    assert_eq!(kinds(&query(&server, "reminders:jobs").await), ["canceled"]);
    let (_, _, metrics) =
        crate::common::send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("ferrovex_scheduled_jobs_total{outcome=\"success\"}"));
    assert!(metrics.contains("ferrovex_scheduler_lag_seconds_count"));
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_sixteen_scheduled_actions_run_at_once_and_the_rest_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for _ in 0..20 {
        call(
            &server.url,
            "mutation",
            "demo:scheduleSleep",
            json!({ "ms": 1500.0 }),
        )
        .await
        .unwrap();
    }
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = kinds(&query(&server, "demo:sleepJobs").await);
        let running = states.iter().filter(|k| *k == "inProgress").count();
        most = most.max(running);
        assert!(
            running <= 16,
            "{running} actions running at once: {states:?}"
        );
        if states.iter().all(|k| k == "success") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the actions did not finish: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(most, 16, "the bound is reached, not undershot");
    let slept = call(
        &server.url,
        "query",
        "counter:get",
        json!({ "name": "slept" }),
    )
    .await
    .unwrap();
    assert_eq!(slept["value"], "20", "each action ran once");
}

/// The counter `slept`: how many `demo:sleep` actions ran to their end.
async fn slept(server: &Server) -> Json {
    call(
        &server.url,
        "query",
        "counter:get",
        json!({ "name": "slept" }),
    )
    .await
    .unwrap()["value"]
        .clone()
}

/// Instances on one PostgreSQL database leave each other's running actions alone: one that
/// starts while another runs an action does not fail it, and the action of an instance killed
/// with `kill -9` is failed by a survivor once its lease expires, never re-run.
#[tokio::test(flavor = "multi_thread")]
async fn instances_leave_each_others_running_actions_alone_and_fail_a_dead_ones() {
    let (_cluster, url) = crate::scaleout::cluster();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let on_pg = ["--database-url", url.as_str()];
    let a = Server::start_with(dir_a.path(), 0, &on_pg, &[]);
    call(
        &a.url,
        "mutation",
        "demo:scheduleSleep",
        json!({ "ms": 4000.0 }),
    )
    .await
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "the action to start on A",
        || async { kinds(&query(&a, "demo:sleepJobs").await) == ["inProgress"] },
    )
    .await;
    // B starts while A runs the action: B must not take it for abandoned.
    let b = Server::start_with(dir_b.path(), 0, &on_pg, &[]);
    eventually(Duration::from_secs(30), "A's action to succeed", || async {
        kinds(&query(&b, "demo:sleepJobs").await) == ["success"]
    })
    .await;
    assert_eq!(slept(&b).await, "1");
    // With B stopped, A runs the next one; B comes back; A is killed mid-run.
    b.interrupt();
    call(
        &a.url,
        "mutation",
        "demo:scheduleSleep",
        json!({ "ms": 4000.0 }),
    )
    .await
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "A to start the second action",
        || async { kinds(&query(&a, "demo:sleepJobs").await).contains(&"inProgress".to_owned()) },
    )
    .await;
    let b = Server::start_with(dir_b.path(), 0, &on_pg, &[]);
    a.crash();
    eventually(
        Duration::from_secs(40),
        "B to fail the dead instance's action",
        || async {
            let mut k = kinds(&query(&b, "demo:sleepJobs").await);
            k.sort();
            k == ["failed", "success"]
        },
    )
    .await;
    let jobs = query(&b, "demo:sleepJobs").await;
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["state"]["error"] == "Transient error while executing action"),
        "{jobs}"
    );
    // Longer than the action takes: it is never re-run.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(slept(&b).await, "1");
}
