//! Prometheus metrics, named `switchboard_<name>_<unit>[_total]`.
//!
//! One process-wide registry (`/metrics` renders it). Hot paths touch pre-resolved handles
//! (`LazyLock`s below), never a label lookup by string per message where it can be avoided.

use std::sync::LazyLock;

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

pub(crate) fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // Registering a metric twice is a programming error caught by the first test run.
    REGISTRY
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn latency_buckets() -> Vec<f64> {
    // 50 us .. ~26 s
    exponential_buckets(0.00005, 2.0, 20).expect("valid buckets")
}

pub static CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_connections",
                "Open WebSocket connections by role",
            ),
            &["role"],
        )
        .unwrap(),
    )
});

pub static ACTORS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new("switchboard_actors", "Live actors by kind"),
            &["kind"],
        )
        .unwrap(),
    )
});

pub static ACTOR_RESTARTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_actor_restarts_total",
                "Actors restarted by the registry after they died",
            ),
            &["kind"],
        )
        .unwrap(),
    )
});

pub static MESSAGES_RECEIVED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_messages_received_total",
            "Chat messages received from clients",
        )
        .unwrap(),
    )
});

pub static MESSAGES_PERSISTED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_messages_persisted_total",
            "Chat messages durably stored",
        )
        .unwrap(),
    )
});

pub static MESSAGES_DELIVERED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_messages_delivered_total",
            "Message frames written to recipients' sockets",
        )
        .unwrap(),
    )
});

pub static DELIVERY_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_delivery_latency_seconds",
                "From a message frame received to its frame written to a recipient's socket",
            )
            .buckets(latency_buckets()),
        )
        .unwrap(),
    )
});

pub static ACK_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_ack_latency_seconds",
                "From a message frame received to its ack written",
            )
            .buckets(latency_buckets()),
        )
        .unwrap(),
    )
});

pub static STORE_OPERATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new(
                "switchboard_store_operation_duration_seconds",
                "Store operation latency by operation",
            )
            .buckets(latency_buckets()),
            &["op"],
        )
        .unwrap(),
    )
});

pub static COMMIT_BATCH: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_store_commit_batch_size",
                "Writes committed together in one transaction",
            )
            .buckets(exponential_buckets(1.0, 2.0, 12).unwrap()),
        )
        .unwrap(),
    )
});

pub static MAILBOX_BACKLOG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_mailbox_backlog",
                "Items queued but not yet handled, by queue",
            ),
            &["queue"],
        )
        .unwrap(),
    )
});

/// Pre-resolved label handles for the per-message paths.
pub static OUTBOUND_BACKLOG: LazyLock<IntGauge> =
    LazyLock::new(|| MAILBOX_BACKLOG.with_label_values(&["connection_outbound"]));
pub static PENDING_APPENDS: LazyLock<IntGauge> =
    LazyLock::new(|| MAILBOX_BACKLOG.with_label_values(&["conversation_pending"]));

pub static QUEUE_LENGTH: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_queue_length",
            "Conversations waiting for an agent",
        )
        .unwrap(),
    )
});

pub static QUEUE_WAIT: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_queue_wait_seconds",
                "Time a conversation waited for an assignment",
            )
            .buckets(exponential_buckets(0.01, 2.0, 20).unwrap()),
        )
        .unwrap(),
    )
});

/// The first agent answer after the visitor's first message, as the site analytics count it
/// (`analytics::Metric::FirstResponse`): observed once that count is stored.
pub static FIRST_RESPONSE: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_first_response_seconds",
                "From a visitor's first message to the first agent answer in the conversation",
            )
            // 0.5 s .. ~68 min: people answer in seconds to minutes.
            .buckets(exponential_buckets(0.5, 2.0, 14).unwrap()),
        )
        .unwrap(),
    )
});

/// Conversations closed after the visitor wrote with no agent answer, as the site analytics
/// count them (`analytics::Metric::Missed`): counted once that count is stored.
pub static MISSED_CONVERSATIONS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_missed_conversations_total",
            "Conversations closed after the visitor wrote without any agent answer (missed or abandoned)",
        )
        .unwrap(),
    )
});

/// A conversation's first satisfaction rating (a replaced rating is not a second one), as the
/// site analytics count it (`analytics::Metric::Csat`). Mean score = sum / count.
pub static CSAT_SCORE: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_csat_score",
                "Satisfaction ratings (1-5), the first per conversation",
            )
            .buckets(vec![1.0, 2.0, 3.0, 4.0, 5.0]),
        )
        .unwrap(),
    )
});

