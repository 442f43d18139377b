//! A Mainline DHT node that reads and writes bootstrap slots.
//!
//! We talk to mainline directly rather than through `pkarr::Client`: the
//! bootstrap needs compare-and-swap publishes (BEP 44 `cas`), which pkarr's
//! client does not expose, and it must never use relays or a cache (every
//! cycle has to see the DHT's current state). pkarr still defines the record
//! format (`SignedPacket`).

use {
    super::{
        record::{EncodeError, SlotRecord},
        slots::slot_public_keys,
    },
    crate::NetworkId,
    bytes::{BufMut, BytesMut},
    core::{net::SocketAddrV4, time::Duration},
    futures::{StreamExt, future::join_all},
    mainline::{
        MutableItem,
        async_dht::AsyncDht,
        errors::{PutMutableError, PutQueryError},
    },
    pkarr::{Keypair, PublicKey, SignedPacket},
    std::net::SocketAddr,
};

/// Bound on one whole lookup or publish, in request timeouts: an iterative
/// query takes a few sequential request rounds; a query that cannot finish
/// in this many is treated as unreachable rather than waited for.
const OPERATION_ROUNDS: u32 = 4;

/// Reads and writes bootstrap slots on the Mainline DHT. Cheap to clone;
/// the DHT node stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct SlotClient {
    dht: AsyncDht,
    request_timeout: Duration,
}

/// What a slot holds right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A well-formed record.
    Record(SlotRecord),
    /// DHT nodes answered, none holds a value for the slot.
    Empty,
    /// The slot holds something that is not a valid record; `seq` is its
    /// sequence number, for a compare-and-swap overwrite.
    Malformed {
        /// Sequence number of the unusable value.
        seq: i64,
    },
    /// No DHT node answered (offline, or the DHT is unreachable).
    Unreachable,
}

/// Why a publish did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Someone else wrote the slot since we read it (CAS mismatch or a more
    /// recent value): rescan before trying again.
    #[error("lost the compare-and-swap race for the slot")]
    Lost,
    /// The DHT did not store the value (no nodes, timeouts, rejections).
    #[error("DHT publish failed: {0}")]
    Failed(String),
    /// The record could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why a client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// None of the bootstrap node names resolved (typically: no network).
    #[error("no DHT bootstrap node address could be resolved")]
    NoBootstrapNodes,
    /// The DHT node could not bind its UDP socket.
    #[error("failed to start the DHT node: {0}")]
    Io(#[from] std::io::Error),
}

impl SlotClient {
    /// Starts a DHT client node. `bootstrap: None` means the public
    /// Mainline bootstrap nodes; `Some` gives explicit `host:port` nodes
    /// (e.g. a local testnet's).
    ///
    /// Names are resolved here, asynchronously and each under
    /// `request_timeout`, because mainline would otherwise resolve them with
    /// blocking DNS inside its constructor; the node itself is then built on
    /// the blocking pool. So this never blocks an async worker thread.
    pub async fn connect(
        bootstrap: Option<&[String]>,
        request_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let names: Vec<String> = match bootstrap {
            Some(nodes) => nodes.to_vec(),
            None => mainline::DEFAULT_BOOTSTRAP_NODES.map(String::from).to_vec(),
        };
        let addrs = resolve_names(&names, request_timeout).await;
        if addrs.is_empty() {
            return Err(ConnectError::NoBootstrapNodes);
        }
        let dht = tokio::task::spawn_blocking(move || {
            mainline::Dht::builder()
                .bootstrap(&addrs)
                .request_timeout(request_timeout)
                .build()
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Self {
            dht: dht.as_async(),
            request_timeout,
        })
    }

    /// Upper bound for one lookup or publish.
    fn operation_timeout(&self) -> Duration {
        self.request_timeout * OPERATION_ROUNDS
    }

    /// Reads the most recent value of the slot with public key `key`. A
    /// query that outlives the operation bound still yields what it found.
    pub async fn lookup(&self, key: &PublicKey) -> Lookup {
        let mut latest: Option<MutableItem> = None;
        let query = async {
            let mut detailed = self.dht.get_mutable_detailed(key.as_bytes(), None, None);
            while let Some(item) = detailed.items.next().await {
                if latest.as_ref().is_none_or(|known| item.seq() > known.seq()) {
                    latest = Some(item);
                }
            }
            detailed.outcome.recv().await.responded()
        };
        let responded = tokio::time::timeout(self.operation_timeout(), query)
            .await
            .unwrap_or(0);
        match latest {
            Some(item) => decode_item(&item),
            None if responded > 0 => Lookup::Empty,
            None => Lookup::Unreachable,
        }
    }

    /// Publishes `record` into the slot owned by `keypair`. `cas` is the
    /// sequence number (timestamp) of the value we expect to replace, `None`
    /// for an empty slot.
    pub async fn publish(
        &self,
        keypair: &Keypair,
        record: &SlotRecord,
        ttl: Duration,
        cas: Option<i64>,
    ) -> Result<(), PublishError> {
        let packet = record.encode(keypair, ttl)?;
        let item = MutableItem::new_signed_unchecked(
            packet.public_key().to_bytes(),
            packet.signature().to_bytes(),
            &packet.encoded_packet(),
            seq_of(&packet),
            None,
        );
        let put = self.dht.put_mutable(item, cas);
        match tokio::time::timeout(self.operation_timeout(), put).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(PutMutableError::Concurrency(_))) => Err(PublishError::Lost),
            // 301 = CAS mismatch, 302 = sequence number less than current.
            Ok(Err(PutMutableError::Query(PutQueryError::ErrorResponse(error))))
                if matches!(error.code, 301 | 302) =>
            {
                Err(PublishError::Lost)
            }
            Ok(Err(error)) => Err(PublishError::Failed(error.to_string())),
            Err(_) => Err(PublishError::Failed("timed out".into())),
        }
    }
}

