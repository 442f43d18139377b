//! Before a member that lost its storage counts again, it asks the other voters for their
//! current term and takes the highest one: `min_quorum` of them in strict mode, `⌈n/2⌉` of the
//! `n` voter members it knows in dynamic mode.
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
//! Dynamic mode has no bound on the voters, so the count is the one of the catch-up weight
//! (`rejoin.rs`, `weight_suffices`): a write stored on a majority of the `n` voter members has
//! copies on at least `⌊n/2⌋` of the `n − 1` others once ours is gone, so any `⌈n/2⌉` others
//! include a holder. The weight rule alone was not enough: it trusts a leader's latest commit,
//! and a deposed leader's commit can predate the write our earlier life helped a newer round
//! commit; the acknowledging holder moved on to that round since, but the deposed leader's
//! bond to it was stale, so nothing contested its history before we lent it a majority
//! (simulator, dynamic mode, seed 82030310). A holder's answer now carries that round. A
//! member that knows no other voter asks nobody; the sole-survivor poll below is strict
//! mode's only.
//!
//! Members that are catching up themselves answer too, and count differently: they hold
//! nothing of what their earlier lives acknowledged, so they are no witnesses, but they take a
//! place. Once `2 × min_quorum − 2` others answered, every place for the others is accounted
//! for, and the voters among them are all the surviving members of any quorum: enough even
//! when fewer than `min_quorum` of them are voters (two of three members wiped at once: the
//! runtime simulator's strict seeds 3100070 and 3100159 waited for each other for good).

use std::collections::{BTreeMap, BTreeSet};
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
    /// Once the terms are heard and no leader is known: the latest poll of every place, each
    /// member that answered it and whether it answered as a voter (see `sole_survivor`).
    poll: BTreeMap<Id, bool>,
}

impl<Id> Default for TermQuery<Id> {
    fn default() -> Self {
        TermQuery {
            answered: BTreeSet::new(),
            blank: BTreeSet::new(),
            due: Instant::ZERO,
            poll: BTreeMap::new(),
        }
    }
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// How many voters other than us must answer before a catch-up may end: `min_quorum` in
    /// strict mode (none when it is 1: a lone voter's quorums hold nobody else); in dynamic
    /// mode `⌈n/2⌉`, `n` the voter members we know (our voter peers and ourselves), none when
    /// we know no other voter. Dynamic mode's reason is the module's: a write stored on a
    /// majority of `n` has copies on at least `⌊n/2⌋` of the others once ours is gone, so any
    /// `⌈n/2⌉` others include a holder, whose round is at least the write's.
    pub(super) fn terms_needed(&self) -> usize {
        if self.config.has_bug(PlantedBug::StaleCatchUp) {
            return 0;
        }
        match self.config.min_quorum {
            Some(min) if min > 1 => min,
            Some(_) => 0,
            None => match self.known_voter_members() {
                1 => 0,
                n => n.div_ceil(2),
            },
        }
    }

    /// Whether enough voters told this catch-up their term (true when no catch-up runs):
    /// `terms_needed` voters, or, in strict mode, answers from every place a strict group has
    /// for the others (`2 × min_quorum − 2`), members catching up included.
    pub(super) fn terms_heard(&self) -> bool {
        // Counted only during a catch-up: every tick asks (`query_terms`).
        self.catch_up.as_ref().is_none_or(|c| {
            let (needed, strict) = (self.terms_needed(), self.config.is_strict());
            let voters = c.terms.answered.len();
            voters >= needed
                || (strict && voters + c.terms.blank.len() >= (2 * needed).saturating_sub(2))
        })
    }

    /// Strict mode, while catching up with no leader known: the one member that can still
    /// lead, if every place a strict group has for the others answered the latest poll and
    /// exactly one of them as a voter (all the others lost their storage too). It holds all
    /// that survives of what was committed, and any later commit needs it, so a catch-up may
    /// take it as leader. Without this the wiped members wait for a leader and the survivor,
    /// alone short of a quorum, waits for their votes, for good (runtime simulator, strict vec
    /// seeds 3700306 and 3700242: two of three members wiped while the third did not lead). So
    /// we vote for it and for nobody else, and our acknowledgements count for it. A shell that
    /// shows members catching up to their peers as non-voters must show this one as a voter
    /// to the survivor meanwhile, or the survivor never asks for its vote.
    pub fn sole_survivor(&self) -> Option<Id> {
        let needed = self.terms_needed();
        let poll = &self.catch_up.as_ref()?.terms.poll;
        let mut voters = poll.iter().filter(|(_, voter)| **voter).map(|(id, _)| *id);
        let survivor = voters.next()?;
        let all_places = poll.len() >= (2 * needed).saturating_sub(2);
        let strict = self.config.is_strict();
        (strict && needed > 1 && all_places && voters.next().is_none()).then_some(survivor)
    }

    /// The next time unanswered voters are asked again, while answers are missing, or the
    /// next poll is due.
    pub(super) fn term_query_deadline(&self) -> Option<Instant> {
        let catch_up = self.catch_up.as_ref()?;
        (!self.terms_heard() || self.polls()).then_some(catch_up.terms.due)
    }

    /// Whether a catch-up polls every place (terms heard, no leader known, strict mode).
    fn polls(&self) -> bool {
        self.config.is_strict()
            && self.catch_up.is_some()
            && self.terms_needed() > 1
            && self.leader.is_none()
    }

    /// Asks every bonded peer that has not answered as a voter, once due (every heartbeat
    /// interval: a query or its answer may be lost, and a peer still catching up answers as an
    /// observer until it is done). Once the terms are heard and while no leader is known, asks
    /// every peer again each interval, for `sole_survivor`'s poll.
    pub(super) fn query_terms(&mut self) {
        let heard = self.terms_heard();
        let polls = heard && self.polls();
        if heard && !polls {
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
        if polls {
            catch_up.terms.poll.clear();
            let peers: Vec<Id> = self.peers.keys().copied().collect();
            for peer in peers {
                self.ask_term(peer);
            }
            return;
        }
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
        if voter || catching_up {
            catch_up.terms.poll.insert(from, voter);
        }
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