pub static ASSIGNMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_assignments_total",
                "Assignments made, by reason",
            ),
            &["reason"],
        )
        .unwrap(),
    )
});

pub static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_errors_total",
                "Errors returned to clients, by code",
            ),
            &["code"],
        )
        .unwrap(),
    )
});

pub static SLOW_CONSUMER_DISCONNECTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_slow_consumer_disconnects_total",
            "Connections closed because they could not keep up with their send queue",
        )
        .unwrap(),
    )
});

// Node links (src/cluster/link/). Per-peer series are labelled with the peer's node id: a
// cluster has few nodes, and a queue filling towards one peer is exactly what to see.

pub static LINK_UP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_cluster_link_up",
                "1 while the link to a peer is established",
            ),
            &["peer"],
        )
        .unwrap(),
    )
});

pub static LINK_QUEUE_DEPTH: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_cluster_link_queue_depth",
                "Requests and messages queued for a peer, not yet written",
            ),
            &["peer"],
        )
        .unwrap(),
    )
});

pub static LINK_RECONNECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_reconnects_total",
                "Links to a peer established again after an earlier one ended",
            ),
            &["peer"],
        )
        .unwrap(),
    )
});

pub static LINK_DISCONNECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_disconnects_total",
                "Links that ended, by reason",
            ),
            &["reason"],
        )
        .unwrap(),
    )
});

pub static LINK_DIAL_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_link_dial_failures_total",
            "TCP connections to a peer that could not be opened",
        )
        .unwrap(),
    )
});

pub static LINK_HANDSHAKE_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_handshake_failures_total",
                "Link handshakes that failed, by reason (either end's)",
            ),
            &["reason"],
        )
        .unwrap(),
    )
});

pub static LINK_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_requests_total",
                "Requests this node sent to peers, by outcome",
            ),
            &["outcome"],
        )
        .unwrap(),
    )
});

pub static LINK_REQUEST_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_cluster_link_request_duration_seconds",
                "From a request queued to its reply received (answered requests only)",
            )
            .buckets(latency_buckets()),
        )
        .unwrap(),
    )
});

pub static LINK_REQUESTS_SERVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_requests_served_total",
                "Requests peers sent to this node, by outcome",
            ),
            &["outcome"],
        )
        .unwrap(),
    )
});

pub static LINK_MESSAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_messages_total",
                "One-way messages written to or read from links",
            ),
            &["direction"],
        )
        .unwrap(),
    )
});

pub static LINK_MESSAGES_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_messages_dropped_total",
                "One-way messages not delivered: refused at send (the caller was told) or lost \
                 in the queue when the link ended",
            ),
            &["reason"],
        )
        .unwrap(),
    )
});

pub static LINK_FRAMES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_frames_total",
                "Frames on node links",
            ),
            &["direction"],
        )
        .unwrap(),
    )
});

pub static LINK_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_link_bytes_total",
                "Bytes on node links, length prefixes included",
            ),
            &["direction"],
        )
        .unwrap(),
    )
});

/// Pre-resolved label handles for the per-frame paths of the links.
pub static LINK_FRAMES_SENT: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_FRAMES.with_label_values(&["sent"]));
pub static LINK_FRAMES_RECEIVED: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_FRAMES.with_label_values(&["received"]));
pub static LINK_BYTES_SENT: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_BYTES.with_label_values(&["sent"]));
pub static LINK_BYTES_RECEIVED: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_BYTES.with_label_values(&["received"]));
pub static LINK_MESSAGES_SENT: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_MESSAGES.with_label_values(&["sent"]));
pub static LINK_MESSAGES_RECEIVED: LazyLock<IntCounter> =
    LazyLock::new(|| LINK_MESSAGES.with_label_values(&["received"]));

/// Outcome labels of `switchboard_cluster_link_requests_served_total`.
pub const LINK_SERVED_OUTCOMES: [&str; 6] = [
    "ok",
    "expired",
    "overloaded",
    "panicked",
    "too_large",
    "link_down",
];

/// Reason labels of `switchboard_cluster_link_messages_dropped_total`.
pub const LINK_DROP_REASONS: [&str; 5] = [
    "unknown_peer",
    "unavailable",
    "backpressure",
    "too_large",
    "link_down",
];

pub static SUBSCRIPTIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_subscriptions",
            "Sockets following a conversation, on this node (kept while the conversation's actor is passivated)",
        )
        .unwrap(),
    )
});

