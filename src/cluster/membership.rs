//! Membership: this node's row in the store's membership table, and its view of the others.
//!
//! Every `heartbeat_interval` the node writes its counter (and status) to its row, then reads
//! every row. A peer whose counter has not moved for `lease`, timed on *this* node's monotonic
//! clock from the moment it was first seen at that value, is declared dead with a write that
//! only applies if the counter is still the value timed. No two wall clocks are ever compared.
//! An observer only declares deaths while it is healthy itself (its own heartbeat was written
//! within the last half lease): a node that cannot reach the store never declares anyone dead,
//! so an unreachable store causes no false death.
//!
//! A node that reads it was declared dead (or that a newer life of it registered) has lost
//! everything it held: [`Membership::fate`] resolves and the process must exit; its supervisor
//! restarts it under a new incarnation. The live member set with addresses is published as a
//! [`MemberView`] watch for the link layer and for placement.
//!
//! Status: `joining` at start, `active` once the node calls [`Membership::activate`] (it is
//! ready to serve), `leaving` when it drains, `dead` when a peer declares it or it shuts down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::gate::Gate;
use super::metrics;
use super::model::{Heartbeat, HeartbeatOutcome, Holder, Incarnation, Member, MemberStatus};
use super::NodeId;
use crate::clock::SharedClock;
use crate::store::{ClusterStore, StoreResult};

/// How a node takes part in membership. The lead maps configuration onto it.
#[derive(Debug, Clone)]
pub struct MembershipOptions {
    pub node: NodeId,
    /// This process's life: higher than any earlier life of `node` (a start timestamp in
    /// milliseconds does, see [`MembershipOptions::incarnation_now`]).
    pub incarnation: Incarnation,
    /// Where peers reach this node's cluster links (host:port), published in its row.
    pub address: String,
    /// How often the heartbeat is written (default 1 s).
    pub heartbeat_interval: Duration,
    /// How long a peer's heartbeat may stand still before it is declared dead (default 6 s).
    pub lease: Duration,
}

impl MembershipOptions {
    pub fn new(node: NodeId, incarnation: Incarnation, address: impl Into<String>) -> Self {
        MembershipOptions {
            node,
            incarnation,
            address: address.into(),
            heartbeat_interval: Duration::from_secs(1),
            lease: Duration::from_secs(6),
        }
    }

    /// An incarnation from the wall clock in milliseconds: a restarted process gets a higher
    /// one than its previous life unless the clock stepped back by more than the restart took.
    pub fn incarnation_now(clock: &SharedClock) -> Incarnation {
        Incarnation::try_from(clock.now_ms()).unwrap_or(1).max(1)
    }
}

/// Why this node's life is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// A peer declared it dead (its heartbeat stood still for a lease), or its row is gone.
    DeclaredDead,
    /// A newer incarnation of the same node id registered.
    Superseded(Incarnation),
}

/// The membership table as this node last read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberView {
    /// Grows whenever the set of (node, incarnation, address, status) changes; heartbeats alone
    /// do not change it.
    pub version: u64,
    pub members: Vec<Member>,
}

impl MemberView {
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.status == MemberStatus::Active)
    }

    /// The active members' ids, sorted: what placement runs over.
    pub fn active_nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.active().map(|m| m.node.clone()).collect();
        nodes.sort();
        nodes
    }

    pub fn get(&self, node: &NodeId) -> Option<&Member> {
        self.members.iter().find(|m| m.node == *node)
    }

    /// Equal as far as the link layer and placement care (heartbeat counters aside).
    fn same_shape(&self, members: &[Member]) -> bool {
        let shape = |m: &Member| (m.node.clone(), m.incarnation, m.address.clone(), m.status);
        self.members.len() == members.len()
            && self
                .members
                .iter()
                .zip(members)
                .all(|(a, b)| shape(a) == shape(b))
    }
}

