//! The replicated order book: a `StateMachine` matching limit orders with
//! price-time priority. Every matcher applies the same orders in the same
//! order, so every replica produces the same fills.

use {
    mosaik::{
        UniqueId,
        groups::{ApplyContext, LogReplaySync, StateMachine},
        unique_id,
    },
    serde::{Deserialize, Serialize},
    std::collections::{BTreeMap, VecDeque},
};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// A bid.
    Buy,
    /// An ask.
    Sell,
}

/// A limit order, as traders stream it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    /// Unique per trader.
    pub id: u64,
    /// Which trader sent it.
    pub trader: u8,
    /// Buy or sell.
    pub side: Side,
    /// Limit price, in ticks.
    pub price: u64,
    /// Quantity.
    pub qty: u64,
}

/// A trade between an incoming order (taker) and a resting one (maker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Trader and order id of the incoming order.
    pub taker: (u8, u64),
    /// Trader and order id of the resting order.
    pub maker: (u8, u64),
    /// The maker's price.
    pub price: u64,
    /// Quantity traded.
    pub qty: u64,
}

/// The commands of the book.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BookCommand {
    /// Match an order, rest what remains.
    PlaceOrder(Order),
}

/// The reads of the book.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BookQuery {
    /// Every fill so far, oldest first.
    Fills,
    /// Best bid and best ask.
    Top,
}

/// Answers to [`BookQuery`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BookAnswer {
    /// The fills.
    Fills(Vec<Fill>),
    /// Best bid, best ask.
    Top(Option<u64>, Option<u64>),
}

/// Bids and asks: a FIFO queue of resting orders per price level, so
/// orders at one price fill in arrival order (time priority).
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    bids: BTreeMap<u64, VecDeque<Order>>,
    asks: BTreeMap<u64, VecDeque<Order>>,
    fills: Vec<Fill>,
}

impl OrderBook {
    fn place(&mut self, mut order: Order) {
        // Price priority: the best opposite level first (lowest ask for a
        // buy, highest bid for a sell), while it crosses the limit.
        while order.qty > 0 {
            let level = match order.side {
                Side::Buy => self.asks.first_entry().filter(|l| *l.key() <= order.price),
                Side::Sell => self.bids.last_entry().filter(|l| *l.key() >= order.price),
            };
            let Some(mut level) = level else { break };
            let price = *level.key();
            let queue = level.get_mut();
            while order.qty > 0 {
                let Some(maker) = queue.front_mut() else {
                    break;
                };
                let qty = order.qty.min(maker.qty);
                self.fills.push(Fill {
                    taker: (order.trader, order.id),
                    maker: (maker.trader, maker.id),
                    price,
                    qty,
                });
                order.qty -= qty;
                maker.qty -= qty;
                if maker.qty == 0 {
                    queue.pop_front();
                }
            }
            if queue.is_empty() {
                level.remove();
            }
        }
        if order.qty > 0 {
            let side = match order.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            side.entry(order.price).or_default().push_back(order);
        }
    }
}

impl StateMachine for OrderBook {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = BookCommand;
    type Query = BookQuery;
    type QueryResult = BookAnswer;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        unique_id!("example-orderbook-v1")
    }

    fn apply(&mut self, command: BookCommand, _: &dyn ApplyContext) {
        match command {
            BookCommand::PlaceOrder(order) => self.place(order),
        }
    }

    fn query(&self, query: BookQuery) -> BookAnswer {
        match query {
            BookQuery::Fills => BookAnswer::Fills(self.fills.clone()),
            BookQuery::Top => BookAnswer::Top(
                self.bids.last_key_value().map(|(p, _)| *p),
                self.asks.first_key_value().map(|(p, _)| *p),
            ),
        }
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(trader: u8, id: u64, side: Side, price: u64, qty: u64) -> Order {
        Order {
            id,
            trader,
            side,
            price,
            qty,
        }
    }

    #[test]
    fn price_then_time_priority() {
        let mut book = OrderBook::default();
        book.place(order(1, 1, Side::Sell, 101, 5));
        book.place(order(1, 2, Side::Sell, 100, 5));
        book.place(order(2, 3, Side::Sell, 100, 5));
        // Best price first (100), and at 100 the earlier order first.
        book.place(order(3, 4, Side::Buy, 101, 12));
        let makers: Vec<_> = book
            .fills
            .iter()
            .map(|f| (f.maker, f.price, f.qty))
            .collect();
        assert_eq!(
            makers,
            [((1, 2), 100, 5), ((2, 3), 100, 5), ((1, 1), 101, 2)]
        );
        assert_eq!(book.asks[&101][0].qty, 3);
        assert!(book.bids.is_empty());
    }
}