/// The allocator's heap (glibc `mallinfo2`): bytes `in_use` by live allocations and bytes
/// `free` in the allocator's free chunks. `free` counts the pages a trim already handed back too
/// (glibc keeps the chunks, the kernel took the pages), so it is an upper bound on what a trim
/// could return, not resident memory: RSS minus `in_use` (minus code) is what is held.
pub static HEAP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_heap_bytes",
                "Allocator heap by state: in_use by live allocations, free in free chunks (resident or already handed back)",
            ),
            &["state"],
        )
        .unwrap(),
    )
});

/// SQLite's own allocations (page caches, statements, schema) over every connection.
pub static SQLITE_MEMORY: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_sqlite_memory_bytes",
            "Memory SQLite holds for all its connections (page caches, prepared statements)",
        )
        .unwrap(),
    )
});

pub static MEMORY_TRIMS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_memory_trims_total",
            "Times free heap was handed back to the operating system (malloc_trim)",
        )
        .unwrap(),
    )
});

pub static MEMORY_TRIM_SECONDS: LazyLock<prometheus::Counter> = LazyLock::new(|| {
    register(
        prometheus::Counter::new(
            "switchboard_memory_trim_seconds_total",
            "Time spent handing free heap back to the operating system",
        )
        .unwrap(),
    )
});

pub static ACTIVATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_actor_activations_total",
                "Entity actors started on demand (restarts included), by kind",
            ),
            &["kind"],
        )
        .unwrap(),
    )
});

pub static PASSIVATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_actor_passivations_total",
                "Entity actors stopped because they were idle (state safe in the store), by kind",
            ),
            &["kind"],
        )
        .unwrap(),
    )
});

pub static RETRIED_SENDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_retried_sends_total",
                "Sends whose client_msg_id was already stored or in flight, answered with the \
                 original seq, by where it was found (memory, in_flight or store)",
            ),
            &["source"],
        )
        .unwrap(),
    )
});

pub static RESUMES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_resumes_total",
                "Subscribes with a gap to send, by where the gap came from (memory or store)",
            ),
            &["source"],
        )
        .unwrap(),
    )
});

pub static RESUME_GAP: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_resume_gap_messages",
                "Messages a subscribe had to replay (sizes the in-memory resume window)",
            )
            .buckets(vec![
                0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1000.0,
            ]),
        )
        .unwrap(),
    )
});

pub static UNDELIVERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_undelivered_messages_total",
                "Actor messages that could not be delivered, by entity kind, message and reason",
            ),
            &["kind", "message", "reason"],
        )
        .unwrap(),
    )
});

/// Record one store operation's latency.
pub fn observe_store_op(op: &'static str, seconds: f64) {
    STORE_OPERATION.with_label_values(&[op]).observe(seconds);
}

/// Record how many writes one group commit carried.
pub fn observe_commit_batch(writes: usize) {
    COMMIT_BATCH.observe(writes as f64);
}

pub fn count_error(code: crate::error::ErrorCode) {
    ERRORS.with_label_values(&[code.as_str()]).inc();
}

