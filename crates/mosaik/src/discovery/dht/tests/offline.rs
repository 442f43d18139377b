//! Without a reachable DHT: the task idles quietly and stops on cancel.

use super::*;

#[tokio::test]
async fn without_internet_the_task_idles_quietly_and_stops_on_cancel() {
    let _serial = serial().await;
    // Never touch the public DHT from a test: only run where its bootstrap
    // names do not resolve (like this project's build machine).
    let probe = tokio::net::lookup_host(mainline::DEFAULT_BOOTSTRAP_NODES[0]);
    if let Ok(Ok(mut addrs)) = timeout(Duration::from_secs(5), probe).await
        && addrs.next().is_some()
    {
        eprintln!("skipped: the public DHT is reachable from here");
        return;
    }
    let host = FakeHost::new(&Arc::default());
    let config = DhtConfig {
        poll_fast: Duration::from_millis(50),
        ..DhtConfig::new(NetworkId::random())
    };
    let cancel = CancellationToken::new();
    let task = spawn(config, host.clone(), cancel.clone());
    wait_cycles(&host, 3).await;
    assert!(!task.is_finished());
    assert!(host.discovered.borrow().is_empty());
    cancel.cancel();
    timeout(Duration::from_secs(2), task)
        .await
        .expect("stops promptly on cancel")
        .unwrap();
}

#[tokio::test]
async fn unreachable_dht_logs_one_line_per_streak_and_stops_on_cancel() {
    use tracing_subscriber::layer::SubscriberExt;

    let _serial = serial().await;
    // A bootstrap "node" that swallows every request.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let host = FakeHost::new(&Arc::default());
    let config = DhtConfig {
        bootstrap: Some(vec![silent.local_addr().unwrap().to_string()]),
        request_timeout: Duration::from_millis(100),
        poll_fast: Duration::from_millis(50),
        ..DhtConfig::new(NetworkId::random())
    };
    let lines = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(LineCounter(Arc::clone(&lines)));
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites first hit while no subscriber listened cached "never".
    tracing::callsite::rebuild_interest_cache();

    let cancel = CancellationToken::new();
    let task = spawn(config, host.clone(), cancel.clone());
    wait_cycles(&host, 4).await;
    assert_eq!(
        lines.load(Ordering::SeqCst),
        1,
        "one line for the whole streak"
    );

    // Cancel lands while a lookup is waiting on the silent node.
    cancel.cancel();
    timeout(Duration::from_secs(2), task)
        .await
        .expect("stops promptly on cancel")
        .unwrap();
}

/// Counts log lines at debug level or above from this module.
struct LineCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LineCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        // Events of the DHT module (`mosaik::discovery::dht::*`).
        let dht_module = module_path!().trim_end_matches("::tests::offline");
        if meta.target().starts_with(dht_module) && *meta.level() <= tracing::Level::DEBUG {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
