//! Writers that keep chatting through faults, the history they record, and the checker that
//! judges it against the final store (Jepsen-style, for one host).
//!
//! A [`Writer`] is a visitor with one conversation. It sends numbered messages one at a time,
//! records each send, ack (with its seq) and failure, and every `message` frame it receives.
//! On any failure (an error, a timeout, a closed socket) it reconnects to the next node and
//! resumes: `hello` with its token, `subscribe` after the last seq it saw, and the same
//! `client_msg_id` again for a message whose ack it never got. It never panics on the
//! network: faults are the point.
//!
//! [`check`] then holds the history to the rules (docs/cluster.md, "What the tests check"):
//! every acked message is stored exactly once, at its acked seq; a conversation's seqs are
//! unique and its epochs never decrease along them; holes only where sends failed; every
//! writer saw its conversation's messages in strictly increasing order, each once, and in the
//! end all of them.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a writer waits for any one answer before it gives up on the socket.
const ANSWER: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub enum Event {
    Sent { cid: String },
    Acked { cid: String, seq: u64 },
    Failed { cid: String, why: String },
    Delivered { seq: u64 },
}

/// One writer's history, with the time of each event.
#[derive(Default)]
pub struct History {
    pub conversation: String,
    pub events: Vec<(Instant, Event)>,
}

impl History {
    fn push(&mut self, event: Event) {
        self.events.push((Instant::now(), event));
    }

    pub fn acked(&self) -> impl Iterator<Item = (Instant, &str, u64)> {
        self.events.iter().filter_map(|(at, e)| match e {
            Event::Acked { cid, seq } => Some((*at, cid.as_str(), *seq)),
            _ => None,
        })
    }

    pub fn failures(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Failed { .. }))
            .count()
    }

    pub fn delivered(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Delivered { seq } => Some(*seq),
                _ => None,
            })
            .collect()
    }
}

