//! Which directed links the simulated network currently refuses to carry.
//!
//! Every partition shape the simulator needs — symmetric splits into groups, one-way blocks (the
//! asymmetric partitions that break naive leader leases), a node cut off from everyone — reduces
//! to a set of blocked `(from, to)` pairs. Keeping one representation means delivery needs one
//! lookup and healing is just removing pairs.

use std::collections::BTreeSet;
use std::fmt::Debug;

/// A set of blocked directed links between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedLinks<N> {
    blocked: BTreeSet<(N, N)>,
}

impl<N: Copy + Ord + Debug> BlockedLinks<N> {
    /// No link is blocked.
    pub fn new() -> Self {
        Self {
            blocked: BTreeSet::new(),
        }
    }

    /// Whether messages from `from` to `to` are currently dropped.
    pub fn is_blocked(&self, from: N, to: N) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// Whether no link is blocked.
    pub fn is_empty(&self) -> bool {
        self.blocked.is_empty()
    }

    /// The blocked links in a deterministic order.
    pub fn iter(&self) -> impl Iterator<Item = (N, N)> + '_ {
        self.blocked.iter().copied()
    }

    /// Blocks messages from `from` to `to` only (an asymmetric, one-way partition).
    pub fn block(&mut self, from: N, to: N) {
        if from != to {
            self.blocked.insert((from, to));
        }
    }

    /// Blocks both directions between `a` and `b`.
    pub fn block_both(&mut self, a: N, b: N) {
        self.block(a, b);
        self.block(b, a);
    }

    /// Blocks every link between nodes of different groups, in both directions.
    ///
    /// Links inside a group are left as they are, so splits compose with earlier blocks; call
    /// [`BlockedLinks::heal_all`] first for a fresh split. Nodes in no group are unaffected.
    pub fn split(&mut self, groups: &[Vec<N>]) {
        for (i, group) in groups.iter().enumerate() {
            for other in &groups[i + 1..] {
                for &a in group {
                    for &b in other {
                        self.block_both(a, b);
                    }
                }
            }
        }
    }

    /// Blocks both directions between `node` and each of `peers`.
    pub fn isolate(&mut self, node: N, peers: impl IntoIterator<Item = N>) {
        for peer in peers {
            self.block_both(node, peer);
        }
    }

    /// Unblocks the link from `from` to `to` (the reverse direction is untouched).
    pub fn heal(&mut self, from: N, to: N) {
        self.blocked.remove(&(from, to));
    }

    /// Unblocks both directions between `a` and `b`.
    pub fn heal_both(&mut self, a: N, b: N) {
        self.heal(a, b);
        self.heal(b, a);
    }

    /// Unblocks every link touching `node`.
    pub fn heal_node(&mut self, node: N) {
        self.blocked
            .retain(|&(from, to)| from != node && to != node);
    }

    /// Unblocks every link.
    pub fn heal_all(&mut self) {
        self.blocked.clear();
    }
}

impl<N: Copy + Ord + Debug> Default for BlockedLinks<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_pairs(links: &BlockedLinks<u8>, nodes: u8) -> Vec<(u8, u8)> {
        let mut pairs = Vec::new();
        for a in 0..nodes {
            for b in 0..nodes {
                if links.is_blocked(a, b) {
                    pairs.push((a, b));
                }
            }
        }
        pairs
    }

    #[test]
    fn one_way_block_leaves_the_reverse_direction_open() {
        let mut links = BlockedLinks::new();
        links.block(1, 2);
        assert_eq!(all_pairs(&links, 4), [(1, 2)]);
    }

    #[test]
    fn split_blocks_exactly_the_cross_group_links() {
        let mut links = BlockedLinks::new();
        links.split(&[vec![0, 1], vec![2, 3, 4]]);
        for a in 0..5 {
            for b in 0..5 {
                let crosses = (a < 2) != (b < 2);
                assert_eq!(links.is_blocked(a, b), crosses, "{a}->{b}");
            }
        }
    }

    #[test]
    fn isolate_cuts_a_node_from_all_peers_both_ways() {
        let mut links = BlockedLinks::new();
        links.isolate(2, 0..4);
        assert_eq!(
            all_pairs(&links, 4),
            [(0, 2), (1, 2), (2, 0), (2, 1), (2, 3), (3, 2)]
        );
    }

    #[test]
    fn self_links_are_never_blocked() {
        let mut links = BlockedLinks::new();
        links.block(1, 1);
        links.isolate(1, [1]);
        assert!(links.is_empty());
    }

    #[test]
    fn healing_removes_exactly_what_it_names() {
        let mut links = BlockedLinks::new();
        links.split(&[vec![0], vec![1], vec![2]]);
        links.heal(0, 1);
        assert!(!links.is_blocked(0, 1));
        assert!(links.is_blocked(1, 0));
        links.heal_both(1, 2);
        assert_eq!(all_pairs(&links, 3), [(0, 2), (1, 0), (2, 0)]);
        links.heal_node(0);
        assert!(links.is_empty());
        links.block_both(0, 1);
        links.heal_all();
        assert_eq!(links.iter().count(), 0);
    }
}
