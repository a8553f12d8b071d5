//! Crash safety with the real binary: visitors write steadily, the process is killed with
//! SIGKILL mid-load, restarted on the same data dir, and every acknowledged message must be
//! there exactly once, in seq order. Retries of unacknowledged messages are deduplicated.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procs::NodeProc;
use common::*;
use serde_json::json;

/// The binary on an ephemeral port with `data_dir`, logging to `<data_dir>/round-<n>.log`.
fn start_node(data_dir: &Path, round: usize) -> NodeProc {
    NodeProc::start(data_dir, &format!("round-{round}"), 0, &[])
}

/// One visitor's record across rounds.
#[derive(Default, Clone)]
struct Record {
    token: String,
    conv: String,
    next: usize,
    /// seq -> client_msg_id, for every acknowledged send.
    acked: BTreeMap<u64, String>,
    /// Every client_msg_id ever sent (acknowledged or not).
    sent: Vec<String>,
}

/// Counters a writer shares with the test: acknowledged sends, and sends awaiting their ack.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    in_flight: AtomicUsize,
}

/// Send bursts of 8 messages every 160 ms (the 50/s rate limit on average, within the burst
/// allowance), so that at any moment several may be in flight, until the socket dies.
async fn write_until_killed(
    k: usize,
    mut v: Visitor,
    mut rec: Record,
    progress: Arc<Progress>,
) -> Record {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut last_burst = Instant::now() - Duration::from_secs(1);
    loop {
        if pending.is_empty() && last_burst.elapsed() >= Duration::from_millis(160) {
            last_burst = Instant::now();
            for _ in 0..8 {
                let cmid = format!("v{k}-{}", rec.next);
                let id = format!("s{}", rec.next);
                rec.next += 1;
                let frame = json!({"type":"send","id":id,"conversation_id":rec.conv,
                                   "client_msg_id":cmid,"body":format!("message {cmid}")});
                rec.sent.push(cmid.clone());
                pending.insert(id, cmid);
                progress.in_flight.fetch_add(1, Ordering::SeqCst);
                if !v.try_send_text(frame.to_string()).await {
                    return rec;
                }
            }
        }
        match v.next_frame(Duration::from_millis(10)).await {
            Some(f) if f["type"] == "ack" => {
                if let Some(cmid) = pending.remove(&s(&f["id"])) {
                    let seq = u(&f["result"]["seq"]);
                    assert_eq!(f["result"]["duplicate"], false, "{f}");
                    assert!(
                        rec.acked.insert(seq, cmid).is_none(),
                        "seq {seq} acked twice"
                    );
                    progress.in_flight.fetch_sub(1, Ordering::SeqCst);
                    progress.acked.fetch_add(1, Ordering::SeqCst);
                }
            }
            Some(f) if f["type"] == "error" => panic!("send failed under load: {f}"),
            Some(_) => {}
            None if v.closed.is_some() => return rec,
            None => {}
        }
    }
}

