//! Unit tests of [`LogReplaySession`] and [`LogReplayProvider`] against a
//! fake context: range assignment, the leader last, bad and slow peers.
// Peers are `l` (the leader), `a` and `b` throughout.
#![allow(clippy::many_single_char_names)]

use {
    super::*,
    crate::{
        GroupId, NetworkId,
        groups::{LogReplaySync, NoOp, Term},
        primitives::Datum,
    },
    bytes::Bytes,
    core::{cell::RefCell, num::NonZero, task::Waker},
    iroh::SecretKey,
    mosaik_raft::{Cursor as RaftCursor, Index as RaftIndex, Term as RaftTerm},
};

type Sync = LogReplaySync<NoOp>;

fn peer() -> PeerId {
    SecretKey::generate().public()
}

/// A member's log as a list of terms (commands are `()`), its bonds, and
/// what it sent.
struct Fake {
    me: PeerId,
    owner: PeerId,
    terms: Vec<u64>,
    committed: u64,
    bonds: Vec<PeerId>,
    leader: Option<PeerId>,
    sent: RefCell<Vec<(PeerId, LogReplaySyncMessage)>>,
    closed: RefCell<Vec<PeerId>>,
    machine: NoOp,
    /// Replies `may_send` allows before the bond's budget is full.
    room: Option<usize>,
}

impl Fake {
    fn new(owner: PeerId, terms: Vec<u64>, bonds: Vec<PeerId>, leader: Option<PeerId>) -> Self {
        let committed = terms.len() as u64;
        Self {
            me: peer(),
            owner,
            terms,
            committed,
            bonds,
            leader,
            sent: RefCell::default(),
            closed: RefCell::default(),
            machine: NoOp,
            room: None,
        }
    }

    fn term(&self, round: u64) -> RaftTerm<PeerId> {
        RaftTerm::new(round, self.owner)
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.terms.get(usize::try_from(i - 1).ok()?).copied(),
        }
    }

    fn take_sent(&self) -> Vec<(PeerId, LogReplaySyncMessage)> {
        self.sent.take()
    }
}

impl crate::groups::sync::Sealed for Fake {}

impl SyncContext<Sync> for Fake {
    fn state_machine(&self) -> &NoOp {
        &self.machine
    }
    fn committed(&self) -> Cursor {
        Cursor::new(Term(0), Index(self.committed))
    }
    fn log_position(&self) -> Cursor {
        let last = self.terms.len() as u64;
        Cursor::new(Term(self.term_at(last).unwrap_or(0)), Index(last))
    }
    fn log_slice(&self, range: RangeInclusive<Index>, max_bytes: usize) -> LogSlice {
        let start = range.start().0.max(1);
        let end = range.end().0.min(self.committed);
        let Some(prev) = self.term_at(start - 1).filter(|_| start <= end) else {
            return LogSlice::empty(RaftCursor::zero());
        };
        let mut slice = LogSlice::empty(RaftCursor::new(self.term(prev), RaftIndex(start - 1)));
        for index in start..=end {
            if slice.len() >= max_bytes {
                break;
            }
            let term = self.term(self.term_at(index).unwrap());
            slice.entries.push((term, Some(().encode().unwrap())));
        }
        slice
    }
    fn max_message_size(&self) -> usize {
        // `log_slice` above counts entries, not bytes: four per answer.
        16
    }
    fn local_id(&self) -> PeerId {
        self.me
    }
    fn group_id(&self) -> GroupId {
        GroupId::from("group")
    }
    fn network_id(&self) -> NetworkId {
        NetworkId::from("net")
    }
    fn misbehaved(&self, peer: PeerId) {
        self.closed.borrow_mut().push(peer);
    }
    fn send_to(&self, peer: PeerId, msg: LogReplaySyncMessage) -> bool {
        self.sent.borrow_mut().push((peer, msg));
        true
    }
    fn may_send(&self, _peer: PeerId) -> bool {
        self.room.is_none_or(|room| self.sent.borrow().len() < room)
    }
    fn broadcast(&self, msg: LogReplaySyncMessage) -> Vec<PeerId> {
        for peer in &self.bonds {
            self.send_to(*peer, msg.clone());
        }
        self.bonds.clone()
    }
    fn bonds(&self) -> Vec<PeerId> {
        self.bonds.clone()
    }
    fn leader(&self) -> Option<PeerId> {
        self.leader
    }
    fn is_leader(&self) -> bool {
        false
    }
}

