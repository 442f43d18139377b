//! The orderbook example runs to completion (its modules, compiled here).

#[path = "../../examples/orderbook/book.rs"]
mod book;
#[path = "../../examples/orderbook/cluster.rs"]
mod cluster;

#[tokio::test(flavor = "multi_thread")]
async fn orderbook_example_runs_to_completion() {
    let report = cluster::run(20).await.expect("the scenario completes");
    assert_eq!(report.orders, 40);
    assert!(!report.fills.is_empty(), "the generated orders cross");
    assert!(report.follower_agrees);
    let sent = report.fills.len() as u64;
    assert_eq!(report.fills_received, [sent, sent]);
    // Matching leaves no crossed book behind.
    if let (Some(bid), Some(ask)) = report.top {
        assert!(bid < ask, "crossed book: bid {bid} ask {ask}");
    }
}
