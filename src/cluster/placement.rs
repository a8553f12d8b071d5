//! Where a shard should live: rendezvous (highest-random-weight) hashing of the shard over the
//! active members. Every node computes it alone from the same member set and gets the same
//! answer; when a member joins or leaves, only the shards whose winner changed move (about
//! 1/N of them), and every member's share stays even.
//!
//! The weight of (node, shard) must be the same in every process and every build, so it is
//! spelled out here rather than taken from `std::hash` (whose `DefaultHasher` may change
//! between Rust releases): FNV-1a (64-bit) of the node id's bytes, XORed with the shard number
//! passed through splitmix64's finalizer, and the result passed through that finalizer again.
//! The finalizer is a bijection in which every input bit reaches every output bit, so the
//! weights of one shard over different nodes behave like independent random numbers.
//! Ties (astronomically rare) go to the greater node id. Placement only *desires*: a shard
//! moves when its owner releases it or its lease expires (`leases`).

use super::{NodeId, ShardId};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous weight of `node` for `shard`. Never change it: it decides where shards go,
/// and nodes of different builds must agree during a rolling upgrade.
pub fn weight(node: &NodeId, shard: ShardId) -> u64 {
    mix(fnv1a(node.0.as_bytes()) ^ mix(u64::from(shard)))
}

/// The member that should own `shard`: the one with the highest weight.
pub fn desired_owner(shard: ShardId, members: &[NodeId]) -> Option<&NodeId> {
    members
        .iter()
        .max_by(|a, b| (weight(a, shard), *a).cmp(&(weight(b, shard), *b)))
}

/// The desired owner of every shard in `0..shards`.
pub fn assign(shards: u32, members: &[NodeId]) -> Vec<Option<NodeId>> {
    (0..shards)
        .map(|shard| desired_owner(shard, members).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<NodeId> {
        names.iter().map(|n| NodeId((*n).into())).collect()
    }

    fn counts(placed: &[Option<NodeId>], members: &[NodeId]) -> Vec<usize> {
        members
            .iter()
            .map(|m| placed.iter().filter(|p| p.as_ref() == Some(m)).count())
            .collect()
    }

    fn moved(a: &[Option<NodeId>], b: &[Option<NodeId>]) -> usize {
        a.iter().zip(b).filter(|(x, y)| x != y).count()
    }

    #[test]
    fn the_weight_is_pinned() {
        // These decide where shards live across builds: a change here is a breaking change.
        assert_eq!(fnv1a(b""), FNV_OFFSET);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            weight(&NodeId("10.0.0.1:7000".into()), 17),
            weight(&NodeId("10.0.0.1:7000".into()), 17)
        );
        let w = weight(&NodeId("n1".into()), 0);
        assert_ne!(w, weight(&NodeId("n2".into()), 0));
        assert_ne!(w, weight(&NodeId("n1".into()), 1));
    }

    #[test]
    fn nobody_owns_anything_without_members() {
        assert_eq!(desired_owner(3, &[]), None);
        let one = nodes(&["solo"]);
        assert!(assign(256, &one)
            .iter()
            .all(|o| o.as_ref() == Some(&one[0])));
    }

    #[test]
    fn the_spread_is_even() {
        // Many shards so the share of each member is tight; the weights are fixed, so this is
        // deterministic.
        const SHARDS: u32 = 4096;
        for n in [2usize, 3, 5, 8] {
            let members: Vec<NodeId> = (0..n).map(|i| NodeId(format!("node-{i}"))).collect();
            let placed = assign(SHARDS, &members);
            let fair = SHARDS as usize / n;
            for (member, count) in members.iter().zip(counts(&placed, &members)) {
                assert!(
                    count.abs_diff(fair) * 100 <= fair * 12,
                    "{n} members: {} has {count}, fair is {fair}",
                    member.0
                );
            }
        }
    }

    #[test]
    fn a_join_moves_about_one_nth_and_only_to_the_newcomer() {
        const SHARDS: u32 = 256;
        let before = nodes(&["a:1", "b:1", "c:1"]);
        let mut after = before.clone();
        after.push(NodeId("d:1".into()));
        let (p0, p1) = (assign(SHARDS, &before), assign(SHARDS, &after));
        let n = moved(&p0, &p1);
        // 1/4 of 256 is 64.
        assert!((40..=88).contains(&n), "{n} shards moved");
        for (x, y) in p0.iter().zip(&p1) {
            if x != y {
                assert_eq!(
                    y.as_ref(),
                    Some(&after[3]),
                    "a shard moved between old members"
                );
            }
        }
    }

    #[test]
    fn a_leave_moves_only_the_leavers_shards() {
        const SHARDS: u32 = 256;
        let before = nodes(&["a:1", "b:1", "c:1", "d:1"]);
        let after = nodes(&["a:1", "b:1", "d:1"]);
        let (p0, p1) = (assign(SHARDS, &before), assign(SHARDS, &after));
        let leaver = &before[2];
        let had = p0.iter().filter(|o| o.as_ref() == Some(leaver)).count();
        assert_eq!(moved(&p0, &p1), had);
        assert!((40..=88).contains(&had), "the leaver had {had}");
        // Its shards spread over the others, not onto one.
        let spread = counts(&p1, &after)
            .iter()
            .zip(counts(&p0, &after))
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>();
        assert!(spread.iter().all(|&gained| gained > 0), "{spread:?}");
    }
}