/// A visitor writing to its own conversation through any node, until told to stop.
pub struct Writer {
    pub history: Arc<Mutex<History>>,
    token: String,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

struct Session {
    ws: Ws,
    next_id: u64,
}

impl Writer {
    /// Start a writer: a new visitor on `nodes[first]` opens a conversation, then writes a
    /// message every `think`, moving on to the next node whenever one fails it.
    pub async fn start(
        nodes: Vec<SocketAddr>,
        first: usize,
        site: &str,
        think: Duration,
    ) -> Writer {
        let history = Arc::new(Mutex::new(History::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (mut session, token, conversation) = open(nodes[first % nodes.len()], site).await;
        history.lock().conversation = conversation.clone();
        subscribe(&mut session, &conversation, 0, &history).await;
        let task = tokio::spawn(write(
            nodes,
            first,
            site.to_owned(),
            token.clone(),
            conversation,
            think,
            session,
            history.clone(),
            stop.clone(),
        ));
        Writer {
            history,
            token,
            stop,
            task,
        }
    }

    /// Stop writing, then catch up on a fresh socket (the first node that answers): every
    /// message after the last one seen, which after the stop is all of them.
    pub async fn finish(self, nodes: &[SocketAddr], site: &str) -> History {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let (conversation, after) = {
            let h = self.history.lock();
            (
                h.conversation.clone(),
                h.delivered().last().copied().unwrap_or(0),
            )
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        'catch_up: while Instant::now() < deadline {
            for node in nodes {
                if let Some((mut session, _)) = hello(*node, site, Some(&self.token)).await {
                    if subscribe(&mut session, &conversation, after, &self.history).await {
                        break 'catch_up;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let history = std::mem::take(&mut *self.history.lock());
        history
    }
}

async fn connect(node: SocketAddr) -> Option<Ws> {
    let url = format!("ws://{node}/ws");
    match tokio::time::timeout(ANSWER, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((ws, _))) => Some(ws),
        _ => None,
    }
}

impl Session {
    async fn send(&mut self, mut frame: Value) -> Option<String> {
        self.next_id += 1;
        let id = format!("w{}", self.next_id);
        frame["id"] = json!(id);
        let sent =
            tokio::time::timeout(ANSWER, self.ws.send(WsMessage::text(frame.to_string()))).await;
        matches!(sent, Ok(Ok(()))).then_some(id)
    }

    /// The next JSON frame, or `None` on timeout or close.
    async fn next(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(ANSWER, self.ws.next()).await {
                Ok(Some(Ok(WsMessage::Text(text)))) => return serde_json::from_str(&text).ok(),
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }
}

/// A visitor's hello (resuming `token` if given): the session, the welcome.
async fn hello(node: SocketAddr, site: &str, token: Option<&str>) -> Option<(Session, Value)> {
    let ws = connect(node).await?;
    let mut session = Session { ws, next_id: 0 };
    let mut frame = json!({"type":"hello","v":1,"role":"visitor","site":site});
    if let Some(token) = token {
        frame["visitor_token"] = json!(token);
    }
    let id = session.send(frame).await?;
    loop {
        let f = session.next().await?;
        if f["id"] == id.as_str() {
            return (f["type"] == "welcome").then_some((session, f));
        }
    }
}

/// A new visitor and its conversation; panics if the cluster cannot even do that.
async fn open(node: SocketAddr, site: &str) -> (Session, String, String) {
    let (mut session, welcome) = hello(node, site, None)
        .await
        .unwrap_or_else(|| panic!("no welcome from {node}"));
    let token = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = session
        .send(json!({"type":"start"}))
        .await
        .expect("start sent");
    loop {
        let f = session.next().await.expect("an answer to start");
        if f["id"] == id.as_str() {
            assert_eq!(f["type"], "ack", "start: {f}");
            let conversation = f["result"]["conversation"]["id"]
                .as_str()
                .expect("conversation id")
                .to_owned();
            return (session, token, conversation);
        }
    }
}

/// Record a `message` frame of the writer's conversation.
fn note(frame: &Value, conversation: &str, history: &Mutex<History>) {
    if frame["type"] == "message" && frame["conversation_id"] == conversation {
        if let Some(seq) = frame["seq"].as_u64() {
            history.lock().push(Event::Delivered { seq });
        }
    }
}

/// Subscribe after `after`; true once acked (the gap before the ack is recorded).
async fn subscribe(
    session: &mut Session,
    conversation: &str,
    after: u64,
    history: &Mutex<History>,
) -> bool {
    let frame = json!({"type":"subscribe","conversation_id":conversation,"after_seq":after});
    let Some(id) = session.send(frame).await else {
        return false;
    };
    while let Some(f) = session.next().await {
        note(&f, conversation, history);
        if f["id"] == id.as_str() {
            return f["type"] == "ack";
        }
    }
    false
}

#[allow(clippy::too_many_arguments)]
async fn write(
    nodes: Vec<SocketAddr>,
    first: usize,
    site: String,
    token: String,
    conversation: String,
    think: Duration,
    session: Session,
    history: Arc<Mutex<History>>,
    stop: Arc<AtomicBool>,
) {
    let mut node = first;
    let mut session = Some(session);
    let mut n = 0u64;
    let mut pending: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let Some(s) = session.as_mut() else {
            // Reconnect to the next node and resume after the last message seen.
            node += 1;
            let addr = nodes[node % nodes.len()];
            let after = history.lock().delivered().last().copied().unwrap_or(0);
            if let Some((mut s, _)) = hello(addr, &site, Some(&token)).await {
                if subscribe(&mut s, &conversation, after, &history).await {
                    session = Some(s);
                    continue;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let cid = pending.clone().unwrap_or_else(|| {
            n += 1;
            format!("m{n}")
        });
        pending = Some(cid.clone());
        history.lock().push(Event::Sent { cid: cid.clone() });
        let frame = json!({"type":"send","conversation_id":conversation,"client_msg_id":cid,
            "body":format!("message {cid}")});
        let outcome = match s.send(frame).await {
            None => Err("send failed".to_owned()),
            Some(id) => loop {
                match s.next().await {
                    None => break Err("no answer".to_owned()),
                    Some(f) if f["id"] == id.as_str() && f["type"] == "ack" => {
                        break Ok(f["result"]["seq"].as_u64().unwrap_or(0))
                    }
                    Some(f) if f["id"] == id.as_str() => {
                        break Err(f["code"].as_str().unwrap_or("error").to_owned())
                    }
                    Some(f) if f["type"] == "goodbye" => break Err("goodbye".to_owned()),
                    Some(f) => note(&f, &conversation, &history),
                }
            },
        };
        match outcome {
            Ok(seq) => {
                history.lock().push(Event::Acked { cid, seq });
                pending = None;
                tokio::time::sleep(think).await;
            }
            Err(why) => {
                history.lock().push(Event::Failed { cid, why });
                // The same client id goes again on a fresh socket (dedup keeps it once).
                session = None;
            }
        }
    }
}

/// A stored message as the checker reads it from the shared SQLite file.
struct Stored {
    seq: u64,
    client_msg_id: Option<String>,
    epoch: u64,
}

fn stored_messages(db: &Path) -> HashMap<String, Vec<Stored>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the shared store");
    let mut stmt = conn
        .prepare(
            "SELECT conversation_id, seq, client_msg_id, epoch FROM messages
             ORDER BY conversation_id, seq",
        )
        .expect("prepare");
    let mut out: HashMap<String, Vec<Stored>> = HashMap::new();
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                Stored {
                    seq: row.get::<_, i64>(1)? as u64,
                    client_msg_id: row.get(2)?,
                    epoch: row.get::<_, i64>(3)? as u64,
                },
            ))
        })
        .expect("query");
    for row in rows {
        let (conversation, stored) = row.expect("row");
        out.entry(conversation).or_default().push(stored);
    }
    out
}

/// What a checked history amounted to.
#[derive(Debug, Default)]
pub struct Verdict {
    pub acked: usize,
    pub failed: usize,
    pub stored: usize,
    pub holes: usize,
    pub violations: Vec<String>,
}

/// Hold every writer's history to the rules against the store's final state.
pub fn check(histories: &[History], db: &Path) -> Verdict {
    let stored = stored_messages(db);
    let mut v = Verdict::default();
    for h in histories {
        let conv = &h.conversation;
        let rows = stored.get(conv).map(Vec::as_slice).unwrap_or(&[]);
        v.stored += rows.len();
        v.failed += h.failures();
        let by_cid: HashMap<&str, Vec<u64>> = rows.iter().fold(HashMap::new(), |mut m, r| {
            if let Some(cid) = &r.client_msg_id {
                m.entry(cid.as_str()).or_default().push(r.seq);
            }
            m
        });
        // Every acked message is stored exactly once, at its acked seq.
        let mut acked_at: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, cid, seq) in h.acked() {
            v.acked += 1;
            if let Some(previous) = acked_at.insert(cid, seq) {
                if previous != seq {
                    v.violations
                        .push(format!("{conv}: {cid} acked at {previous} and {seq}"));
                }
            }
            match by_cid.get(cid).map(Vec::as_slice) {
                Some([stored]) if *stored == seq => {}
                Some(stored) => v.violations.push(format!(
                    "{conv}: {cid} acked at {seq}, stored at {stored:?}"
                )),
                None => v
                    .violations
                    .push(format!("{conv}: {cid} acked at {seq} but not stored")),
            }
        }
        // Seqs are unique and epochs never decrease along them.
        for pair in rows.windows(2) {
            if pair[1].seq <= pair[0].seq {
                v.violations
                    .push(format!("{conv}: seq {} after {}", pair[1].seq, pair[0].seq));
            }
            if pair[1].epoch < pair[0].epoch {
                v.violations.push(format!(
                    "{conv}: seq {} written under epoch {} after seq {} under epoch {}",
                    pair[1].seq, pair[1].epoch, pair[0].seq, pair[0].epoch
                ));
            }
        }
        // Holes only where appends failed (a failed append leaves its seq unused).
        let max = rows.last().map_or(0, |r| r.seq);
        let holes = max as usize - rows.len();
        v.holes += holes;
        if holes > h.failures() {
            v.violations.push(format!(
                "{conv}: {holes} holes in 1..={max} but only {} failed sends",
                h.failures()
            ));
        }
        // The writer saw its conversation strictly in order, each message once, and all.
        let seen = h.delivered();
        if let Some(pair) = seen.windows(2).find(|p| p[1] <= p[0]) {
            v.violations.push(format!(
                "{conv}: delivered {} after {} (gap or duplicate)",
                pair[1], pair[0]
            ));
        }
        let all: Vec<u64> = rows.iter().map(|r| r.seq).collect();
        let mut seen_sorted = seen.clone();
        seen_sorted.dedup();
        if seen_sorted != all {
            v.violations.push(format!(
                "{conv}: the writer saw {} messages, the store holds {} ({:?} vs {:?})",
                seen.len(),
                all.len(),
                tail(&seen_sorted),
                tail(&all)
            ));
        }
    }
    v
}

fn tail(seqs: &[u64]) -> &[u64] {
    &seqs[seqs.len().saturating_sub(5)..]
}

/// For the writers whose conversation `affected` selects: how long after `fault_at` each got
/// its first ack (`None`: none by the end).
pub fn recovery_times(
    histories: &[History],
    fault_at: Instant,
    affected: impl Fn(&str) -> bool,
) -> Vec<Option<Duration>> {
    histories
        .iter()
        .filter(|h| affected(&h.conversation))
        .map(|h| {
            h.acked()
                .find(|(at, _, _)| *at > fault_at)
                .map(|(at, _, _)| at - fault_at)
        })
        .collect()
}