/// Reads all slots of `network` in parallel: `(slot index, record)` in slot
/// order, `None` where the slot is empty, unreadable or malformed. For
/// inspection tools (the `mosaik dht` command).
pub async fn resolve_slots(
    client: &SlotClient,
    network: NetworkId,
) -> Vec<(usize, Option<SlotRecord>)> {
    let keys = slot_public_keys(network);
    let lookups = join_all(keys.iter().map(|key| client.lookup(key))).await;
    lookups
        .into_iter()
        .enumerate()
        .map(|(index, lookup)| match lookup {
            Lookup::Record(record) => (index, Some(record)),
            _ => (index, None),
        })
        .collect()
}

/// The DHT sequence number of a packet: its timestamp in microseconds.
fn seq_of(packet: &SignedPacket) -> i64 {
    i64::try_from(packet.timestamp().as_u64()).unwrap_or(i64::MAX)
}

/// Turns a (signature-checked) DHT value into a record.
fn decode_item(item: &MutableItem) -> Lookup {
    let malformed = Lookup::Malformed { seq: item.seq() };
    let Ok(key) = PublicKey::try_from(item.key()) else {
        return malformed;
    };
    // pkarr's relay payload layout: signature ‖ big-endian seq ‖ DNS packet.
    let mut payload = BytesMut::with_capacity(72 + item.value().len());
    payload.put_slice(item.signature());
    #[allow(clippy::cast_sign_loss)] // the seq is re-verified by the signature
    payload.put_u64(item.seq() as u64);
    payload.put_slice(item.value());
    match SignedPacket::from_relay_payload(&key, &payload.freeze()) {
        Ok(packet) => SlotRecord::decode(&packet).map_or(malformed, Lookup::Record),
        Err(_) => malformed,
    }
}

/// Resolves `host:port` names to IPv4 socket addresses (the DHT is IPv4
/// only), all concurrently, each bounded by `timeout`; failures are skipped.
async fn resolve_names(names: &[String], timeout: Duration) -> Vec<SocketAddrV4> {
    let lookups = names.iter().map(|name| async move {
        match tokio::time::timeout(timeout, tokio::net::lookup_host(name.as_str())).await {
            Ok(Ok(addrs)) => addrs.collect::<Vec<_>>(),
            _ => Vec::new(),
        }
    });
    let mut resolved: Vec<SocketAddrV4> = join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .filter_map(|addr| match addr {
            SocketAddr::V4(v4) => Some(v4),
            SocketAddr::V6(_) => None,
        })
        .collect();
    resolved.sort_unstable();
    resolved.dedup();
    resolved
}
