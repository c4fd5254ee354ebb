//! The storage test suite every backend runs (feature `suite`): the contract of
//! [`Persistence`], [`ReadTxn`] and [`WriteTxn`], checked the same way on SQLite and PostgreSQL.
//!
//! A backend's integration test calls [`store_suite!`](crate::store_suite) with an expression
//! making a fresh, empty database each time; [`Backend::open`] opens another handle on that
//! same database (another process, in effect).

// Suite code may panic: a panic is a failed check with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrovex_values::Value;

use crate::index::{encode_fields, index_key};
use crate::{
    Clock, Document, DocumentId, IdGenerator, IndexDef, IndexId, KeyRange, Order, Persistence,
    StoreError, StoredOutcome, SystemClock, TableName, Timestamp,
};

/// One database under test.
pub trait Backend {
    /// A new handle on this backend's database, stamping commits with `clock`.
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Persistence>;
}

/// A clock a test moves by hand.
#[derive(Debug)]
pub struct ManualClock(pub AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

fn table() -> TableName {
    TableName::system("items")
}

fn by_n() -> IndexDef {
    IndexDef {
        table: table(),
        name: "by_n".to_owned(),
        fields: vec!["n".to_owned()],
        search: None,
    }
}

fn by_label() -> IndexDef {
    IndexDef {
        table: table(),
        name: "by_label".to_owned(),
        fields: vec!["label".to_owned()],
        search: None,
    }
}

fn doc(n: i64, label: &str) -> Document {
    let ids = IdGenerator::default();
    Document {
        id: ids.generate(&SystemClock),
        table: table(),
        creation_time: 1_700_000_000_000.0 + n as f64,
        fields: BTreeMap::from([
            ("n".to_owned(), Value::Int64(n)),
            ("label".to_owned(), Value::from(label)),
        ]),
    }
}

fn n_key(n: i64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_fields([Some(&Value::Int64(n))], &mut out);
    out
}

/// `[from, to)` over the `n` field of `by_n`.
fn n_range(from: i64, to: i64) -> KeyRange {
    KeyRange {
        start: n_key(from),
        end: Some(n_key(to)),
    }
}

fn ns(entries: &[crate::IndexEntry]) -> Vec<i64> {
    entries
        .iter()
        .map(|e| match e.document.fields.get("n") {
            Some(Value::Int64(n)) => *n,
            other => panic!("n is {other:?}"),
        })
        .collect()
}

fn open(b: &dyn Backend) -> Arc<dyn Persistence> {
    let p = b.open(Arc::new(SystemClock));
    p.open_indexes(&[by_n(), by_label()]).unwrap();
    p
}

fn insert_all(p: &dyn Persistence, docs: &[Document]) -> Timestamp {
    let mut txn = p.begin_write().unwrap();
    for d in docs {
        txn.insert(d).unwrap();
    }
    txn.commit().unwrap()
}

/// Insert, get, replace and delete, with the errors for clashes and missing documents.
pub fn documents_round_trip(b: &dyn Backend) {
    let p = open(b);
    let d = doc(1, "one");
    insert_all(p.as_ref(), std::slice::from_ref(&d));
    let mut read = p.begin_read().unwrap();
    assert_eq!(read.get(&d.id).unwrap().as_ref(), Some(&d));
    drop(read);
    let mut txn = p.begin_write().unwrap();
    assert!(matches!(txn.insert(&d), Err(StoreError::AlreadyExists(_))));
    drop(txn);
    let mut changed = d.clone();
    changed
        .fields
        .insert("label".to_owned(), Value::from("uno"));
    // The table and creation time cannot change through replace.
    changed.creation_time = 5.0;
    let mut txn = p.begin_write().unwrap();
    let old = txn.replace(&changed).unwrap();
    assert_eq!(old, d);
    let got = txn.get(&d.id).unwrap().unwrap();
    assert_eq!(
        got.fields["label"],
        Value::from("uno"),
        "reads see own writes"
    );
    txn.commit().unwrap();
    let mut read = p.begin_read().unwrap();
    let stored = read.get(&d.id).unwrap().unwrap();
    assert_eq!(stored.creation_time, d.creation_time);
    drop(read);
    let missing = DocumentId::from_stored("missing".to_owned());
    let mut txn = p.begin_write().unwrap();
    assert!(matches!(
        txn.replace(&Document {
            id: missing.clone(),
            ..d.clone()
        }),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(txn.delete(&missing), Err(StoreError::NotFound(_))));
    assert_eq!(
        txn.delete(&d.id).unwrap().fields["label"],
        Value::from("uno")
    );
    txn.commit().unwrap();
    assert_eq!(p.begin_read().unwrap().get(&d.id).unwrap(), None);
}

/// Scans return keys in order both ways, honour bounds and limits, and follow replaces and
/// deletes; the creation-time index exists without being declared.
pub fn scans_follow_key_order_bounds_limits_and_changes(b: &dyn Backend) {
    let p = open(b);
    let docs: Vec<Document> = [5, 3, 9, 1, 7, 3, 12]
        .iter()
        .map(|n| doc(*n, "x"))
        .collect();
    insert_all(p.as_ref(), &docs);
    let idx = by_n().id();
    let mut r = p.begin_read().unwrap();
    let all = r.scan(&idx, &KeyRange::all(), Order::Asc, 100).unwrap();
    assert_eq!(ns(&all), vec![1, 3, 3, 5, 7, 9, 12]);
    let keys: Vec<&Vec<u8>> = all.iter().map(|e| &e.key).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys strictly increase"
    );
    assert_eq!(all[0].key, index_key(&by_n(), &all[0].document));
    assert_eq!(
        ns(&r.scan(&idx, &KeyRange::all(), Order::Desc, 3).unwrap()),
        vec![12, 9, 7]
    );
    assert_eq!(
        ns(&r.scan(&idx, &n_range(3, 9), Order::Asc, 100).unwrap()),
        vec![3, 3, 5, 7]
    );
    assert_eq!(
        ns(&r.scan(&idx, &n_range(3, 9), Order::Desc, 2).unwrap()),
        vec![7, 5]
    );
    assert!(
        r.scan(&idx, &n_range(9, 3), Order::Asc, 100)
            .unwrap()
            .is_empty()
    );
    assert!(
        r.scan(&idx, &KeyRange::all(), Order::Asc, 0)
            .unwrap()
            .is_empty()
    );
    let by_time = IndexId::new(&table(), crate::CREATION_TIME_INDEX);
    assert_eq!(
        r.scan(&by_time, &KeyRange::all(), Order::Asc, 100)
            .unwrap()
            .len(),
        7
    );
    drop(r);
    // Moving a document moves its entry; a deleted one leaves none.
    let mut txn = p.begin_write().unwrap();
    let mut moved = docs[0].clone();
    moved.fields.insert("n".to_owned(), Value::Int64(100));
    txn.replace(&moved).unwrap();
    txn.delete(&docs[2].id).unwrap();
    txn.commit().unwrap();
    let mut r = p.begin_read().unwrap();
    assert_eq!(
        ns(&r.scan(&idx, &KeyRange::all(), Order::Asc, 100).unwrap()),
        vec![1, 3, 3, 7, 12, 100]
    );
}

/// A snapshot never sees later commits; its timestamp is the latest commit it sees.
pub fn snapshots_are_isolated(b: &dyn Backend) {
    let p = open(b);
    let first = insert_all(p.as_ref(), &[doc(1, "a")]);
    let mut before = p.begin_read().unwrap();
    assert_eq!(before.ts(), first);
    let second = insert_all(p.as_ref(), &[doc(2, "b")]);
    assert!(second > first);
    let idx = by_n().id();
    assert_eq!(
        ns(&before.scan(&idx, &KeyRange::all(), Order::Asc, 10).unwrap()),
        vec![1]
    );
    let mut after = p.begin_read().unwrap();
    assert_eq!(after.ts(), second);
    assert_eq!(
        ns(&after.scan(&idx, &KeyRange::all(), Order::Asc, 10).unwrap()),
        vec![1, 2]
    );
    assert_eq!(p.latest_ts(), second);
    assert_eq!(p.stored_latest_ts().unwrap(), second);
}

/// A write transaction dropped without commit leaves nothing: documents, index entries, meta,
/// mutation outcomes and its commit log record; the next one works normally.
pub fn dropped_write_leaves_no_trace(b: &dyn Backend) {
    let p = open(b);
    let kept = insert_all(p.as_ref(), &[doc(1, "kept")]);
    let mut txn = p.begin_write().unwrap();
    let d = doc(2, "gone");
    txn.insert(&d).unwrap();
    txn.put_meta("k", "v").unwrap();
    txn.record_mutation_outcome(
        "s",
        1,
        &StoredOutcome {
            ts: txn.ts(),
            body: "{}".into(),
        },
    )
    .unwrap();
    txn.log_writes(vec![1, 2, 3]);
    drop(txn);
    let mut r = p.begin_read().unwrap();
    assert_eq!(r.ts(), kept);
    assert_eq!(r.get(&d.id).unwrap(), None);
    assert_eq!(
        ns(&r
            .scan(&by_n().id(), &KeyRange::all(), Order::Asc, 10)
            .unwrap()),
        vec![1]
    );
    drop(r);
    assert!(p.read_commit_log(kept, 10).unwrap().records.is_empty());
    let mut txn = p.begin_write().unwrap();
    assert_eq!(txn.get_meta("k").unwrap(), None);
    assert_eq!(txn.find_mutation_outcome("s", 1).unwrap(), None);
    txn.insert(&d).unwrap();
    assert!(txn.commit().unwrap() > kept);
}

/// Meta records and mutation outcomes: stored in the transaction, replaced, pruned by age.
pub fn meta_and_mutation_outcomes(b: &dyn Backend) {
    let p = open(b);
    let mut txn = p.begin_write().unwrap();
    txn.put_meta("k", "v1").unwrap();
    txn.put_meta("k", "v2").unwrap();
    let ts = txn.ts();
    txn.record_mutation_outcome(
        "session",
        7,
        &StoredOutcome {
            ts,
            body: "b".into(),
        },
    )
    .unwrap();
    txn.commit().unwrap();
    let mut txn = p.begin_write().unwrap();
    assert_eq!(txn.get_meta("k").unwrap().as_deref(), Some("v2"));
    let found = txn.find_mutation_outcome("session", 7).unwrap().unwrap();
    assert_eq!(
        found,
        StoredOutcome {
            ts,
            body: "b".into()
        }
    );
    assert_eq!(txn.find_mutation_outcome("session", 8).unwrap(), None);
    assert_eq!(txn.find_mutation_outcome("other", 7).unwrap(), None);
    assert_eq!(
        txn.find_mutation_outcome("session", u32::MAX).unwrap(),
        None
    );
    assert_eq!(txn.prune_mutation_outcomes(ts).unwrap(), 0);
    let later = Timestamp::from_nanos(ts.as_nanos() + 1);
    assert_eq!(txn.prune_mutation_outcomes(later).unwrap(), 1);
    assert_eq!(txn.find_mutation_outcome("session", 7).unwrap(), None);
    txn.commit().unwrap();
}

/// Timestamps strictly increase across handles on one database and across reopening, even
/// when the clocks go backwards.
pub fn timestamps_increase_across_handles_and_restarts(b: &dyn Backend) {
    let far = Arc::new(ManualClock(AtomicU64::new(4_000_000_000_000_000_000)));
    let a = b.open(far.clone());
    a.open_indexes(&[by_n()]).unwrap();
    let t1 = insert_all(a.as_ref(), &[doc(1, "a")]);
    assert_eq!(t1.as_nanos(), 4_000_000_000_000_000_000);
    // Another handle whose clock is far behind still commits after t1.
    let behind = Arc::new(ManualClock(AtomicU64::new(1)));
    let c = b.open(behind);
    c.open_indexes(&[by_n()]).unwrap();
    let t2 = insert_all(c.as_ref(), &[doc(2, "c")]);
    assert!(t2 > t1, "{t2:?} after {t1:?}");
    let t3 = insert_all(a.as_ref(), &[doc(3, "a")]);
    assert!(t3 > t2);
    drop(a);
    drop(c);
    let reopened = b.open(Arc::new(ManualClock(AtomicU64::new(5))));
    reopened.open_indexes(&[by_n()]).unwrap();
    assert_eq!(reopened.latest_ts(), t3);
    let t4 = insert_all(reopened.as_ref(), &[doc(4, "r")]);
    assert!(t4 > t3);
}

/// The commit log: each commit with a write set leaves one record, in order, tagged with its
/// handle's origin; other handles see it and the previous timestamp; pruning sets the floor.
pub fn commit_log_records_prune_and_floor(b: &dyn Backend) {
    let a = open(b);
    let c = open(b);
    assert_ne!(a.origin(), c.origin());
    let start = a.stored_latest_ts().unwrap();
    let mut txn = a.begin_write().unwrap();
    txn.insert(&doc(1, "a")).unwrap();
    txn.log_writes(b"first".to_vec());
    let t1 = txn.commit().unwrap();
    // A commit without a write set leaves no record.
    let t2 = insert_all(a.as_ref(), &[doc(2, "a")]);
    let mut txn = c.begin_write().unwrap();
    assert_eq!(
        txn.previous_ts(),
        t2,
        "the other handle's commit is the previous one"
    );
    txn.insert(&doc(3, "c")).unwrap();
    txn.log_writes(b"third".to_vec());
    let t3 = txn.commit().unwrap();
    let page = a.read_commit_log(start, 10).unwrap();
    let got: Vec<(Timestamp, u64, Vec<u8>)> = page
        .records
        .iter()
        .map(|r| (r.ts, r.origin, r.writes.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (t1, a.origin(), b"first".to_vec()),
            (t3, c.origin(), b"third".to_vec())
        ]
    );
    assert_eq!(page.through, t3);
    assert!(!page.more);
    assert_eq!(page.pruned_through, Timestamp::ZERO);
    // Paging.
    let first = a.read_commit_log(start, 1).unwrap();
    assert_eq!(first.records.len(), 1);
    assert!(first.more);
    assert_eq!(first.through, t1);
    assert_eq!(a.read_commit_log(t1, 10).unwrap().records[0].ts, t3);
    // Pruning everything before t3 moves the floor to t1.
    let mut txn = c.begin_write().unwrap();
    assert_eq!(txn.prune_commit_log(t3).unwrap(), 1);
    txn.commit().unwrap();
    let page = a.read_commit_log(start, 10).unwrap();
    assert_eq!(page.pruned_through, t1);
    assert_eq!(page.records.len(), 1);
}

/// `open_indexes` backfills a new index from stored documents and drops a removed one.
pub fn open_indexes_backfills_and_drops(b: &dyn Backend) {
    let p = b.open(Arc::new(SystemClock));
    p.open_indexes(&[by_n()]).unwrap();
    insert_all(p.as_ref(), &[doc(2, "b"), doc(1, "a"), doc(3, "c")]);
    let labels = by_label().id();
    let again = b.open(Arc::new(SystemClock));
    again.open_indexes(&[by_n(), by_label()]).unwrap();
    let mut r = again.begin_read().unwrap();
    let got = r.scan(&labels, &KeyRange::all(), Order::Asc, 10).unwrap();
    assert_eq!(ns(&got), vec![1, 2, 3], "backfilled in label order");
    drop(r);
    let third = b.open(Arc::new(SystemClock));
    third.open_indexes(&[by_label()]).unwrap();
    let mut r = third.begin_read().unwrap();
    assert!(
        r.scan(&by_n().id(), &KeyRange::all(), Order::Asc, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        r.scan(&labels, &KeyRange::all(), Order::Asc, 10)
            .unwrap()
            .len(),
        3
    );
}

/// Paging through an index with a key cursor, one snapshot per page, while another handle
/// keeps inserting and deleting on a thread of its own: keys strictly increase, and every
/// document that existed throughout is seen exactly once.
pub fn pagination_with_concurrent_writes(b: &dyn Backend) {
    let p = open(b);
    let writer = open(b);
    let stable: Vec<Document> = (0..60).map(|i| doc(i * 10, "stable")).collect();
    insert_all(p.as_ref(), &stable);
    let idx = by_n().id();
    let stop = std::sync::atomic::AtomicBool::new(false);
    // The writer starts once the first page is read, so everything it inserts with a negative
    // `n` is behind the cursor from the start.
    let first_page_read = std::sync::Barrier::new(2);
    let seen = std::thread::scope(|scope| {
        scope.spawn(|| {
            first_page_read.wait();
            let mut round = 0i64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let mut txn = writer.begin_write().unwrap();
                // Between stable keys (which are multiples of 10), never on one.
                let extra = doc(round * 37 % 60 * 10 + 5, "extra");
                txn.insert(&extra).unwrap();
                txn.insert(&doc(-round, "behind")).unwrap();
                txn.commit().unwrap();
                let mut txn = writer.begin_write().unwrap();
                txn.delete(&extra.id).unwrap();
                txn.commit().unwrap();
            }
        });
        let mut cursor: Vec<u8> = Vec::new();
        let mut seen: Vec<i64> = Vec::new();
        let mut last_key: Option<Vec<u8>> = None;
        loop {
            let page = {
                let mut r = p.begin_read().unwrap();
                let range = KeyRange {
                    start: cursor.clone(),
                    end: None,
                };
                r.scan(&idx, &range, Order::Asc, 7).unwrap()
            };
            let Some(last) = page.last() else { break };
            for e in &page {
                if let Some(prev) = &last_key {
                    assert!(&e.key > prev, "keys go forward");
                }
                last_key = Some(e.key.clone());
                seen.push(ns(std::slice::from_ref(e))[0]);
            }
            cursor = last.key.clone();
            cursor.push(0);
            if seen.len() == page.len() {
                first_page_read.wait();
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        seen
    });
    let stable_seen: Vec<i64> = seen
        .iter()
        .copied()
        .filter(|n| n % 10 == 0 && *n >= 0)
        .collect();
    let expected: Vec<i64> = (0..60).map(|i| i * 10).collect();
    assert_eq!(stable_seen, expected);
    assert!(
        seen.iter().all(|n| *n >= 0),
        "nothing inserted behind the cursor shows up"
    );
}

/// Index keys longer than a database page's btree entry (a 3 KB indexed string) still
/// insert, scan in order and delete.
pub fn long_index_keys_work(b: &dyn Backend) {
    let p = open(b);
    let long_a = format!("a{}", "x".repeat(3000));
    let long_b = format!("a{}y", "x".repeat(3000));
    let docs = [doc(1, &long_b), doc(2, &long_a), doc(3, "b")];
    insert_all(p.as_ref(), &docs);
    let mut r = p.begin_read().unwrap();
    let got = r
        .scan(&by_label().id(), &KeyRange::all(), Order::Asc, 10)
        .unwrap();
    assert_eq!(ns(&got), vec![2, 1, 3]);
    let mut prefix = Vec::new();
    encode_fields([Some(&Value::from(long_a.as_str()))], &mut prefix);
    let exact = r
        .scan(&by_label().id(), &KeyRange::prefix(prefix), Order::Desc, 10)
        .unwrap();
    assert_eq!(ns(&exact), vec![2]);
    drop(r);
    let mut txn = p.begin_write().unwrap();
    txn.delete(&docs[1].id).unwrap();
    txn.commit().unwrap();
    let mut r = p.begin_read().unwrap();
    assert_eq!(
        ns(&r
            .scan(&by_label().id(), &KeyRange::all(), Order::Asc, 10)
            .unwrap()),
        vec![1, 3]
    );
}

/// Write transactions of two handles (two instances) run one after the other: the second
/// begins only after the first committed, and then sees its writes. This is what makes a
/// read-modify-write mutation serializable across instances.
pub fn write_transactions_of_two_handles_run_one_after_the_other(b: &dyn Backend) {
    let a = open(b);
    let c = open(b);
    let d = doc(1, "v0");
    insert_all(a.as_ref(), std::slice::from_ref(&d));
    let mut first = a.begin_write().unwrap();
    let read_first = first.get(&d.id).unwrap().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut second = c.begin_write().unwrap();
            let seen = second.get(&d.id).unwrap().unwrap();
            tx.send(seen.fields["label"].clone()).unwrap();
            let mut next = seen.clone();
            next.fields.insert("label".to_owned(), Value::from("v2"));
            second.replace(&next).unwrap();
            second.commit().unwrap();
        });
        // The second writer is held while the first is open.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            rx.try_recv().is_err(),
            "a second writer ran while the first was open"
        );
        let mut changed = read_first.clone();
        changed.fields.insert("label".to_owned(), Value::from("v1"));
        first.replace(&changed).unwrap();
        first.commit().unwrap();
        assert_eq!(
            rx.recv().unwrap(),
            Value::from("v1"),
            "the second writer saw the first's write"
        );
    });
    let mut r = a.begin_read().unwrap();
    assert_eq!(
        r.get(&d.id).unwrap().unwrap().fields["label"],
        Value::from("v2")
    );
}