impl SyncSessionContext<Sync> for Fake {
    fn append(&mut self, slice: LogSlice) -> Result<Index, AppendError> {
        if self.term_at(slice.prev.index.0).map(|t| self.term(t)) != Some(slice.prev.term) {
            return Err(AppendError::Mismatch);
        }
        let mut index = slice.prev.index.0;
        for (term, payload) in slice.entries {
            index += 1;
            if payload.as_deref() == Some(b"bad".as_slice()) {
                return Err(AppendError::Undecodable);
            }
            if index > self.terms.len() as u64 {
                self.terms.push(term.round());
            }
        }
        Ok(Index(self.terms.len() as u64))
    }
}

fn poll(session: &mut LogReplaySession, ctx: &mut Fake) -> Poll<Cursor> {
    let mut cx = Context::from_waker(Waker::noop());
    StateSyncSession::<Sync>::poll(session, &mut cx, ctx)
}

fn session(timeout: Duration, target: u64) -> LogReplaySession {
    LogReplaySession::new(NonZero::new(3).unwrap(), timeout, Index(1), Index(target))
}

/// Serves every request in `sent` from `server`, as `from`.
fn serve(
    server: &mut Fake,
    sent: &[(PeerId, LogReplaySyncMessage)],
    from: PeerId,
) -> Vec<LogReplaySyncMessage> {
    let mut provider = LogReplayProvider::new(NonZero::new(3).unwrap());
    let mut answers = Vec::new();
    for (to, msg) in sent {
        if *to != from {
            continue;
        }
        let requester = peer();
        StateSyncProvider::<Sync>::receive(&mut provider, msg.clone(), requester, server).unwrap();
        answers.extend(server.take_sent().into_iter().map(|(_, m)| m));
    }
    answers
}

#[tokio::test]
async fn fetches_from_followers_in_parallel_and_spares_the_leader() {
    let (l, a, b) = (peer(), peer(), peer());
    let owner = peer();
    let mut me = Fake::new(owner, vec![], vec![l, a, b], Some(l));
    let mut s = session(Duration::from_secs(5), 9);
    assert!(poll(&mut s, &mut me).is_pending());
    let asked = me.take_sent();
    assert_eq!(asked.len(), 3, "every bond is asked for its availability");
    for p in [l, a, b] {
        let range = Index(1)..=Index(9);
        StateSyncSession::<Sync>::receive(
            &mut s,
            LogReplaySyncMessage::AvailabilityResponse(range),
            p,
            &mut me,
        );
    }
    assert!(poll(&mut s, &mut me).is_pending());
    let requests = me.take_sent();
    let to: Vec<PeerId> = requests.iter().map(|(p, _)| *p).collect();
    assert_eq!(requests.len(), 2, "one request per follower: {requests:?}");
    assert!(
        !to.contains(&l),
        "the leader is spared while followers serve"
    );

    // The followers answer (the second one first); the log is filled in order.
    let mut server = Fake::new(owner, vec![1; 9], vec![], Some(l));
    let mut answers: Vec<(PeerId, LogReplaySyncMessage)> = Vec::new();
    for p in [b, a] {
        answers.extend(serve(&mut server, &requests, p).into_iter().map(|m| (p, m)));
    }
    for (p, m) in answers {
        StateSyncSession::<Sync>::receive(&mut s, m, p, &mut me);
    }
    assert!(poll(&mut s, &mut me).is_pending());
    assert_eq!(me.terms.len(), 6, "both ranges appended");
    let next = me.take_sent();
    assert_eq!(next.len(), 1, "the last range: {next:?}");
    let answers = serve(&mut server, &next, next[0].0);
    for m in answers {
        StateSyncSession::<Sync>::receive(&mut s, m, next[0].0, &mut me);
    }
    assert_eq!(poll(&mut s, &mut me), Poll::Ready(me.log_position()));
    assert_eq!(me.terms, vec![1; 9]);
}