/// Touch every metric so `/metrics` lists them all from the first scrape.
pub fn init() {
    static PROCESS: std::sync::Once = std::sync::Once::new();
    PROCESS.call_once(|| {
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...
        let _ = REGISTRY.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
    });
    for role in ["visitor", "agent"] {
        CONNECTIONS.with_label_values(&[role]);
    }
    for kind in ["connection", "conversation", "visitor", "agent", "router"] {
        ACTORS.with_label_values(&[kind]);
        ACTOR_RESTARTS.with_label_values(&[kind]);
        ACTIVATIONS.with_label_values(&[kind]);
        PASSIVATIONS.with_label_values(&[kind]);
    }
    for source in ["memory", "store"] {
        RESUMES.with_label_values(&[source]);
    }
    for state in ["in_use", "free"] {
        HEAP.with_label_values(&[state]);
    }
    LazyLock::force(&SQLITE_MEMORY);
    LazyLock::force(&MEMORY_TRIMS);
    LazyLock::force(&MEMORY_TRIM_SECONDS);
    for queue in ["connection_outbound", "conversation_pending"] {
        MAILBOX_BACKLOG.with_label_values(&[queue]);
    }
    for reason in ["auto", "take", "transfer", "answer_timeout", "requeued"] {
        ASSIGNMENTS.with_label_values(&[reason]);
    }
    for source in ["memory", "in_flight", "store"] {
        RETRIED_SENDS.with_label_values(&[source]);
    }
    for code in crate::error::ErrorCode::ALL {
        ERRORS.with_label_values(&[code.as_str()]);
    }
    for op in ["append_message", "update_conversation"] {
        STORE_OPERATION.with_label_values(&[op]);
    }
    for reason in crate::cluster::link::Refusal::ALL {
        LINK_HANDSHAKE_FAILURES.with_label_values(&[reason.as_str()]);
    }
    for reason in crate::cluster::link::Disconnect::ALL {
        LINK_DISCONNECTS.with_label_values(&[reason.as_str()]);
    }
    for outcome in crate::cluster::link::LinkError::OUTCOMES {
        LINK_REQUESTS.with_label_values(&[outcome]);
    }
    for outcome in LINK_SERVED_OUTCOMES {
        LINK_REQUESTS_SERVED.with_label_values(&[outcome]);
    }
    for reason in LINK_DROP_REASONS {
        LINK_MESSAGES_DROPPED.with_label_values(&[reason]);
    }
    for handle in [
        &LINK_FRAMES_SENT,
        &LINK_FRAMES_RECEIVED,
        &LINK_BYTES_SENT,
        &LINK_BYTES_RECEIVED,
        &LINK_MESSAGES_SENT,
        &LINK_MESSAGES_RECEIVED,
    ] {
        LazyLock::force(handle);
    }
    LazyLock::force(&LINK_UP);
    LazyLock::force(&LINK_QUEUE_DEPTH);
    LazyLock::force(&LINK_RECONNECTS);
    LazyLock::force(&LINK_DIAL_FAILURES);
    LazyLock::force(&LINK_REQUEST_DURATION);
    LazyLock::force(&MESSAGES_RECEIVED);
    LazyLock::force(&MESSAGES_PERSISTED);
    LazyLock::force(&MESSAGES_DELIVERED);
    LazyLock::force(&DELIVERY_LATENCY);
    LazyLock::force(&ACK_LATENCY);
    LazyLock::force(&STORE_OPERATION);
    LazyLock::force(&COMMIT_BATCH);
    LazyLock::force(&QUEUE_LENGTH);
    LazyLock::force(&QUEUE_WAIT);
    LazyLock::force(&FIRST_RESPONSE);
    LazyLock::force(&MISSED_CONVERSATIONS);
    LazyLock::force(&CSAT_SCORE);
    LazyLock::force(&ASSIGNMENTS);
    LazyLock::force(&ERRORS);
    LazyLock::force(&SLOW_CONSUMER_DISCONNECTS);
    LazyLock::force(&UNDELIVERED);
    LazyLock::force(&SUBSCRIPTIONS);
    LazyLock::force(&RESUME_GAP);
    crate::cluster::metrics::init();
}

/// The text exposition format for `/metrics`.
pub fn render() -> String {
    let mut buf = Vec::new();
    // Encoding into a Vec cannot fail for the text format.
    let _ = TextEncoder::new().encode(&REGISTRY.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{export, Metric, Tally};

    /// Other tests in this process may store tallies at the same time, hence "at least".
    #[test]
    fn stored_tallies_move_the_support_kpi_metrics() {
        init();
        let (first, missed, csat) = (
            FIRST_RESPONSE.get_sample_count(),
            MISSED_CONVERSATIONS.get(),
            CSAT_SCORE.get_sample_count(),
        );
        let (first_sum, csat_sum) = (FIRST_RESPONSE.get_sample_sum(), CSAT_SCORE.get_sample_sum());
        export(&[
            Tally::measure(Metric::FirstResponse, None, 0, 30_000),
            Tally::count(Metric::Missed, None, 0),
            Tally::measure(Metric::Csat, None, 0, 4),
        ]);
        assert!(FIRST_RESPONSE.get_sample_count() > first);
        assert!(
            FIRST_RESPONSE.get_sample_sum() - first_sum >= 30.0,
            "seconds, not ms"
        );
        assert!(MISSED_CONVERSATIONS.get() > missed);
        assert!(CSAT_SCORE.get_sample_count() > csat);
        assert!(CSAT_SCORE.get_sample_sum() - csat_sum >= 4.0);
        let text = render();
        for name in [
            "switchboard_first_response_seconds_bucket",
            "switchboard_missed_conversations_total",
            "switchboard_csat_score_bucket{le=\"5\"}",
        ] {
            assert!(text.contains(name), "{name} on /metrics");
        }
    }
}
