//! Re-typing the peer ids inside a [`Message`].
//!
//! Why this exists: a shell may decode messages with a cheap stand-in for its id type (plain
//! bytes, say) and turn each id into the real one afterwards, with whatever caching it likes.
//! Decoding a rich id type straight from the wire can be expensive (the `mosaik` shell's ids
//! are curve points that are validated on every decode), and a message names the same few
//! peers over and over: its term, its leader, its previous position and every entry's term.
//! The conversion may fail (a malformed id); the first failure is returned and nothing is
//! half-converted.

use crate::log::Entry;
use crate::message::{AppendResult, Forward, Message};
use crate::rank::CommittedRank;
use crate::types::Cursor;

impl<A> Cursor<A> {
    /// The same position with its term's owner converted by `f`.
    pub fn try_map_id<B, E>(self, f: &mut impl FnMut(A) -> Result<B, E>) -> Result<Cursor<B>, E> {
        Ok(Cursor {
            term: self.term.try_map_id(f)?,
            index: self.index,
        })
    }
}

impl<A> CommittedRank<A> {
    /// The same rank with its position's owner converted by `f`.
    pub fn try_map_id<B, E>(
        self,
        f: &mut impl FnMut(A) -> Result<B, E>,
    ) -> Result<CommittedRank<B>, E> {
        Ok(CommittedRank {
            weight: self.weight,
            commit: self.commit.try_map_id(f)?,
        })
    }
}

impl<A, C> Entry<A, C> {
    /// The same entry with its term's owner converted by `f`.
    pub fn try_map_id<B, E>(self, f: &mut impl FnMut(A) -> Result<B, E>) -> Result<Entry<B, C>, E> {
        Ok(Entry {
            term: self.term.try_map_id(f)?,
            payload: self.payload,
        })
    }
}

impl<A> AppendResult<A> {
    /// The same result with every id in it converted by `f`.
    pub fn try_map_id<B, E>(
        self,
        f: &mut impl FnMut(A) -> Result<B, E>,
    ) -> Result<AppendResult<B>, E> {
        Ok(match self {
            AppendResult::Success { match_index } => AppendResult::Success { match_index },
            AppendResult::Conflict {
                rejected_prev,
                hint,
                conflict_term,
            } => AppendResult::Conflict {
                rejected_prev,
                hint,
                conflict_term: conflict_term.map(|t| t.try_map_id(f)).transpose()?,
            },
            AppendResult::Fetching { last } => AppendResult::Fetching { last },
            AppendResult::Diverged {
                rank,
                conflict,
                records,
            } => AppendResult::Diverged {
                rank: rank.try_map_id(f)?,
                conflict,
                records: records
                    .into_iter()
                    .map(|(at, weight)| Ok((at.try_map_id(f)?, weight)))
                    .collect::<Result<_, E>>()?,
            },
        })
    }
}

impl<A, C> Forward<A, C> {
    /// The same request or answer with every id in it converted by `f`.
    pub fn try_map_id<B, E>(
        self,
        f: &mut impl FnMut(A) -> Result<B, E>,
    ) -> Result<Forward<B, C>, E> {
        Ok(match self {
            Forward::Command {
                request_id,
                commands,
            } => Forward::Command {
                request_id,
                commands,
            },
            Forward::CommandAck {
                request_id,
                assigned,
                term,
            } => Forward::CommandAck {
                request_id,
                assigned,
                term: term.try_map_id(f)?,
            },
            Forward::CommandRejected { request_id } => Forward::CommandRejected { request_id },
            Forward::Read { request_id } => Forward::Read { request_id },
            Forward::ReadIndex {
                request_id,
                read_index,
            } => Forward::ReadIndex {
                request_id,
                read_index,
            },
            Forward::ReadRejected { request_id } => Forward::ReadRejected { request_id },
        })
    }
}