#[tokio::test]
async fn the_leader_serves_what_no_follower_holds() {
    let (l, a) = (peer(), peer());
    let mut me = Fake::new(peer(), vec![], vec![l, a], Some(l));
    let mut s = session(Duration::from_secs(5), 6);
    let _ = poll(&mut s, &mut me);
    me.take_sent();
    let reply = |upto| LogReplaySyncMessage::AvailabilityResponse(Index(1)..=Index(upto));
    StateSyncSession::<Sync>::receive(&mut s, reply(0), a, &mut me);
    StateSyncSession::<Sync>::receive(&mut s, reply(6), l, &mut me);
    let _ = poll(&mut s, &mut me);
    let sent = me.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, l);
}

#[tokio::test]
async fn a_diverging_peer_is_banned_and_its_range_refetched() {
    let (l, a, b) = (peer(), peer(), peer());
    let owner = peer();
    let mut me = Fake::new(owner, vec![1], vec![l, a, b], Some(l));
    let mut s = LogReplaySession::new(
        NonZero::new(3).unwrap(),
        Duration::from_secs(5),
        Index(2),
        Index(4),
    );
    let _ = poll(&mut s, &mut me);
    me.take_sent();
    for p in [a, b] {
        let range = Index(1)..=Index(4);
        let msg = LogReplaySyncMessage::AvailabilityResponse(range);
        StateSyncSession::<Sync>::receive(&mut s, msg, p, &mut me);
    }
    let _ = poll(&mut s, &mut me);
    let sent = me.take_sent();
    assert_eq!(sent.len(), 1, "one range of three: {sent:?}");
    let liar = sent[0].0;
    let LogReplaySyncMessage::FetchEntriesRequest(range) = sent[0].1.clone() else {
        panic!("a fetch request")
    };
    // Its entry 1 is of another leader's term: the rest is not our history.
    let other = Fake::new(peer(), vec![1, 1, 1, 1], vec![], Some(l));
    let slice = other.log_slice(range.clone(), 16);
    let msg = LogReplaySyncMessage::FetchEntriesResponse { range, slice };
    StateSyncSession::<Sync>::receive(&mut s, msg, liar, &mut me);
    let _ = poll(&mut s, &mut me);
    assert_eq!(me.terms, vec![1], "nothing appended from the liar");
    let sent = me.take_sent();
    let honest = if liar == a { b } else { a };
    assert!(
        sent.iter().any(|(p, m)| *p == honest
            && matches!(m, LogReplaySyncMessage::FetchEntriesRequest(r) if *r.start() == Index(2))),
        "the range goes to the other follower: {sent:?}"
    );
    assert!(
        sent.iter().all(|(p, _)| *p != liar),
        "the liar is not asked again: {sent:?}"
    );
    assert!(me.closed.borrow().is_empty(), "diverging is not hostile");
}

#[tokio::test]
async fn undecodable_entries_close_the_bond() {
    let (l, a) = (peer(), peer());
    let owner = peer();
    let mut me = Fake::new(owner, vec![], vec![l, a], Some(l));
    let mut s = session(Duration::from_secs(5), 2);
    let _ = poll(&mut s, &mut me);
    me.take_sent();
    let range = Index(1)..=Index(2);
    StateSyncSession::<Sync>::receive(
        &mut s,
        LogReplaySyncMessage::AvailabilityResponse(range.clone()),
        a,
        &mut me,
    );
    let _ = poll(&mut s, &mut me);
    me.take_sent();
    let mut slice = LogSlice::empty(RaftCursor::zero());
    slice.entries = vec![(me.term(1), Some(Bytes::from_static(b"bad"))); 2];
    StateSyncSession::<Sync>::receive(
        &mut s,
        LogReplaySyncMessage::FetchEntriesResponse { range, slice },
        a,
        &mut me,
    );
    let _ = poll(&mut s, &mut me);
    assert_eq!(*me.closed.borrow(), vec![a]);
    assert!(me.terms.is_empty());
}

