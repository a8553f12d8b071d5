//! Prometheus metrics of membership, leases and fencing (`switchboard_cluster_*`), in the
//! process-wide registry of `crate::metrics`. Gauges describe this node's view; counters count
//! what this node did.

use std::sync::LazyLock;

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts,
};

use super::model::{MemberStatus, TakeKind};
use crate::metrics::register;

pub static MEMBERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "switchboard_cluster_members",
                "Cluster members by status, as this node last read the membership table",
            ),
            &["status"],
        )
        .unwrap(),
    )
});

pub static DECLARED_DEAD: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_declared_dead_total",
            "Peers this node declared dead (their heartbeat stood still for the lease period)",
        )
        .unwrap(),
    )
});

pub static SHARDS_OWNED: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_cluster_shards_owned",
            "Shards this node holds a lease on and serves",
        )
        .unwrap(),
    )
});

pub static LEASE_RENEWALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_lease_renewals_total",
                "Shard lease renewals by result: ok, refused (the shard was no longer ours), \
                 failed (the store did not answer)",
            ),
            &["result"],
        )
        .unwrap(),
    )
});

pub static TAKEOVERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_takeovers_total",
                "Shards this node took, by what they were: free, released, expired, restarted",
            ),
            &["kind"],
        )
        .unwrap(),
    )
});

pub static RELEASES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_releases_total",
            "Shards this node handed off and released (rebalancing or draining)",
        )
        .unwrap(),
    )
});

pub static SELF_FENCES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_self_fences_total",
            "Shards this node stopped serving because it could not confirm their lease in time",
        )
        .unwrap(),
    )
});

pub static OWNERSHIP_VERSION: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_cluster_ownership_version",
            "Version of the ownership map this node routes by (the sum of all shard epochs)",
        )
        .unwrap(),
    )
});

pub static FENCED_WRITES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_fenced_writes_total",
            "Entity writes the store refused because they carried a stale epoch",
        )
        .unwrap(),
    )
});

/// Touch every cluster metric so `/metrics` lists them from the first scrape.
pub static FORWARDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "switchboard_cluster_forwarded_requests_total",
                "Entity asks forwarded to the owner node, by entity kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .unwrap(),
    )
});

pub static REMOTE_DELIVERIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_remote_deliveries_total",
            "Frames sent to another node for its sockets (one per node per event, not per socket)",
        )
        .unwrap(),
    )
});

pub static NOT_OWNER_RETRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "switchboard_cluster_not_owner_retries_total",
            "Forwarded calls answered not_owner (the shard moved before this node's map did), retried",
        )
        .unwrap(),
    )
});

pub static HANDOFF_PAUSE: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_cluster_handoff_pause_seconds",
                "Per shard handed off: from holding its requests to releasing it",
            )
            .buckets(exponential_buckets(0.001, 2.0, 16).unwrap()),
        )
        .unwrap(),
    )
});

pub static BUFFERED: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "switchboard_cluster_buffered_requests",
            "Calls waiting for a shard that has no owner right now (moving, or its owner died)",
        )
        .unwrap(),
    )
});

pub fn init() {
    for status in MemberStatus::ALL {
        MEMBERS.with_label_values(&[status.as_str()]);
    }
    for result in ["ok", "refused", "failed"] {
        LEASE_RENEWALS.with_label_values(&[result]);
    }
    for kind in TakeKind::ALL {
        TAKEOVERS.with_label_values(&[kind.as_str()]);
    }
    LazyLock::force(&DECLARED_DEAD);
    LazyLock::force(&SHARDS_OWNED);
    LazyLock::force(&RELEASES);
    LazyLock::force(&SELF_FENCES);
    LazyLock::force(&OWNERSHIP_VERSION);
    LazyLock::force(&FENCED_WRITES);
    LazyLock::force(&REMOTE_DELIVERIES);
    LazyLock::force(&NOT_OWNER_RETRIES);
    LazyLock::force(&HANDOFF_PAUSE);
    LazyLock::force(&BUFFERED);
    for kind in super::EntityKind::ALL {
        for outcome in ["ok", "error", "not_owner", "link"] {
            FORWARDED.with_label_values(&[kind.as_str(), outcome]);
        }
    }
}