impl<A, C> Message<A, C> {
    /// The same message with every peer id in it (terms, leader, candidate, positions, ranks,
    /// each entry's term) converted by `f`, in order of appearance; the first error is returned.
    pub fn try_map_id<B, E>(
        self,
        f: &mut impl FnMut(A) -> Result<B, E>,
    ) -> Result<Message<B, C>, E> {
        Ok(match self {
            Message::AppendEntries {
                term,
                leader,
                prev_log_position,
                entries,
                leader_commit,
                rank,
                overrule,
                seq,
                epoch,
            } => Message::AppendEntries {
                term: term.try_map_id(f)?,
                leader: f(leader)?,
                prev_log_position: prev_log_position.try_map_id(f)?,
                entries: entries
                    .into_iter()
                    .map(|e| e.try_map_id(f))
                    .collect::<Result<_, E>>()?,
                leader_commit,
                rank: rank.try_map_id(f)?,
                overrule,
                seq,
                epoch,
            },
            Message::AppendEntriesResponse {
                term,
                seq,
                result,
                vote,
                epoch,
            } => Message::AppendEntriesResponse {
                term: term.try_map_id(f)?,
                seq,
                result: result.try_map_id(f)?,
                vote,
                epoch,
            },
            Message::RequestVote {
                term,
                candidate,
                log_position,
                rank,
                records,
                pre_vote,
            } => Message::RequestVote {
                term: term.try_map_id(f)?,
                candidate: f(candidate)?,
                log_position: log_position.try_map_id(f)?,
                rank: rank.try_map_id(f)?,
                records: records
                    .into_iter()
                    .map(|(at, weight)| Ok((at.try_map_id(f)?, weight)))
                    .collect::<Result<_, _>>()?,
                pre_vote,
            },
            Message::RequestVoteResponse {
                term,
                vote,
                pre_vote,
            } => Message::RequestVoteResponse {
                term: term.try_map_id(f)?,
                vote,
                pre_vote,
            },
            Message::StateSyncRequired {
                term,
                leader,
                base,
                leader_commit,
                rank,
                overrule,
                seq,
                epoch,
            } => Message::StateSyncRequired {
                term: term.try_map_id(f)?,
                leader: f(leader)?,
                base: base.try_map_id(f)?,
                leader_commit,
                rank: rank.try_map_id(f)?,
                overrule,
                seq,
                epoch,
            },
            Message::Forward(forward) => Message::Forward(forward.try_map_id(f)?),
            Message::TermQuery { epoch } => Message::TermQuery { epoch },
            Message::TermAnswer {
                term,
                epoch,
                voter,
                catching_up,
            } => Message::TermAnswer {
                term: term.try_map_id(f)?,
                epoch,
                voter,
                catching_up,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Overrule, Vote};
    use crate::types::{Index, Term};

    fn term(round: u64, owner: u64) -> Term<u64> {
        Term::new(round, owner)
    }

    fn position(round: u64, owner: u64, index: u64) -> Cursor<u64> {
        Cursor::new(term(round, owner), Index::new(index))
    }

    /// Widening and narrowing back gives the original message: every id is visited and
    /// nothing else changes.
    #[test]
    fn round_trip_keeps_every_field() {
        let rank = CommittedRank {
            weight: 3,
            commit: position(4, 2, 9),
        };
        let messages: Vec<Message<u64, &str>> = vec![
            Message::AppendEntries {
                term: term(5, 1),
                leader: 1,
                prev_log_position: position(4, 2, 10),
                entries: vec![Entry::command(term(4, 2), "a"), Entry::noop(term(5, 1))],
                leader_commit: Index::new(9),
                rank,
                overrule: Some(Overrule {
                    conflict: Index::new(3),
                    weight: 1,
                    commit: Index::new(4),
                }),
                seq: 17,
                epoch: 0,
            },
            Message::AppendEntriesResponse {
                term: term(5, 1),
                seq: 17,
                result: AppendResult::Conflict {
                    rejected_prev: Index::new(10),
                    hint: Index::new(7),
                    conflict_term: Some(term(3, 3)),
                },
                vote: Vote::Granted,
                epoch: 0,
            },
            Message::AppendEntriesResponse {
                term: Term::zero(),
                seq: 1,
                result: AppendResult::Diverged {
                    rank,
                    conflict: Index::new(5),
                    records: vec![(position(2, 3, 4), 2)],
                },
                vote: Vote::Abstained,
                epoch: 0,
            },
            Message::RequestVote {
                term: term(6, 3),
                candidate: 3,
                log_position: position(5, 1, 12),
                rank,
                records: vec![(position(3, 2, 4), 3), (position(5, 1, 9), 1)],
                pre_vote: true,
            },
            Message::StateSyncRequired {
                term: term(6, 3),
                leader: 3,
                base: position(2, 1, 100),
                leader_commit: Index::new(120),
                rank,
                overrule: None,
                seq: 2,
                epoch: 0,
            },
            Message::Forward(Forward::CommandAck {
                request_id: 8,
                assigned: Index::new(3)..=Index::new(4),
                term: term(6, 3),
            }),
        ];
        for message in messages {
            let mut seen = 0;
            let wide = message
                .clone()
                .try_map_id(&mut |id| {
                    seen += 1;
                    Ok::<_, ()>(u128::from(id) + 1000)
                })
                .unwrap();
            assert!(seen > 0, "{} has ids", message.kind());
            let back = wide.try_map_id(&mut |id| u64::try_from(id - 1000)).unwrap();
            assert_eq!(back, message);
        }
    }

    /// The first id the conversion refuses fails the whole message.
    #[test]
    fn a_refused_id_fails_the_message() {
        let message: Message<u64, &str> = Message::AppendEntries {
            term: term(5, 1),
            leader: 1,
            prev_log_position: position(4, 1, 10),
            entries: vec![
                Entry::command(term(5, 1), "a"),
                Entry::command(term(5, 9), "b"),
            ],
            leader_commit: Index::new(9),
            rank: CommittedRank::zero(),
            overrule: None,
            seq: 1,
            epoch: 0,
        };
        let refused = message.try_map_id(&mut |id| if id == 9 { Err(id) } else { Ok(id) });
        assert_eq!(refused, Err(9));
    }
}