/// After a restart: the conversation holds every acknowledged message once, in order.
async fn verify(addr: SocketAddr, rec: &Record) -> HashMap<String, u64> {
    let mut v = Visitor::resume(addr, DEMO_SITE_KEY, &rec.token).await;
    let (messages, ack) = v.subscribe(&rec.conv, 0).await;
    let seqs: Vec<u64> = messages.iter().map(|m| u(&m["seq"])).collect();
    assert_contiguous(
        &seqs,
        1,
        u(&ack["last_seq"]),
        "stored messages after the crash",
    );
    let mut by_cmid: HashMap<String, u64> = HashMap::new();
    for m in &messages {
        if let Some(cmid) = m["client_msg_id"].as_str() {
            assert!(
                by_cmid.insert(cmid.to_owned(), u(&m["seq"])).is_none(),
                "client_msg_id {cmid} stored twice"
            );
        }
    }
    for (seq, cmid) in &rec.acked {
        assert_eq!(
            by_cmid.get(cmid),
            Some(seq),
            "acknowledged {cmid} (seq {seq}) lost or moved after the crash"
        );
    }
    // History agrees with the subscribe backlog.
    let h = v.history(&rec.conv, None, 200).await;
    let hseqs: Vec<u64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| u(&m["seq"]))
        .collect();
    assert_eq!(hseqs, seqs[seqs.len().saturating_sub(200)..].to_vec());
    by_cmid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    const VISITORS: usize = 4;
    const ROUNDS: usize = 2;
    let dir = tempfile::tempdir().unwrap();
    let mut records: Vec<Record> = vec![Record::default(); VISITORS];

    for round in 0..ROUNDS {
        let mut node = start_node(dir.path(), round);
        let progress: Vec<Arc<Progress>> = (0..VISITORS).map(|_| Arc::default()).collect();
        let mut tasks = Vec::new();
        for (k, rec) in records.iter().enumerate() {
            let mut rec = rec.clone();
            let v = if round == 0 {
                let mut v = Visitor::connect(node.addr, DEMO_SITE_KEY).await;
                let started = v.start().await;
                rec.conv = s(&started["conversation"]["id"]);
                rec.token = v.token.clone();
                v
            } else {
                Visitor::resume(node.addr, DEMO_SITE_KEY, &rec.token).await
            };
            tasks.push(tokio::spawn(write_until_killed(
                k,
                v,
                rec,
                progress[k].clone(),
            )));
        }

        // Once every visitor has a few dozen acknowledged messages this round, kill the process
        // at a moment when sends are in flight (or after a few more seconds regardless).
        let deadline = Instant::now() + Duration::from_secs(20);
        while progress.iter().any(|p| p.acked.load(Ordering::SeqCst) < 24) {
            assert!(Instant::now() < deadline, "load did not get going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline
            && progress
                .iter()
                .map(|p| p.in_flight.load(Ordering::SeqCst))
                .sum::<usize>()
                < 8
        {
            tokio::task::yield_now().await;
        }
        node.sigkill();
        for (k, t) in tasks.into_iter().enumerate() {
            records[k] = tokio::time::timeout(WAIT, t)
                .await
                .expect("writer noticed the crash")
                .expect("writer task");
        }

        let acked: usize = records.iter().map(|r| r.acked.len()).sum();
        let sent: usize = records.iter().map(|r| r.sent.len()).sum();
        eprintln!("round {round}: killed with {acked} acknowledged of {sent} sent so far");

        // Restart on the same data dir and check everything acknowledged is there.
        let node = start_node(dir.path(), round + 100);
        let ready = http(node.addr, "GET", "/readyz", None, None).await;
        assert_eq!(ready.status, 200, "{}", ready.text());
        for rec in &records {
            let stored = verify(node.addr, rec).await;

            // Retrying every unacknowledged message stores each at most once.
            let acked: HashSet<&String> = rec.acked.values().collect();
            let mut v = Visitor::resume(node.addr, DEMO_SITE_KEY, &rec.token).await;
            for cmid in rec.sent.iter().filter(|c| !acked.contains(c)) {
                let r = v.say(&rec.conv, cmid, &format!("message {cmid}")).await;
                match stored.get(cmid) {
                    Some(seq) => {
                        assert_eq!(r["duplicate"], true, "{cmid}: {r}");
                        assert_eq!(r["seq"], *seq);
                    }
                    None => assert_eq!(r["duplicate"], false, "{cmid}: {r}"),
                }
            }
        }
        // The retries are acknowledged now: fold them into the records.
        for rec in records.iter_mut() {
            let stored = verify(node.addr, rec).await;
            for cmid in &rec.sent {
                let seq = *stored
                    .get(cmid)
                    .unwrap_or_else(|| panic!("{cmid} missing after its retry was acked"));
                rec.acked.insert(seq, cmid.clone());
            }
        }
        drop(node);
    }
}
