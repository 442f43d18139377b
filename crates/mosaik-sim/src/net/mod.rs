//! A deterministic simulated network and clock.
//!
//! [`SimNetwork`] keeps one event queue of message deliveries and node timers, ordered by
//! `(time, sequence number)`, so the same seed and the same calls always produce the same trace.
//! Messages suffer the faults of a [`FaultConfig`] (loss, random delay and hence reordering,
//! duplication); partitions ([`BlockedLinks`]) and crashes are runtime state. Each node reads its
//! own drifting [`NodeClock`]; [`SimRng`] is the only randomness and is shared with the harness.
//!
//! ```
//! use mosaik_sim::net::{Event, FaultConfig, SimNetwork};
//!
//! let mut net: SimNetwork<u8, &str> = SimNetwork::new(42, FaultConfig::RELIABLE);
//! for node in 0..3 {
//!     net.add_node(node);
//! }
//! net.partition(&[vec![0], vec![1, 2]]);
//! net.send(0, 1, "blocked");
//! net.send(1, 2, "delivered");
//! net.set_timer(0, 10);
//! assert!(matches!(net.next_event(), Some(Event::Deliver { to: 2, .. })));
//! assert_eq!(net.next_event(), Some(Event::Timer { node: 0 }));
//! assert_eq!(net.next_event(), None);
//! assert_eq!(net.stats().dropped, 1);
//! ```

mod clock;
mod event;
mod faults;
mod links;
mod network;
mod rng;

pub use clock::{NodeClock, PPM};
pub use event::{Event, NetStats};
pub use faults::FaultConfig;
pub use links::BlockedLinks;
pub use network::SimNetwork;
pub use rng::SimRng;

#[cfg(test)]
mod tests {
    //! Whole-network behaviour: determinism, fault rates under many random messages, and how
    //! crashes and partitions interact with messages in flight.

    use super::*;

    const NODES: u8 = 4;

    /// Runs a seeded random workload and records every event with its time.
    fn trace(seed: u64, faults: FaultConfig) -> (Vec<String>, NetStats) {
        let mut net: SimNetwork<u8, u32> = SimNetwork::new(seed, faults);
        for node in 0..NODES {
            net.add_node(node);
        }
        let mut workload = net.rng().fork();
        for i in 0..500 {
            let from = u8::try_from(workload.gen_range(0..u64::from(NODES))).unwrap();
            let to = u8::try_from(workload.gen_range(0..u64::from(NODES))).unwrap();
            net.send(from, to, i);
            if i % 50 == 0 {
                net.set_local_timer(from, net.local_time(from) + 20);
            }
        }
        let mut events = Vec::new();
        while let Some(event) = net.next_event() {
            events.push(format!("{} {event:?}", net.now()));
        }
        (events, net.stats())
    }

    #[test]
    fn same_seed_gives_an_identical_trace() {
        let (first, first_stats) = trace(77, FaultConfig::HOSTILE);
        let (second, second_stats) = trace(77, FaultConfig::HOSTILE);
        assert_eq!(first, second);
        assert_eq!(first_stats, second_stats);
        let (other, _) = trace(78, FaultConfig::HOSTILE);
        assert_ne!(first, other);
    }

    #[test]
    fn harness_draws_do_not_change_network_faults() {
        let run = |extra_draws: usize| {
            let mut net: SimNetwork<u8, u32> = SimNetwork::new(12, FaultConfig::HOSTILE);
            for i in 0..200 {
                for _ in 0..extra_draws {
                    net.rng().next_u64();
                }
                net.send(0, 1, i);
            }
            let events: Vec<_> =
                std::iter::from_fn(|| net.next_event().map(|e| (net.now(), e))).collect();
            (events, net.stats())
        };
        assert_eq!(run(0), run(3));
    }

    #[test]
    fn random_delays_reorder_messages() {
        let (events, _) = trace(5, FaultConfig::HOSTILE);
        let order: Vec<u32> = events
            .iter()
            .filter_map(|e| e.split("msg: ").nth(1))
            .map(|m| m.trim_end_matches(" }").parse().unwrap())
            .collect();
        assert!(order.windows(2).any(|w| w[0] > w[1]), "no reordering");
    }

    #[test]
    fn loss_rate_is_roughly_respected() {
        let faults = FaultConfig {
            loss_probability: 0.2,
            ..FaultConfig::RELIABLE
        };
        let mut dropped = 0;
        let mut sent = 0;
        for seed in 0..20 {
            let (_, stats) = trace(seed, faults);
            dropped += stats.dropped;
            sent += stats.sent;
            assert_eq!(stats.delivered + stats.dropped, stats.sent);
        }
        let rate = dropped * 1000 / sent;
        assert!((180..=220).contains(&rate), "loss {rate}/1000");
    }

