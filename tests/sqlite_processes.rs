//! SQLite shared by several real processes, as when the cluster runs several nodes on one host,
//! and the writer's group commit.
//!
//! `processes_share_one_file` re-executes this test binary three times, running only the
//! ignored `child_writer` test in each child, with the database path and the writer's number in
//! the environment. The children start at the same instant on a file that does not exist yet,
//! so they also race to create it and apply the migrations.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::{join_all, try_join_all};
use switchboard::domain::{Author, ConversationId, Message, Seq, VisitorId};
use switchboard::store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::store::{Fence, MessageStore, SiteStore};

const DB_ENV: &str = "SWITCHBOARD_TEST_SHARED_DB";
const WRITER_ENV: &str = "SWITCHBOARD_TEST_WRITER";
const START_ENV: &str = "SWITCHBOARD_TEST_START_AT_MS";
const WRITERS: u64 = 3;
const PER_WRITER: Seq = 300;
/// Appends a child keeps in flight at once (so its own writer group-commits too).
const WINDOW: usize = 20;
const SECRET_NAME: &str = "cluster-signing-key";

/// Each writer's conversation: fixed ids, so parent and children agree without talking.
fn conversation_of(writer: u64) -> ConversationId {
    ConversationId(uuid::Uuid::from_u128(0x5157_0000 + u128::from(writer)))
}

fn message(writer: u64, seq: Seq) -> Message {
    Message {
        conversation_id: conversation_of(writer),
        seq,
        client_msg_id: Some(format!("w{writer}-{seq}")),
        author: Author::Visitor {
            id: VisitorId(uuid::Uuid::from_u128(u128::from(writer))),
        },
        body: format!("writer {writer} message {seq}"),
        at: 1_700_000_000_000 + seq as i64,
        extra: Default::default(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One node process: open the shared file, claim the cluster secret, append its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of processes_share_one_file"]
async fn child_writer() {
    let Ok(path) = std::env::var(DB_ENV) else {
        println!("{DB_ENV} is not set: this test only runs as a child of processes_share_one_file");
        return;
    };
    let writer: u64 = std::env::var(WRITER_ENV)
        .expect("writer number")
        .parse()
        .expect("writer number");
    let start_at: u64 = std::env::var(START_ENV)
        .expect("start time")
        .parse()
        .expect("start time");
    // Line up with the other children so they really open, migrate and write at once.
    tokio::time::sleep(Duration::from_millis(start_at.saturating_sub(now_ms()))).await;

    let store = SqliteStore::open(SqliteOptions::new(path))
        .await
        .expect("open shared db");
    let fresh = format!("secret of writer {writer}");
    let secret = store
        .secret(SECRET_NAME, fresh.as_bytes())
        .await
        .expect("secret");
    println!("SECRET {}", String::from_utf8_lossy(&secret));

    let seqs: Vec<Seq> = (1..=PER_WRITER).collect();
    for window in seqs.chunks(WINDOW) {
        try_join_all(window.iter().map(|&seq| {
            let store = &store;
            async move {
                store
                    .append_message(&message(writer, seq), Fence::UNCHECKED)
                    .await
            }
        }))
        .await
        .expect("append");
    }
    let stats = store.commit_stats();
    println!(
        "CHILD DONE writer={writer} transactions={} writes={}",
        stats.transactions, stats.writes
    );
}

#[test]
fn processes_share_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shared.db");
    let exe = std::env::current_exe().expect("own test binary");
    let start_at = now_ms() + 1500;

    let children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_writer",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DB_ENV, &path)
                .env(WRITER_ENV, writer.to_string())
                .env(START_ENV, start_at.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start child process")
        })
        .collect();

    let mut secrets = Vec::new();
    for (writer, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait for child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "child {writer} failed: {}\n{stdout}\n{stderr}",
            out.status
        );
        // A filter that matched nothing would "pass" silently: demand the child's own line.
        let done = format!("CHILD DONE writer={writer} ");
        assert!(
            stdout.contains(&done),
            "child {writer} did not run:\n{stdout}\n{stderr}"
        );
        println!(
            "{}",
            stdout.lines().find(|l| l.contains(&done)).unwrap_or("")
        );
        secrets.extend(
            stdout
                .lines()
                // libtest may print "test child_writer ... " in front of the line.
                .filter_map(|l| l.split_once("SECRET ").map(|(_, secret)| secret))
                .map(str::to_owned),
        );
    }
    assert_eq!(secrets.len() as u64, WRITERS);
    assert!(
        secrets.iter().all(|s| s == &secrets[0]),
        "every node must get the same secret: {secrets:?}"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(SqliteOptions::new(&path))
            .await
            .expect("reopen");
        // Three processes raced to create the schema; it was applied once.
        assert_eq!(
            store.applied_migrations().await.unwrap(),
            switchboard::store::sqlite::migration_versions()
        );
        assert_eq!(
            store.secret(SECRET_NAME, b"late node").await.unwrap(),
            secrets[0].as_bytes()
        );
        for writer in 0..WRITERS {
            let stored = store
                .messages_after(conversation_of(writer), 0, 10_000)
                .await
                .unwrap();
            let expected: Vec<Message> = (1..=PER_WRITER).map(|s| message(writer, s)).collect();
            assert_eq!(stored.len(), expected.len(), "writer {writer}");
            assert_eq!(
                stored, expected,
                "writer {writer}: every message once, in order"
            );
        }
    });
}

/// Many concurrent appends from one process share transactions: one commit (one fsync with
/// `Synchronous::Full`) carries many of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_appends() {
    const N: u64 = 500;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("batch.db")))
        .await
        .expect("open");
    let histogram = &switchboard::metrics::COMMIT_BATCH;
    let (count_before, sum_before) = (histogram.get_sample_count(), histogram.get_sample_sum());

    // join_all polls every append once before any completes: all are queued together.
    let store = &store;
    let appends = (1..=N).map(|seq| async move {
        store
            .append_message(&message(9, seq), Fence::UNCHECKED)
            .await
    });
    let results = join_all(appends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let stats = store.commit_stats();
    println!(
        "{N} appends committed in {} transactions",
        stats.transactions
    );
    assert_eq!(stats.writes, N);
    assert!(
        stats.transactions * 2 <= stats.writes,
        "expected group commits, got {stats:?}"
    );
    // The same batches reached the process-wide histogram (other tests may add to it too).
    assert!(histogram.get_sample_count() - count_before >= stats.transactions);
    assert!(histogram.get_sample_sum() - sum_before >= N as f64);

    let stored = store
        .messages_after(conversation_of(9), 0, 1000)
        .await
        .unwrap();
    assert_eq!(stored.len() as u64, N);
}
