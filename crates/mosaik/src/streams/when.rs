//! `When` and `ChannelConditions`: awaitable conditions on the set of
//! connected channels of a producer or consumer.

use {
    super::ChannelInfo,
    crate::{Tag, discovery::PeerEntry},
    core::{
        pin::Pin,
        task::{Context, Poll},
    },
    std::{
        collections::BTreeSet,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    },
    tokio::sync::watch,
};

type PeerPredicate = Arc<dyn Fn(&PeerEntry) -> bool + Send + Sync>;

/// The rule part of a condition, without the channel feed.
#[derive(Clone)]
pub(crate) struct Rule {
    minimum: usize,
    tags: BTreeSet<Tag>,
    predicates: Vec<PeerPredicate>,
    inverted: bool,
}

impl core::fmt::Debug for Rule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rule")
            .field("minimum", &self.minimum)
            .field("tags", &self.tags)
            .field("predicates", &self.predicates.len())
            .field("inverted", &self.inverted)
            .finish()
    }
}

impl Rule {
    pub(crate) fn evaluate(&self, channels: &[ChannelInfo]) -> bool {
        let count = channels
            .iter()
            .filter(|c| c.is_connected())
            .filter(|c| self.tags.is_subset(c.peer().tags()))
            .filter(|c| self.predicates.iter().all(|p| p(c.peer())))
            .count();
        (count >= self.minimum) != self.inverted
    }
}

/// A condition on the connected channels: at least `n` peers (optionally
/// with given tags and matching predicates), or its inverse.
///
/// Awaiting it resolves on each transition from not met to met; the first
/// poll resolves at once when the condition already holds. Await `&mut
/// cond` to re-arm the same condition; clones start fresh.
pub struct ChannelConditions {
    channels: watch::Receiver<Vec<ChannelInfo>>,
    rule: Rule,
    fired: bool,
    pending: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl core::fmt::Debug for ChannelConditions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelConditions")
            .field("minimum", &self.rule.minimum)
            .field("tags", &self.rule.tags)
            .field("predicates", &self.rule.predicates.len())
            .field("inverted", &self.rule.inverted)
            .finish_non_exhaustive()
    }
}

impl Clone for ChannelConditions {
    fn clone(&self) -> Self {
        Self::new(self.channels.clone(), self.rule.clone())
    }
}

impl ChannelConditions {
    pub(crate) fn new(channels: watch::Receiver<Vec<ChannelInfo>>, rule: Rule) -> Self {
        Self {
            channels,
            rule,
            fired: false,
            pending: None,
        }
    }

    pub(crate) fn at_least(channels: watch::Receiver<Vec<ChannelInfo>>, minimum: usize) -> Self {
        Self::new(
            channels,
            Rule {
                minimum,
                tags: BTreeSet::new(),
                predicates: Vec::new(),
                inverted: false,
            },
        )
    }

    pub(crate) fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Requires at least `n` matching connected peers.
    #[must_use]
    pub fn minimum_of(mut self, n: usize) -> Self {
        self.rule.minimum = n;
        self.pending = None;
        self
    }

    /// Only peers carrying all of `tags` count (one tag or many).
    #[must_use]
    pub fn with_tags<V>(mut self, tags: impl crate::primitives::IntoIterOrSingle<Tag, V>) -> Self {
        self.rule.tags.extend(tags.into_items());
        self.pending = None;
        self
    }

    /// Only peers matching `predicate` (and every earlier one) count.
    #[must_use]
    pub fn with_predicate(
        mut self,
        predicate: impl Fn(&PeerEntry) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rule.predicates.push(Arc::new(predicate));
        self.pending = None;
        self
    }

    /// Same as [`Self::minimum_of`] (the name later 0.3 releases use).
    #[must_use]
    pub fn to_at_least(self, n: usize) -> Self {
        self.minimum_of(n)
    }

    /// The inverse condition.
    #[must_use]
    pub fn unmet(mut self) -> Self {
        self.rule.inverted = !self.rule.inverted;
        self.pending = None;
        self
    }

    /// Same as [`Self::unmet`]; also `!condition`.
    #[must_use]
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        self.unmet()
    }

    /// Whether the condition holds now.
    pub fn is_condition_met(&self) -> bool {
        self.rule.evaluate(&self.channels.borrow())
    }
}

impl core::ops::Not for ChannelConditions {
    type Output = Self;

    fn not(self) -> Self {
        self.unmet()
    }
}

