//! Invariant checks: run on every output (ordering contract, committed entries, leaders) and on
//! demand over the whole cluster (log matching, state machines, convergence).

use std::collections::BTreeMap;

use mosaik_raft::{AppendResult, Index, Message, Vote};

use super::{Cluster, Cmd, Id, Msg, Node};

impl Cluster {
    /// Ordering contract: what a message vouches for is already on disk.
    pub(super) fn check_durable_before_send(&self, id: Id, msg: &Msg) {
        let node = &self.nodes[&id];
        let disk = &node.disk;
        let disk_last = disk.base.index + disk.entries.len() as u64;
        match msg {
            Message::AppendEntriesResponse {
                result: AppendResult::Success { match_index },
                ..
            } => {
                assert!(
                    *match_index <= disk_last,
                    "node {id} acked {match_index} before persisting it"
                );
            }
            Message::RequestVoteResponse {
                term,
                vote: Vote::Granted,
                pre_vote: false,
            } => {
                assert_eq!(
                    disk.hard.term, *term,
                    "node {id} voted before persisting the term"
                );
                if node.config.planted_bug.is_none() {
                    assert!(
                        disk.hard.vote.is_some(),
                        "node {id} voted before persisting the vote"
                    );
                }
            }
            Message::RequestVote {
                term,
                pre_vote: false,
                ..
            }
            | Message::AppendEntries { term, .. } => {
                assert_eq!(
                    disk.hard.term, *term,
                    "node {id} sent in a term it did not persist"
                );
            }
            _ => {}
        }
    }

    pub(super) fn record_commit(&mut self, id: Id, commit: Index) {
        let node = &self.nodes[&id];
        let log = node.engine().log();
        let round = node.engine().term().round();
        let mut index = node.commit_seen.next().max(log.base().index).max(Index(1));
        while index <= commit {
            let term = log.term_at(index).unwrap();
            let seen = self.committed.entry(index).or_insert((term, round));
            if self.check_committed {
                assert_eq!(
                    seen.0, term,
                    "state machine safety: index {index} committed with two terms (node {id})"
                );
                seen.1 = seen.1.min(round);
            } else if seen.0 != term {
                *seen = (term, round);
            }
            index = index.next();
        }
        self.nodes.get_mut(&id).unwrap().commit_seen = commit;
    }

    pub(super) fn record_leader(&mut self, id: Id) {
        let engine = self.nodes[&id].engine();
        let term = engine.term();
        let previous = self.leaders_by_term.insert(term, id);
        assert!(
            previous.is_none_or(|p| p == id),
            "election safety: two leaders in term {term}"
        );
        self.leaders_by_round
            .entry(term.round())
            .or_default()
            .insert(id);
        if self.check_committed {
            // Leader completeness: every entry committed in an earlier round is in the new
            // leader's log. (A leader of an old round can still be elected late — it commits
            // nothing, as everyone in newer rounds refuses it.)
            let log = engine.log();
            for (index, (term, round)) in &self.committed {
                if *index > log.base().index && *round < engine.term().round() {
                    assert_eq!(
                        log.term_at(*index),
                        Some(*term),
                        "leader completeness: node {id} misses committed {index}"
                    );
                }
            }
        }
    }

    /// Log matching: if two logs hold an entry with the same term at the same index, they are
    /// identical up to that index (over the range both still hold).
    pub fn check_log_matching(&self) {
        let live: Vec<&Node> = self.nodes.values().filter(|n| n.is_up()).collect();
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                let (la, lb) = (a.engine().log(), b.engine().log());
                let low = la.base().index.max(lb.base().index);
                let mut index = la.last_index().min(lb.last_index());
                while index > low && la.term_at(index) != lb.term_at(index) {
                    index = index.prev();
                }
                while index > low {
                    assert_eq!(
                        la.get(index),
                        lb.get(index),
                        "log matching: nodes {} and {} differ at {index}",
                        a.id,
                        b.id
                    );
                    index = index.prev();
                }
            }
        }
    }

    /// State machine safety: no two nodes applied different commands at the same index.
    pub fn check_state_machines(&self) {
        let mut seen: BTreeMap<Index, (Id, Cmd)> = BTreeMap::new();
        for node in self.nodes.values().filter(|n| n.is_up()) {
            for (index, cmd) in &node.sm {
                let (other, theirs) = *seen.entry(*index).or_insert((node.id, *cmd));
                assert_eq!(
                    theirs, *cmd,
                    "state machine safety: nodes {other} and {} at {index}",
                    node.id
                );
            }
        }
    }

    /// Prints every node's state when `RAFT_DUMP` is set (debugging aid).
    pub fn dump(&self) {
        if std::env::var_os("RAFT_DUMP").is_some() {
            for n in self.nodes.values() {
                let e = n.engine();
                println!(
                    "n{} {:?} term {} leader {:?} commit {} last {} base {} peers {:?} disc {}",
                    n.id,
                    e.role(),
                    e.term(),
                    e.leader(),
                    e.commit_index(),
                    e.last_log(),
                    e.log().base(),
                    e.peers().keys().collect::<Vec<_>>(),
                    n.discarded
                );
                for (i, entry) in e.log().iter_from(Index(15)) {
                    println!("   {i} {} {:?}", entry.term, entry.payload);
                }
            }
        }
    }

    /// Every live node has applied exactly the same commands.
    pub fn assert_converged(&self) {
        self.dump();
        let live: Vec<&Node> = self.nodes.values().filter(|n| n.is_up()).collect();
        for node in &live[1..] {
            assert_eq!(
                node.sm, live[0].sm,
                "nodes {} and {} did not converge",
                live[0].id, node.id
            );
            assert_eq!(
                node.engine().commit_index(),
                live[0].engine().commit_index()
            );
        }
    }

    /// At most one leader per round (strict mode, or dynamic mode without partitions).
    pub fn check_one_leader_per_round(&self) {
        for (round, leaders) in &self.leaders_by_round {
            assert!(
                leaders.len() <= 1,
                "two leaders in round {round}: {leaders:?}"
            );
        }
    }
}