#[tokio::test]
async fn a_silent_peer_is_dropped_and_asked_again() {
    let (l, a, b) = (peer(), peer(), peer());
    let mut me = Fake::new(peer(), vec![], vec![l, a, b], Some(l));
    let mut s = session(Duration::ZERO, 3);
    let _ = poll(&mut s, &mut me);
    me.take_sent();
    StateSyncSession::<Sync>::receive(
        &mut s,
        LogReplaySyncMessage::AvailabilityResponse(Index(1)..=Index(3)),
        a,
        &mut me,
    );
    let _ = poll(&mut s, &mut me);
    let sent = me.take_sent();
    assert!(
        matches!(sent.as_slice(), [(p, LogReplaySyncMessage::FetchEntriesRequest(_))] if *p == a)
    );
    // Timeout zero: the next poll drops `a` and asks it again.
    let _ = poll(&mut s, &mut me);
    let sent = me.take_sent();
    assert!(
        sent.iter()
            .any(|(p, m)| *p == a && matches!(m, LogReplaySyncMessage::AvailabilityRequest)),
        "{sent:?}"
    );
}

#[tokio::test]
async fn ends_when_nobody_holds_more() {
    let (l, a) = (peer(), peer());
    let mut me = Fake::new(peer(), vec![], vec![l, a], Some(l));
    let mut s = session(Duration::from_mins(1), 100);
    let _ = poll(&mut s, &mut me);
    for p in [l, a] {
        StateSyncSession::<Sync>::receive(
            &mut s,
            LogReplaySyncMessage::AvailabilityResponse(Index(1)..=Index(0)),
            p,
            &mut me,
        );
    }
    assert!(
        poll(&mut s, &mut me).is_ready(),
        "gives up at once: the leader streams"
    );
}

#[test]
fn provider_answers_committed_entries_only() {
    let owner = peer();
    let mut server = Fake::new(owner, vec![1, 1, 2, 2, 2], vec![], None);
    server.committed = 3;
    let mut provider = LogReplayProvider::new(NonZero::new(10).unwrap());
    let asker = peer();
    let req = LogReplaySyncMessage::FetchEntriesRequest(Index(2)..=Index(5));
    StateSyncProvider::<Sync>::receive(&mut provider, req, asker, &mut server).unwrap();
    let sent = server.take_sent();
    let [(to, LogReplaySyncMessage::FetchEntriesResponse { slice, .. })] = sent.as_slice() else {
        panic!("one answer: {sent:?}")
    };
    assert_eq!(*to, asker);
    assert_eq!((slice.first(), slice.last()), (Index(2), Index(3)));
    let other = LogReplaySyncMessage::AvailabilityResponse(Index(1)..=Index(1));
    assert!(StateSyncProvider::<Sync>::receive(&mut provider, other, asker, &mut server).is_err());
}

/// A peer that floods fetch requests gets replies only while its bond has
/// room (`SyncContext::may_send`): the rest are dropped before a slice is
/// built, so a thousand requests cost a thousand lookups, not slices.
#[test]
fn provider_builds_no_reply_once_the_bond_is_full() {
    let mut server = Fake::new(peer(), vec![1; 8], vec![], None);
    server.room = Some(3);
    let mut provider = LogReplayProvider::new(NonZero::new(10).unwrap());
    let flooder = peer();
    for _ in 0..1000 {
        let req = LogReplaySyncMessage::FetchEntriesRequest(Index(1)..=Index(8));
        StateSyncProvider::<Sync>::receive(&mut provider, req, flooder, &mut server).unwrap();
    }
    assert_eq!(
        server.take_sent().len(),
        3,
        "replies only while there was room"
    );
}