impl PartialEq<bool> for ChannelConditions {
    fn eq(&self, other: &bool) -> bool {
        self.is_condition_met() == *other
    }
}

/// Waits until `rule` evaluates to `want`; never resolves once the feed is
/// gone (nothing can change any more).
async fn wait_until(mut rx: watch::Receiver<Vec<ChannelInfo>>, rule: &Rule, want: bool) {
    loop {
        if rule.evaluate(&rx.borrow_and_update()) == want {
            return;
        }
        if rx.changed().await.is_err() {
            core::future::pending::<()>().await;
        }
    }
}

impl Future for ChannelConditions {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.is_none() {
            let rx = self.channels.clone();
            let rule = self.rule.clone();
            let rearm = self.fired;
            self.pending = Some(Box::pin(async move {
                if rearm {
                    wait_until(rx.clone(), &rule, false).await;
                }
                wait_until(rx, &rule, true).await;
            }));
        }
        let fut = self.pending.as_mut().expect("set above");
        match fut.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.pending = None;
                self.fired = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Status of a producer or consumer: its online flag and its channels.
#[derive(Debug, Clone)]
pub struct When {
    online: watch::Receiver<bool>,
    /// The online flag's value for `is_online`, which a producer reads on
    /// every send: a load, where the watch's `borrow` takes its lock (1.4 %
    /// of a 64-byte stream's CPU in a profile).
    flag: Arc<AtomicBool>,
    channels: watch::Receiver<Vec<ChannelInfo>>,
}

impl When {
    /// Resolves once online; never resolves if the worker is gone.
    pub async fn online(&self) {
        let mut rx = self.online.clone();
        if rx.wait_for(|v| *v).await.is_err() {
            core::future::pending::<()>().await;
        }
    }

    /// Resolves once offline (or when the worker is gone).
    pub async fn offline(&self) {
        let mut rx = self.online.clone();
        let _ = rx.wait_for(|v| !*v).await;
    }

    /// Whether online now.
    pub fn is_online(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// At least one connected peer.
    pub fn subscribed(&self) -> ChannelConditions {
        ChannelConditions::at_least(self.channels.clone(), 1)
    }

    /// No connected peer (`subscribed().unmet()`).
    pub fn unsubscribed(&self) -> ChannelConditions {
        self.subscribed().unmet()
    }
}

/// The worker side of a [`When`]: publishes channels and the online flag.
#[derive(Debug)]
pub(crate) struct Status {
    online: watch::Sender<bool>,
    /// Mirrors `online`, written under the watch's lock.
    flag: Arc<AtomicBool>,
    channels: watch::Sender<Vec<ChannelInfo>>,
    rule: Option<Rule>,
}

impl Status {
    pub(crate) fn new() -> Self {
        Self {
            online: watch::channel(false).0,
            flag: Arc::new(AtomicBool::new(false)),
            channels: watch::channel(Vec::new()).0,
            rule: None,
        }
    }

    /// Conditions over this status' channels, starting at `minimum`.
    pub(crate) fn conditions(&self, minimum: usize) -> ChannelConditions {
        ChannelConditions::at_least(self.channels.subscribe(), minimum)
    }

    /// Installs the online rule and recomputes the flag.
    pub(crate) fn set_rule(&mut self, rule: Rule) {
        self.rule = Some(rule);
        self.refresh();
    }

    pub(crate) fn when(&self) -> When {
        When {
            online: self.online.subscribe(),
            flag: self.flag.clone(),
            channels: self.channels.subscribe(),
        }
    }

    pub(crate) fn channels(&self) -> Vec<ChannelInfo> {
        self.channels.borrow().clone()
    }

    /// Replaces the channel list and recomputes the online flag.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Vec<ChannelInfo>)) {
        self.channels.send_modify(change);
        self.refresh();
    }

    /// Recomputes the online flag (a channel changed state).
    pub(crate) fn refresh(&self) {
        let online = self
            .rule
            .as_ref()
            .is_some_and(|r| r.evaluate(&self.channels.borrow()));
        self.online.send_if_modified(|v| {
            let changed = *v != online;
            *v = online;
            self.flag.store(online, Ordering::Release);
            changed
        });
        // Wake condition futures: a channel's state may have changed
        // without the list changing.
        self.channels.send_modify(|_| {});
    }

    /// Marks the stream as stopped: offline for good.
    pub(crate) fn stop(&self) {
        self.online.send_modify(|v| {
            *v = false;
            self.flag.store(false, Ordering::Release);
        });
    }
}
