//! Elections: timeouts, campaigns, voting.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use super::{Engine, RoleState};
use crate::config::LeadershipPreference;
use crate::log::Entry;
use crate::message::{Message, Vote};
use crate::rank::CommittedRank;
use crate::types::{Cursor, NodeId, Term, millis};

/// What a candidate claims in a `RequestVote`: its log's last position, its committed rank,
/// and its commit records with the positions they end at.
type Claim<'a, Id> = (Cursor<Id>, CommittedRank<Id>, &'a [(Cursor<Id>, u64)]);

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// Randomized election timeout: `U[timeout, timeout + jitter)`, × factor when reluctant,
    /// + bootstrap delay while still in term 0.
    fn election_timeout(&mut self) -> Duration {
        let config = &self.config;
        let jitter = millis(config.election_timeout_jitter);
        let base = millis(config.election_timeout);
        let factor = match config.preference {
            LeadershipPreference::Reluctant { factor } => u64::from(factor.max(1)),
            _ => 1,
        };
        let bootstrap = if self.hard.term.round() == 0 && !self.bootstrap_waited {
            millis(config.bootstrap_delay)
        } else {
            0
        };
        let random = self.rng.below(jitter);
        let total = base
            .saturating_add(random)
            .saturating_mul(factor)
            .saturating_add(bootstrap);
        Duration::from_millis(total)
    }

    pub(super) fn reset_election_timer(&mut self) {
        let timeout = self.election_timeout();
        self.election_due = Some(self.now + timeout);
    }

    pub(super) fn on_election_timeout(&mut self) {
        // Nothing heard from the leader for a whole timeout: it is gone as far as we know.
        self.set_leader(None);
        if self.split_round.take() == Some(self.hard.term.round()) {
            // We lost a split of this round to a higher ballot: its owner campaigns first.
            self.reset_election_timer();
            return;
        }
        // A member catching up or yielding to a stronger history never campaigns.
        if self.is_voter() && self.yields_to().is_none() {
            self.start_campaign(true);
        } else {
            self.reset_election_timer();
        }
    }

    /// Campaigns for the next round, in a term this node owns. With `pre_vote` it only asks
    /// whether a quorum would vote for it (term untouched, nothing persisted); the real election
    /// follows if so.
    fn start_campaign(&mut self, pre_vote: bool) {
        let round = (self.hard.term.round())
            .saturating_add(1)
            .saturating_add(self.round_skip());
        let ballot = Term::new(round, self.id);
        if !pre_vote {
            self.hard.term = ballot;
            self.hard.vote = Some(self.id);
            self.persist_hard_state();
        }
        self.set_state(RoleState::Candidate {
            ballot,
            pre_vote,
            granted: BTreeSet::from([self.id]),
            answered: BTreeSet::from([self.id]),
            retry_due: self.now + self.config.heartbeat_interval,
        });
        self.reset_election_timer();
        self.request_votes();
        self.check_election();
    }

    /// Asks every voter that has not answered yet; also fired every heartbeat interval while
    /// campaigning, so a lost request does not cost a whole election timeout.
    pub(super) fn request_votes(&mut self) {
        let (now, interval) = (self.now, self.config.heartbeat_interval);
        let voters = self.voters();
        let RoleState::Candidate {
            ballot,
            pre_vote,
            answered,
            retry_due,
            ..
        } = &mut self.state
        else {
            return;
        };
        *retry_due = now + interval;
        let pending: Vec<Id> = voters.difference(answered).copied().collect();
        let (term, pre_vote) = (*ballot, *pre_vote);
        let (candidate, log_position) = (self.id, self.log.last());
        let rank = self.committed_rank();
        let records = self.records_with_terms();
        for peer in pending {
            let msg = Message::RequestVote {
                term,
                candidate,
                log_position,
                rank,
                records: records.clone(),
                pre_vote,
            };
            self.send(peer, msg);
        }
    }

    /// Once granted votes from current voters form a quorum: a won pre-vote starts the real
    /// election, a won election takes office.
    pub(super) fn check_election(&mut self) {
        let RoleState::Candidate {
            granted, pre_vote, ..
        } = &self.state
        else {
            return;
        };
        let voters = self.voters();
        let count = granted.intersection(&voters).count();
        if !self.quorum().is_quorum(count, voters.len()) {
            return;
        }
        if *pre_vote {
            self.start_campaign(false);
        } else {
            self.become_leader();
        }
    }

    /// True while we lead, or heard from our leader less than an election timeout ago: then we
    /// refuse pre-votes (leader stickiness), so a node that merely lost touch cannot disrupt.
    fn leader_is_live(&self) -> bool {
        self.is_leader()
            || (self.leader.is_some()
                && self
                    .leader_heard_at
                    .is_some_and(|at| self.now < at + self.config.election_timeout))
    }

    pub(super) fn on_request_vote(
        &mut self,
        from: Id,
        term: Term<Id>,
        candidate: Id,
        (log_position, rank, records): Claim<'_, Id>,
        pre_vote: bool,
    ) {
        if candidate != from || term.owner() != Some(candidate) {
            return; // malformed: a candidate only campaigns in terms it owns
        }
        let ours = self.hard.term;
        if pre_vote {
            // Nothing changes here: answer as we would vote in that round, were it to start.
            let survivor = self.sole_survivor() == Some(candidate);
            let up_to_date = survivor || self.up_to_date(log_position, &rank, records);
            let vote = if !self.is_voter() && !survivor {
                Vote::Abstained
            } else if !self.holds_voter_place(candidate) {
                Vote::Denied
            } else if term.round() > ours.round() && up_to_date && !self.leader_is_live() {
                Vote::Granted
            } else {
                Vote::Denied
            };
            let term = if vote == Vote::Granted { term } else { ours };
            let msg = Message::RequestVoteResponse {
                term,
                vote,
                pre_vote,
            };
            self.send(from, msg);
            return;
        }
        // Stickiness holds for real votes too: a candidate may pass its pre-vote among voters
        // that had not yet heard of a just-elected leader, and its real request then arrives
        // after they have. Adopting its round would depose a working leader for a candidate
        // that usually cannot win (its log is behind the new leader's noop); seed 47617 lost
        // every election after a heal this way. Ignoring it is always safe: it only withholds a
        // vote, and the lease ends one election timeout after the leader was last heard.
        // No answer at all (not a denial): the candidate then keeps re-asking every heartbeat
        // and is granted as soon as the lease runs out, instead of waiting a whole timeout.
        if term.round() > ours.round() && self.leader_is_live() {
            return;
        }
        if term.round() < ours.round() {
            let msg = Message::RequestVoteResponse {
                term: ours,
                vote: Vote::Denied,
                pre_vote,
            };
            self.send(from, msg);
            return;
        }
        if term.round() > ours.round() {
            self.observe_term(term, None);
        }
        // Same round from here on: rival ballots of one round are not "newer" than each other
        // (adopting one would depose the round's winner); a vote decides.
        let vote = self.decide_vote(term, log_position, (&rank, records));
        let msg = Message::RequestVoteResponse {
            term: self.hard.term,
            vote,
            pre_vote,
        };
        self.send(from, msg);
    }

    /// The election restriction: a candidate's log at `log_position` is at least as up to date
    /// as ours. While we yield to a stronger history, only that history's candidates qualify
    /// (`yield_vote`); otherwise, in dynamic mode, so does a candidate whose committed history
    /// outranks ours wherever they conflict (`outranked_by`).
    fn up_to_date(
        &self,
        log_position: Cursor<Id>,
        rank: &CommittedRank<Id>,
        records: &[(Cursor<Id>, u64)],
    ) -> bool {
        self.yield_vote(rank).unwrap_or_else(|| {
            !self.log_behind(log_position, rank) || self.outranked_by(rank, records)
        })
    }

    /// Whether a candidate's log ending at `log_position` is behind ours: by its last term, then
    /// its length (Raft). Dynamic mode, when both last terms are of the same round with different
    /// owners: by committed rank first (the candidate's `rank`, ours), then the length, then the
    /// owner.
    ///
    /// Two leaders of one round exist only in dynamic mode, on two sides of a partition; their
    /// terms are ordered by owner only so that every term has a place, and neither was elected
    /// after the other. Voting by owner there made the members holding the strongest history
    /// grant whichever weaker history ended on the higher owner; elected, it lost their contest
    /// and yielded, and the next such candidate won the following round: seven members with five
    /// histories after a heal went through six leaders, each deposed, and elected none in
    /// the time the simulator allows (dynamic 7-member seed 63000981). The committed rank is what
    /// the merge rule compares, so votes now go the way the contest would. Both sides of a pair
    /// compare the same values, so exactly one grants the other (both do when all are equal);
    /// denying votes by rank on one side only (a voter denying any candidate whose history its
    /// own outranks wherever they split, tried on 7 Dec 2026) left 2–2 splits the weaker side
    /// never learned to break: five 5-member stalls in about 20,000 seeds (62010854 among them).
    fn log_behind(&self, log_position: Cursor<Id>, rank: &CommittedRank<Id>) -> bool {
        let ours = self.log.last();
        let rivals =
            log_position.term.round() == ours.term.round() && log_position.term != ours.term;
        if self.config.is_strict() || !rivals {
            return log_position.is_behind(&ours);
        }
        let mine = self.committed_rank();
        (*rank, log_position.index, log_position.term) < (mine, ours.index, ours.term)
    }

    /// A rival's ballot of the round we campaign in, which we would have backed had we not
    /// voted for ourselves: the round splits. If the rival's ballot is the higher one we sit out
    /// our next timeout of this round, so the rival campaigns alone in the next. Randomized
    /// timeouts alone break such ties only by chance, and two voters left on their own (the
    /// third catching up) re-synchronise their timers with every split, since each resets its
    /// timer as it starts its real vote: strict seeds 9244850 and 10015828 split three rounds
    /// in a row. Only the lower ballot sits out, so exactly one side does; a rival that cannot
    /// win costs us one timeout. First-come still wins every round that does not split.
    fn lost_split(&mut self, rival: Term<Id>) {
        if let RoleState::Candidate {
            ballot,
            pre_vote: false,
            ..
        } = &self.state
            && ballot.round() == rival.round()
            && rival > *ballot
        {
            self.split_round = Some(rival.round());
        }
    }

    /// Vote in the current round: at most one candidate per round, and only if its log is at
    /// least as up-to-date as ours (election restriction) — or, while we yield to a stronger
    /// history, only if it belongs to that history. Granting adopts the candidate's ballot; term
    /// and vote are persisted before the response.
    fn decide_vote(
        &mut self,
        term: Term<Id>,
        log_position: Cursor<Id>,
        (rank, records): (&CommittedRank<Id>, &[(Cursor<Id>, u64)]),
    ) -> Vote {
        let Some(candidate) = term.owner() else {
            return Vote::Denied;
        };
        // A member catching up votes only for the sole survivor (see `sole_survivor`), whatever
        // its own partial log holds: that log is no witness.
        let survivor = self.sole_survivor() == Some(candidate);
        if !self.is_voter() && !survivor {
            return Vote::Abstained;
        }
        if !self.holds_voter_place(candidate) {
            return Vote::Denied; // strict mode: a member past the voter cap never leads
        }
        let free = self.hard.vote.is_none_or(|vote| vote == candidate);
        // Someone else already won this round and we follow it: C cannot win the round.
        let following_other = self.leader.is_some_and(|leader| leader != candidate);
        let up_to_date = survivor || self.up_to_date(log_position, rank, records);
        if !free && !following_other && up_to_date {
            self.lost_split(term);
        }
        if !free || following_other || !up_to_date {
            return Vote::Denied;
        }
        if self.hard.term != term {
            self.hard.vote = Some(candidate);
            self.observe_term(term, None); // persists the vote with the term
        } else if self.hard.vote != Some(candidate) {
            self.hard.vote = Some(candidate);
            self.persist_hard_state();
        }
        self.reset_election_timer();
        Vote::Granted
    }

    pub(super) fn on_vote_response(
        &mut self,
        from: Id,
        term: Term<Id>,
        vote: Vote,
        pre_vote: bool,
    ) {
        // A granted pre-vote echoes the round we asked about; anything else from a later round
        // means we are behind. A rival candidate of our own round is no reason to yield.
        let echo = pre_vote && vote == Vote::Granted;
        if !echo && term.round() > self.hard.term.round() {
            self.observe_term(term, None);
            return;
        }
        let RoleState::Candidate {
            ballot,
            pre_vote: campaign_is_pre_vote,
            granted,
            answered,
            ..
        } = &mut self.state
        else {
            return;
        };
        if pre_vote != *campaign_is_pre_vote || (vote == Vote::Granted && term != *ballot) {
            return; // an answer to an earlier campaign
        }
        answered.insert(from);
        if vote == Vote::Granted {
            granted.insert(from);
            self.check_election();
        }
    }

    /// Takes office: progress for every bonded peer, and a noop so that entries of earlier
    /// terms can commit under the current-term rule and reads can be served.
    fn become_leader(&mut self) {
        // Our ballot is now past anything an earlier life used. Persisted with the next hard
        // state; a restart before that jumps once more, which is only wasteful.
        self.lost_storage = false;
        let last = self.log.last_index();
        let peers: Vec<Id> = self.peers.keys().copied().collect();
        let term = self.hard.term;
        let noop = Entry::noop(term);
        let term_start = self.log.append(noop.clone());
        let state =
            super::leader::LeaderState::new(peers, last, term_start, self.now, &self.config);
        self.election_due = None;
        self.sync_requested = None;
        self.set_state(RoleState::Leader(state));
        self.set_leader(Some(self.id));
        self.emit(crate::io::Output::PersistLog {
            truncate_from: None,
            first_index: term_start,
            append: vec![noop],
        });
        self.maybe_advance_commit();
    }
}
