//! `mosaik demo --web <addr>`: one more node that only watches. It serves
//! the dashboard and follows the store as a reader (an observer member:
//! never leads, never counts toward quorum), so the page shows the leader
//! being killed and replaced; the members themselves stay as they are.

use {
    super::{
        member::{STORE, start_node},
        store::timing,
    },
    mosaik::{
        Network, NetworkId, SecretKey,
        collections::{CollectionConfig, Map},
    },
    std::net::SocketAddr,
};

/// The watching node and its reader of the store.
pub struct Observer {
    network: Network,
    reader: Map<String, u64, false>,
}

impl Observer {
    /// Starts the observer on `network` through `bootstrap`, serving the
    /// dashboard on `addr`; returns it and the address it bound.
    pub async fn start(
        network: NetworkId,
        bootstrap: &Network,
        addr: SocketAddr,
    ) -> anyhow::Result<(Self, SocketAddr)> {
        let node = start_node(network, Some(bootstrap), SecretKey::generate(), Some(addr)).await?;
        let bound = node
            .dashboard_addr()
            .ok_or_else(|| anyhow::anyhow!("the dashboard did not start"))?;
        let config = CollectionConfig::default().with_consensus(timing());
        let reader = Map::<String, u64>::reader_with_config(&node, STORE, config);
        Ok((
            Self {
                network: node,
                reader,
            },
            bound,
        ))
    }

    /// Leaves the network.
    pub async fn stop(self) {
        drop(self.reader);
        self.network.shutdown().await;
    }
}
