//! Strict mode: before a member that lost its storage counts again, it asks the other voters
//! for their current term and takes the highest one.
//!
//! Why: its earlier life took part in quorums — it voted, it acknowledged entries — and the
//! promises behind them ("nothing from an older round", "nobody else in this round") went with
//! its storage. Catching up from one leader is not enough: that leader can be a stale one of an
//! old round, still within its lease, while a newer round already committed an entry with the
//! earlier life's help. Acknowledging the stale leader's entry at that index would commit it a
//! second time (simulator, strict mode, seed 19017249: the stale leader's quorum and the newer
//! one intersected only in the wiped member).
//!
//! The answers cover every quorum the earlier life completed. In strict mode a group has at most
//! `2 × min_quorum − 1` voters, so the others are at most `2 × min_quorum − 2`; a quorum the
//! earlier life joined holds at least `min_quorum − 1` of them, and any `min_quorum` others
//! include one of those. That member's term is at least the quorum's, and terms only grow, so
//! the highest answer fences off every round the earlier life may have promised something in.
//! Taking that round without a vote would still let this life vote in it a second time, so it
//! records a vote for itself there: it never grants anyone a vote in that round.
//!
//! Members that are catching up themselves answer too, and count differently: they hold
//! nothing of what their earlier lives acknowledged, so they are no witnesses, but they take a
//! place. Once `2 × min_quorum − 2` others answered, every place for the others is accounted
//! for, and the voters among them are all the surviving members of any quorum: enough even
//! when fewer than `min_quorum` of them are voters (two of three members wiped at once: the
//! runtime simulator's strict seeds 3100070 and 3100159 waited for each other for good).

use std::collections::BTreeSet;
use std::fmt::Debug;

use super::Engine;
use crate::config::PlantedBug;
use crate::message::Message;
use crate::types::{Instant, NodeId, Term};

/// The answers gathered during one catch-up.
#[derive(Debug)]
pub(super) struct TermQuery<Id> {
    /// The voters that told us their term (answers of observers do not count: they never were
    /// part of a quorum).
    answered: BTreeSet<Id>,
    /// The voters by configuration that answered while catching up themselves.
    blank: BTreeSet<Id>,
    /// When the voters that did not answer are asked again.
    due: Instant,
}

impl<Id> Default for TermQuery<Id> {
    fn default() -> Self {
        TermQuery {
            answered: BTreeSet::new(),
            blank: BTreeSet::new(),
            due: Instant::ZERO,
        }
    }
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// How many voters other than us must answer before a catch-up may end: `min_quorum` in
    /// strict mode (none when it is 1: a lone voter's quorums hold nobody else), none in
    /// dynamic mode, where quorums need not intersect and the merge rule settles conflicts.
    pub(super) fn terms_needed(&self) -> usize {
        if self.config.has_bug(PlantedBug::StaleCatchUp) {
            return 0;
        }
        match self.config.min_quorum {
            Some(min) if min > 1 => min,
            _ => 0,
        }
    }

    /// Whether enough voters told this catch-up their term (true when no catch-up runs):
    /// `terms_needed` voters, or answers from every place a strict group has for the others
    /// (`2 × min_quorum − 2`), members catching up included.
    pub(super) fn terms_heard(&self) -> bool {
        let needed = self.terms_needed();
        self.catch_up.as_ref().is_none_or(|c| {
            let voters = c.terms.answered.len();
            voters >= needed || voters + c.terms.blank.len() >= (2 * needed).saturating_sub(2)
        })
    }

    /// The next time unanswered voters are asked again, while answers are missing.
    pub(super) fn term_query_deadline(&self) -> Option<Instant> {
        let catch_up = self.catch_up.as_ref()?;
        (!self.terms_heard()).then_some(catch_up.terms.due)
    }

    /// Asks every bonded peer that has not answered as a voter, once due (every heartbeat
    /// interval: a query or its answer may be lost, and a peer still catching up answers as an
    /// observer until it is done).
    pub(super) fn query_terms(&mut self) {
        if self.terms_heard() {
            return;
        }
        let next = self.now + self.config.heartbeat_interval;
        let Some(catch_up) = self.catch_up.as_mut() else {
            return;
        };
        if catch_up.terms.due > self.now {
            return;
        }
        catch_up.terms.due = next;
        // Members that answered while catching up are asked again: they may be voters by now.
        let pending: Vec<Id> = (self.peers.keys())
            .filter(|peer| !catch_up.terms.answered.contains(peer))
            .copied()
            .collect();
        for peer in pending {
            self.ask_term(peer);
        }
    }

    /// A peer bonded: ask it at once if its answer is still missing.
    pub(super) fn query_term_of(&mut self, peer: Id) {
        let missing = self
            .catch_up
            .as_ref()
            .is_some_and(|c| !c.terms.answered.contains(&peer));
        if missing && !self.terms_heard() {
            self.ask_term(peer);
        }
    }

    fn ask_term(&mut self, peer: Id) {
        let epoch = self.hard.epoch;
        self.send(peer, Message::TermQuery { epoch });
    }

    /// Any member answers with its current term, as held (and persisted) now.
    pub(super) fn on_term_query(&mut self, from: Id, epoch: u64) {
        let msg = Message::TermAnswer {
            term: self.hard.term,
            epoch,
            voter: self.is_voter(),
            catching_up: self.is_catching_up() && self.config.preference.is_voter(),
        };
        self.send(from, msg);
    }

    /// An answer to this catch-up's query: a voter's term counts, and a later round than ours
    /// is taken at once, with a vote recorded for ourselves (see the module docs); a member
    /// catching up itself only takes a place.
    pub(super) fn on_term_answer(
        &mut self,
        from: Id,
        term: Term<Id>,
        epoch: u64,
        (voter, catching_up): (bool, bool),
    ) {
        if epoch != self.hard.epoch {
            return;
        }
        let Some(catch_up) = self.catch_up.as_mut() else {
            return;
        };
        if !voter {
            if catching_up && !catch_up.terms.answered.contains(&from) {
                catch_up.terms.blank.insert(from);
            }
            return;
        }
        catch_up.terms.blank.remove(&from);
        catch_up.terms.answered.insert(from);
        if term.round() > self.hard.term.round() {
            self.observe_term(term, None);
        }
        if term.round() == self.hard.term.round() && self.hard.vote.is_none() {
            self.hard.vote = Some(self.id);
            self.persist_hard_state();
        }
    }
}
