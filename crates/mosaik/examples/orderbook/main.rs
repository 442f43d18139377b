//! An order-matching engine replicated with Raft.
//!
//! Five nodes in one process: three matchers form a group running the
//! custom [`book::OrderBook`] state machine (price-time priority,
//! `LogReplaySync`); two traders stream `Order`s. The leader turns each
//! order into a committed `PlaceOrder` command, reads the fills with a
//! `Strong` query and publishes them on a `Fill` stream; a follower reads
//! the same fills locally (`Weak`) after catching up.
//!
//! ```sh
//! cargo run --example orderbook
//! ```

mod book;
mod cluster;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let report = cluster::run(50).await?;
    let volume: u64 = report.fills.iter().map(|f| f.qty).sum();
    println!("orders executed   {}", report.orders);
    println!("fills             {} (volume {volume})", report.fills.len());
    for fill in report.fills.iter().take(5) {
        println!(
            "  trader {} order {:>2} took {:>2} @ {} from trader {} order {}",
            fill.taker.0, fill.taker.1, fill.qty, fill.price, fill.maker.0, fill.maker.1
        );
    }
    println!("fills on stream   {:?} (per trader)", report.fills_received);
    println!("follower agrees   {}", report.follower_agrees);
    println!(
        "top of book       bid {:?} ask {:?}",
        report.top.0, report.top.1
    );
    anyhow::ensure!(report.follower_agrees, "the follower saw different fills");
    Ok(())
}