/// A handle on this node's membership. Cheap to clone; the loop runs until
/// [`Membership::shutdown`], [`Membership::stop`] or the node's fate.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ClusterStore>,
    opts: MembershipOptions,
    clock: SharedClock,
    gate: Gate,
    status: Mutex<MemberStatus>,
    /// When this node's own heartbeat was last written: its health as an observer.
    last_beat: Mutex<Option<Instant>>,
    view: watch::Sender<Arc<MemberView>>,
    fate: watch::Sender<Option<Fate>>,
    poke: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A peer's heartbeat as first seen at its current value, on this node's clock.
struct Seen {
    incarnation: Incarnation,
    heartbeat: u64,
    since: Instant,
}

impl Membership {
    /// Register this node's new life as `joining` and start the heartbeat loop (on the current
    /// tokio runtime). Fails if the store refuses the registration (a newer life exists).
    pub async fn start(
        store: Arc<dyn ClusterStore>,
        opts: MembershipOptions,
        clock: SharedClock,
    ) -> StoreResult<Membership> {
        store
            .register_member(&Member {
                node: opts.node.clone(),
                incarnation: opts.incarnation,
                address: opts.address.clone(),
                status: MemberStatus::Joining,
                heartbeat: 0,
                updated_at: clock.now_ms(),
            })
            .await?;
        let inner = Arc::new(Inner {
            store,
            opts,
            clock,
            gate: Gate::default(),
            status: Mutex::new(MemberStatus::Joining),
            last_beat: Mutex::new(Some(Instant::now())),
            view: watch::channel(Arc::new(MemberView::default())).0,
            fate: watch::channel(None).0,
            poke: Notify::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run(inner.clone()));
        *inner.task.lock() = Some(task);
        Ok(Membership { inner })
    }

    pub fn node(&self) -> &NodeId {
        &self.inner.opts.node
    }

    /// This node in this life, as it holds shards.
    pub fn holder(&self) -> Holder {
        Holder {
            node: self.inner.opts.node.clone(),
            incarnation: self.inner.opts.incarnation,
        }
    }

    pub fn options(&self) -> &MembershipOptions {
        &self.inner.opts
    }

    pub fn status(&self) -> MemberStatus {
        *self.inner.status.lock()
    }

    /// Ready to serve: from the next heartbeat (written at once) placement gives it shards.
    pub fn activate(&self) {
        self.set_status(MemberStatus::Active);
    }

    /// Draining: placement stops giving it shards; the lease manager hands them off.
    pub fn leave(&self) {
        self.set_status(MemberStatus::Leaving);
    }

    fn set_status(&self, status: MemberStatus) {
        let mut current = self.inner.status.lock();
        // Forward only: a leaving node never becomes active again in this life.
        if *current < status && *current != MemberStatus::Dead {
            *current = status;
            drop(current);
            self.inner.poke.notify_one();
        }
    }

    /// The membership table as last read; changes when a member joins, changes status or
    /// address, or a new life of one registers.
    pub fn view(&self) -> watch::Receiver<Arc<MemberView>> {
        self.inner.view.subscribe()
    }

    /// Resolves when this node learns its life is over: the process must exit (its supervisor
    /// restarts it with a new incarnation). Never resolves while it is a member in good
    /// standing, nor after a graceful shutdown.
    pub async fn fate(&self) -> Fate {
        let mut rx = self.inner.fate.subscribe();
        loop {
            if let Some(fate) = *rx.borrow_and_update() {
                return fate;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `inner`, which we hold: unreachable, but never panic.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The fate, if already known.
    pub fn fate_now(&self) -> Option<Fate> {
        *self.inner.fate.borrow()
    }

    /// Whether this node's own heartbeat was written within the last half lease.
    pub fn healthy(&self) -> bool {
        self.inner.healthy()
    }

    /// The pause switch of this node's cluster loops (shared with its lease manager).
    pub fn gate(&self) -> &Gate {
        &self.inner.gate
    }

    /// Freeze every cluster loop of this node, as SIGSTOP would (tests and fault drills).
    pub fn pause(&self) {
        self.inner.gate.pause();
    }

    pub fn resume(&self) {
        self.inner.gate.resume();
    }

    /// Stop the loop without writing anything, as a crash would (peers declare it dead).
    pub fn stop(&self) {
        if let Some(task) = self.inner.task.lock().take() {
            task.abort();
        }
    }

    /// Leave the cluster for good: stop the loop and write this life's row as `dead`, so peers
    /// stop counting on it at once. Call it after the lease manager drained.
    pub async fn shutdown(&self) -> StoreResult<()> {
        self.stop();
        *self.inner.status.lock() = MemberStatus::Dead;
        if self.fate_now().is_some() {
            return Ok(());
        }
        let beat = self.inner.beat(MemberStatus::Dead, u64::MAX / 2);
        self.inner.store.heartbeat(&beat).await.map(drop)
    }
}

impl Inner {
    fn healthy(&self) -> bool {
        self.last_beat
            .lock()
            .is_some_and(|at| at.elapsed() < self.opts.lease / 2)
    }

    fn beat(&self, status: MemberStatus, counter: u64) -> Heartbeat {
        Heartbeat {
            node: self.opts.node.clone(),
            incarnation: self.opts.incarnation,
            status,
            heartbeat: counter,
            at: self.clock.now_ms(),
        }
    }
}

/// The heartbeat loop: beat, read, judge, publish; until the node's fate or a stop.
async fn run(inner: Arc<Inner>) {
    let mut counter = 0u64;
    let mut seen: HashMap<super::NodeId, Seen> = HashMap::new();
    loop {
        inner.gate.passable().await;
        counter += 1;
        let status = *inner.status.lock();
        match inner.store.heartbeat(&inner.beat(status, counter)).await {
            Ok(HeartbeatOutcome::Alive) => *inner.last_beat.lock() = Some(Instant::now()),
            Ok(other) => {
                let fate = match other {
                    HeartbeatOutcome::Superseded(by) => Fate::Superseded(by),
                    _ => Fate::DeclaredDead,
                };
                tracing::error!(node = %inner.opts.node, ?fate, "this node's life is over");
                *inner.status.lock() = MemberStatus::Dead;
                inner.fate.send_replace(Some(fate));
                return;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat not written"),
        }
        match inner.store.members().await {
            Ok(members) => {
                judge(&inner, &members, &mut seen).await;
                publish(&inner, members);
            }
            Err(e) => tracing::warn!(error = %e, "membership not read"),
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.opts.heartbeat_interval) => {}
            _ = inner.poke.notified() => {}
        }
    }
}

/// Time every peer's heartbeat on this node's clock; declare dead those that stood still for a
/// whole lease, if this node is healthy itself.
async fn judge(inner: &Inner, members: &[Member], seen: &mut HashMap<NodeId, Seen>) {
    let now = Instant::now();
    seen.retain(|node, _| members.iter().any(|m| m.node == *node));
    for m in members {
        if m.node == inner.opts.node || m.status == MemberStatus::Dead {
            seen.remove(&m.node);
            continue;
        }
        let entry = seen.entry(m.node.clone()).or_insert(Seen {
            incarnation: m.incarnation,
            heartbeat: m.heartbeat,
            since: now,
        });
        if (entry.incarnation, entry.heartbeat) != (m.incarnation, m.heartbeat) {
            *entry = Seen {
                incarnation: m.incarnation,
                heartbeat: m.heartbeat,
                since: now,
            };
            continue;
        }
        if now.duration_since(entry.since) < inner.opts.lease || !inner.healthy() {
            continue;
        }
        let at = inner.clock.now_ms();
        match inner
            .store
            .mark_dead(&m.node, m.incarnation, m.heartbeat, at)
            .await
        {
            Ok(true) => {
                metrics::DECLARED_DEAD.inc();
                tracing::warn!(peer = %m.node, incarnation = m.incarnation, "declared dead");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(peer = %m.node, error = %e, "could not declare dead"),
        }
    }
}

fn publish(inner: &Inner, members: Vec<Member>) {
    for status in MemberStatus::ALL {
        let n = members.iter().filter(|m| m.status == status).count();
        metrics::MEMBERS
            .with_label_values(&[status.as_str()])
            .set(n as i64);
    }
    inner.view.send_if_modified(|view| {
        let changed = !view.same_shape(&members);
        *view = Arc::new(MemberView {
            version: view.version + u64::from(changed),
            members,
        });
        changed
    });
}