/// Declares one `#[test]` per suite check for a backend: `store_suite!(make_backend())`,
/// where the expression makes a fresh database for each test.
/// A search index's term entries are written, replaced and deleted with their document in the
/// same transaction, per filter value, and built for documents that existed before it.
pub fn search_index_entries_follow_every_write(b: &dyn Backend) {
    use crate::search::{SearchSpec, filter_prefix, term_range};
    let search = IndexDef {
        table: table(),
        name: "search_label".to_owned(),
        fields: Vec::new(),
        search: Some(SearchSpec {
            search_field: "label".to_owned(),
            filter_fields: vec!["n".to_owned()],
        }),
    };
    let p = b.open(Arc::new(SystemClock));
    p.open_indexes(&[by_n()]).unwrap();
    let before = doc(1, "Red fox");
    insert_all(p.as_ref(), std::slice::from_ref(&before));
    let p = b.open(Arc::new(SystemClock));
    p.open_indexes(&[by_n(), search.clone()]).unwrap();
    let id = search.id();
    let hits = |p: &Arc<dyn Persistence>, n: Option<i64>, term: &str, prefix: bool| {
        let (mask, values) = match n {
            Some(n) => (1, vec![Some(Value::Int64(n))]),
            None => (0, Vec::new()),
        };
        let range = term_range(&filter_prefix(mask, &values), term, prefix);
        let mut r = p.begin_read().unwrap();
        let mut got = ns(&r.scan(&id, &range, Order::Asc, 100).unwrap());
        got.sort_unstable();
        got
    };
    assert_eq!(
        hits(&p, None, "fox", false),
        vec![1],
        "built for existing documents"
    );
    let second = doc(2, "Brown FOX, foxes");
    insert_all(p.as_ref(), std::slice::from_ref(&second));
    assert_eq!(hits(&p, None, "fox", false), vec![1, 2]);
    assert_eq!(hits(&p, Some(2), "fox", false), vec![2], "filtered by n");
    assert_eq!(
        hits(&p, None, "fo", true),
        vec![1, 2, 2],
        "prefix: fox and foxes"
    );
    assert!(hits(&p, None, "fo", false).is_empty());
    let mut changed = second.clone();
    changed
        .fields
        .insert("label".to_owned(), Value::from("blue whale"));
    let mut txn = p.begin_write().unwrap();
    txn.replace(&changed).unwrap();
    txn.commit().unwrap();
    assert_eq!(hits(&p, None, "fox", false), vec![1]);
    assert_eq!(hits(&p, Some(2), "whale", false), vec![2]);
    let mut txn = p.begin_write().unwrap();
    txn.delete(&before.id).unwrap();
    drop(txn);
    assert_eq!(
        hits(&p, None, "fox", false),
        vec![1],
        "a dropped write changes nothing"
    );
    let mut txn = p.begin_write().unwrap();
    txn.delete(&before.id).unwrap();
    txn.commit().unwrap();
    assert!(hits(&p, None, "fox", false).is_empty());
    assert!(hits(&p, None, "red", false).is_empty());
}

#[macro_export]
macro_rules! store_suite {
    ($backend:expr) => {
        $crate::store_suite!(@tests $backend;
            documents_round_trip,
            scans_follow_key_order_bounds_limits_and_changes,
            snapshots_are_isolated,
            dropped_write_leaves_no_trace,
            meta_and_mutation_outcomes,
            timestamps_increase_across_handles_and_restarts,
            commit_log_records_prune_and_floor,
            open_indexes_backfills_and_drops,
            pagination_with_concurrent_writes,
            long_index_keys_work,
            write_transactions_of_two_handles_run_one_after_the_other,
            search_index_entries_follow_every_write,
        );
    };
    (@tests $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $backend;
                $crate::suite::$name(&backend);
            }
        )*
    };
}