    #[test]
    fn duplicated_messages_are_delivered_twice() {
        let faults = FaultConfig {
            duplicate_probability: 1.0,
            ..FaultConfig::RELIABLE
        };
        let mut net: SimNetwork<u8, &str> = SimNetwork::new(3, faults);
        net.send(0, 1, "twice");
        let deliveries = std::iter::from_fn(|| net.next_event()).count();
        assert_eq!(deliveries, 2);
        let stats = net.stats();
        assert_eq!((stats.sent, stats.duplicated, stats.delivered), (1, 1, 2));
    }

    #[test]
    fn counters_balance_under_every_fault() {
        for seed in 0..10 {
            let (events, stats) = trace(seed, FaultConfig::HOSTILE);
            assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
            assert_eq!(stats.in_flight, 0);
            assert_eq!(
                stats.sent + stats.duplicated,
                stats.delivered + stats.dropped
            );
            let deliveries = events.iter().filter(|e| e.contains("Deliver")).count();
            assert_eq!(deliveries as u64, stats.delivered);
        }
    }

    #[test]
    fn partitions_block_exactly_the_configured_directions() {
        let mut net: SimNetwork<u8, (u8, u8)> = SimNetwork::new(9, FaultConfig::RELIABLE);
        for node in 0..NODES {
            net.add_node(node);
        }
        // {0, 1} | {2, 3}, plus a one-way block inside the second group.
        net.partition(&[vec![0, 1], vec![2, 3]]);
        net.blocked_links_mut().block(3, 2);
        let expected_open = |from: u8, to: u8| (from < 2) == (to < 2) && (from, to) != (3, 2);
        for round in 0..2 {
            for from in 0..NODES {
                for to in 0..NODES {
                    net.send(from, to, (from, to));
                }
            }
            let mut delivered = Vec::new();
            while let Some(event) = net.next_event() {
                if let Event::Deliver { msg, .. } = event {
                    delivered.push(msg);
                }
            }
            delivered.sort_unstable();
            let mut expected = Vec::new();
            for from in 0..NODES {
                for to in 0..NODES {
                    if round == 1 || expected_open(from, to) {
                        expected.push((from, to));
                    }
                }
            }
            assert_eq!(delivered, expected, "round {round}");
            net.heal();
        }
    }

    fn reliable() -> SimNetwork<u8, &'static str> {
        let mut net = SimNetwork::new(1, FaultConfig::RELIABLE);
        for node in 0..3 {
            net.add_node(node);
        }
        net
    }

    #[test]
    fn crashed_nodes_neither_send_nor_receive_nor_keep_timers() {
        let mut net = reliable();
        net.set_timer(2, 5);
        net.send(0, 2, "in flight");
        net.crash(2);
        net.send(2, 0, "from the dead");
        net.send(0, 2, "to the dead");
        assert_eq!(net.next_event(), None);
        assert_eq!(net.stats().dropped, 3);

        net.restart(2);
        net.send(0, 2, "welcome back");
        assert!(matches!(
            net.next_event(),
            Some(Event::Deliver { to: 2, .. })
        ));
        assert!(!net.is_down(2));
    }

    #[test]
    fn messages_already_sent_survive_their_sender_crashing() {
        let mut net = reliable();
        net.send(0, 1, "last words");
        net.crash(0);
        assert!(matches!(
            net.next_event(),
            Some(Event::Deliver { from: 0, .. })
        ));
    }

    #[test]
    fn a_link_cut_while_a_message_is_in_flight_loses_it() {
        let mut net = reliable();
        net.send(0, 1, "x");
        net.blocked_links_mut().block(0, 1);
        assert_eq!(net.next_event(), None);
        assert_eq!(net.stats().dropped, 1);
        assert_eq!(net.stats().in_flight, 0);
    }

    #[test]
    fn isolate_cuts_one_node_and_heal_restores_it() {
        let mut net = reliable();
        net.isolate(1);
        for (from, to) in [(0, 1), (1, 0), (1, 2), (2, 1)] {
            net.send(from, to, "cut");
        }
        net.send(0, 2, "fine");
        assert_eq!(
            net.next_event(),
            Some(Event::Deliver {
                from: 0,
                to: 2,
                msg: "fine"
            })
        );
        assert_eq!(net.next_event(), None);
        net.heal();
        net.send(1, 0, "back");
        assert!(matches!(
            net.next_event(),
            Some(Event::Deliver { from: 1, .. })
        ));
    }
}
