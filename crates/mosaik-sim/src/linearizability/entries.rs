//! The real-time list of calls and returns the search walks.

/// One call or return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The operation (a position in the partition's op list).
    pub(super) op: usize,
    /// Call or return.
    pub(super) is_call: bool,
    /// When it happened (`u64::MAX` for a return that never has to happen).
    pub(super) time: u64,
}

/// A circular doubly linked list of entries in real-time order, with a sentinel at index 0.
///
/// The search removes an operation's entries when it linearizes the operation and puts them back
/// when it backtracks. Removal keeps the removed node's own links, so undoing removals in reverse
/// order — which a depth-first search always does — restores the list exactly (Knuth's "dancing
/// links"), in O(1) per operation.
#[derive(Debug)]
pub(super) struct EntryList {
    pub(super) entries: Vec<Entry>,
    pub(super) next: Vec<usize>,
    prev: Vec<usize>,
    /// Per operation: the index of its return entry, or 0 if it has none in this list.
    return_of: Vec<usize>,
}

impl EntryList {
    /// Builds the list from `(op, call, return)` triples; `op_count` bounds the op positions.
    ///
    /// At equal times calls come before returns, which makes operations that merely touch count
    /// as concurrent: never claiming an order the timestamps cannot prove avoids false alarms.
    pub(super) fn new(
        op_count: usize,
        ops: impl IntoIterator<Item = (usize, u64, Option<u64>)>,
    ) -> Self {
        let mut order: Vec<(u64, bool, usize)> = Vec::new();
        for (op, call, ret) in ops {
            order.push((call, false, op));
            if let Some(ret) = ret {
                order.push((ret, true, op));
            }
        }
        order.sort_unstable();
        let sentinel = Entry {
            op: usize::MAX,
            is_call: false,
            time: u64::MAX,
        };
        let mut entries = vec![sentinel];
        let mut return_of = vec![0; op_count];
        for (time, is_return, op) in order {
            if is_return {
                return_of[op] = entries.len();
            }
            entries.push(Entry {
                op,
                is_call: !is_return,
                time,
            });
        }
        let len = entries.len();
        Self {
            next: (0..len).map(|i| (i + 1) % len).collect(),
            prev: (0..len).map(|i| (i + len - 1) % len).collect(),
            entries,
            return_of,
        }
    }

    /// The first entry still in the list, or 0 if it is empty.
    pub(super) fn first(&self) -> usize {
        self.next[0]
    }

    /// Removes a call entry and its return, if any.
    pub(super) fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.return_of[self.entries[call].op];
        if ret != 0 {
            self.unlink(ret);
        }
    }

    /// Restores what `lift(call)` removed; must undo the most recent lift still in effect.
    pub(super) fn unlift(&mut self, call: usize) {
        let ret = self.return_of[self.entries[call].op];
        if ret != 0 {
            self.relink(ret);
        }
        self.relink(call);
    }

    /// The operations of the call entries still in the list before index `end`.
    pub(super) fn calls_before(&self, end: usize) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.first();
        std::iter::from_fn(move || {
            while at != 0 && at < end {
                let entry = self.entries[at];
                at = self.next[at];
                if entry.is_call {
                    return Some(entry.op);
                }
            }
            None
        })
    }

    fn unlink(&mut self, at: usize) {
        let (prev, next) = (self.prev[at], self.next[at]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, at: usize) {
        let (prev, next) = (self.prev[at], self.next[at]);
        self.next[prev] = at;
        self.prev[next] = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(list: &EntryList) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut at = list.first();
        while at != 0 {
            seen.push(at);
            at = list.next[at];
        }
        seen
    }

    #[test]
    fn calls_sort_before_returns_at_equal_times() {
        let list = EntryList::new(3, [(0, 0, Some(5)), (1, 5, Some(9)), (2, 1, None)]);
        let layout: Vec<(usize, bool, u64)> = list.entries[1..]
            .iter()
            .map(|e| (e.op, e.is_call, e.time))
            .collect();
        let expected = [
            (0, true, 0),
            (2, true, 1),
            (1, true, 5),
            (0, false, 5),
            (1, false, 9),
        ];
        assert_eq!(layout, expected);
    }

    #[test]
    fn lift_and_unlift_in_reverse_order_restore_the_list() {
        let mut list = EntryList::new(5, (0..5).map(|i| (i, i as u64 * 2, Some(i as u64 * 2 + 3))));
        let original = walk(&list);
        let calls: Vec<usize> = (1..list.entries.len())
            .filter(|&e| list.entries[e].is_call)
            .collect();
        for &call in &[calls[1], calls[0], calls[4]] {
            list.lift(call);
        }
        assert_eq!(walk(&list).len(), 4);
        assert_eq!(list.calls_before(usize::MAX).collect::<Vec<_>>(), [2, 3]);
        for &call in &[calls[4], calls[0], calls[1]] {
            list.unlift(call);
        }
        assert_eq!(walk(&list), original);
    }

    #[test]
    fn calls_only_lists_lift_single_entries() {
        let mut list = EntryList::new(2, [(0, 4, None), (1, 2, None)]);
        assert_eq!(list.calls_before(usize::MAX).collect::<Vec<_>>(), [1, 0]);
        list.lift(1);
        assert_eq!(list.calls_before(usize::MAX).collect::<Vec<_>>(), [0]);
        list.unlift(1);
        assert_eq!(walk(&list), [1, 2]);
    }
}
