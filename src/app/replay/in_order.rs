//! Items of numbered streams, arriving interleaved, handed on in stream
//! order: every item of stream 0, then of stream 1, and so on. Replay's
//! workers scan files in parallel; their results are counted and printed
//! in the order of the files, so the output is the same whatever the
//! scheduling.

use std::collections::HashMap;

pub struct InOrder<T> {
    /// The stream whose items pass straight through.
    current: usize,
    /// Items of later streams, and whether each such stream has ended.
    held: HashMap<usize, (Vec<T>, bool)>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            current: 0,
            held: HashMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts an item of `stream` (`last`: the stream's final one) and
    /// appends to `ready` every item that may now be handed on, in order.
    pub fn push(&mut self, stream: usize, item: T, last: bool, ready: &mut Vec<T>) {
        if stream > self.current {
            let (items, ended) = self.held.entry(stream).or_default();
            items.push(item);
            *ended |= last;
            return;
        }
        // An item of an earlier stream would break the protocol; it is
        // handed on rather than lost.
        debug_assert_eq!(stream, self.current, "an item after its stream ended");
        ready.push(item);
        if last && stream == self.current {
            self.current += 1;
            while let Some((items, ended)) = self.held.remove(&self.current) {
                ready.extend(items);
                if !ended {
                    break;
                }
                self.current += 1;
            }
        }
    }

    /// The streams that have ended, all of them before any that has not.
    pub fn ended(&self) -> usize {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn later_streams_wait_for_earlier_ones() {
        let mut order = InOrder::new();
        let mut ready = Vec::new();
        order.push(1, "b1", false, &mut ready);
        order.push(2, "c1", true, &mut ready);
        assert!(ready.is_empty());
        order.push(0, "a1", false, &mut ready);
        assert_eq!(ready, ["a1"]);
        order.push(0, "a2", true, &mut ready);
        assert_eq!(
            ready,
            ["a1", "a2", "b1"],
            "stream 1 is current now; 2 still waits"
        );
        assert_eq!(order.ended(), 1);
        order.push(1, "b2", true, &mut ready);
        assert_eq!(ready, ["a1", "a2", "b1", "b2", "c1"]);
        assert_eq!(order.ended(), 3);
    }

    proptest! {
        #[test]
        fn any_interleaving_comes_out_in_stream_order(
            lens in proptest::collection::vec(1usize..5, 1..8),
            seed in any::<u64>(),
        ) {
            // Each stream's items in order (the worker sends them so); the
            // streams interleaved at random.
            let mut queues: Vec<Vec<(usize, usize)>> = lens
                .iter()
                .enumerate()
                .map(|(s, &n)| (0..n).rev().map(|i| (s, i)).collect())
                .collect();
            let mut state = seed | 1;
            let mut order = InOrder::new();
            let mut ready = Vec::new();
            while queues.iter().any(|q| !q.is_empty()) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let open: Vec<usize> = (0..queues.len()).filter(|&s| !queues[s].is_empty()).collect();
                let s = open[(state % open.len() as u64) as usize];
                let item = queues[s].pop().unwrap();
                let last = queues[s].is_empty();
                order.push(s, item, last, &mut ready);
            }
            let want: Vec<(usize, usize)> = lens
                .iter()
                .enumerate()
                .flat_map(|(s, &n)| (0..n).map(move |i| (s, i)))
                .collect();
            prop_assert_eq!(ready, want);
            prop_assert_eq!(order.ended(), lens.len());
        }
    }
}
