//! `PriorityQueue`: every method across nodes, bounded eviction.

use {
    crate::util::{cluster, config, within},
    core::ops::Bound,
    mosaik::collections::{
        BoundedPriorityQueue, PriorityQueueReader, PriorityQueueWriter, UnboundedPriorityQueue,
    },
};

#[tokio::test]
async fn queue_every_method_across_nodes() {
    let nodes = cluster("coll-pq", 2).await;
    let writer =
        PriorityQueueWriter::<u32, String, u64>::writer_with_config(&nodes[0], "pq-all", config());
    let reader =
        PriorityQueueReader::<u32, String, u64>::reader_with_config(&nodes[1], "pq-all", config());
    within("online", writer.when().online()).await;
    assert_eq!(reader.capacity(), u64::MAX);

    within("insert", writer.insert(5, "a".into(), 50))
        .await
        .unwrap();
    let v = within(
        "extend",
        writer.extend([
            (1, "b".into(), 10),
            (9, "c".into(), 90),
            (5, "d".into(), 55),
        ]),
    )
    .await
    .unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.len(), 4);
    assert!(!reader.is_empty());
    assert!(reader.contains_key("a") && !reader.contains_key("z"));
    assert_eq!(reader.get("c"), Some(90));
    assert_eq!(reader.get_priority("d"), Some(5));
    assert_eq!(reader.get_min(), Some((1, "b".into(), 10)));
    assert_eq!(reader.get_max(), Some((9, "c".into(), 90)));
    assert_eq!(
        (reader.min_priority(), reader.max_priority()),
        (Some(1), Some(9))
    );
    let asc: Vec<u32> = reader.iter().map(|(p, _, _)| p).collect();
    assert_eq!(asc, [1, 5, 5, 9]);
    assert_eq!(reader.iter_asc().count(), 4);
    let desc: Vec<u32> = reader.iter_desc().map(|(p, _, _)| p).collect();
    assert_eq!(desc, [9, 5, 5, 1]);

    // Upsert moves the key to its new bucket.
    within("upsert", writer.insert(2, "c".into(), 91))
        .await
        .unwrap();
    assert_eq!(writer.get_max().map(|(p, _, _)| p), Some(5));
    within(
        "update_priority",
        writer.update_priority(&"b".to_string(), 7),
    )
    .await
    .unwrap();
    within(
        "update_priority absent",
        writer.update_priority(&"zz".to_string(), 7),
    )
    .await
    .unwrap();
    within("update_value", writer.update_value(&"a".to_string(), 51))
        .await
        .unwrap();
    within(
        "update_value absent",
        writer.update_value(&"zz".to_string(), 1),
    )
    .await
    .unwrap();
    let v = within("reach", async { writer.version() }).await;
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.get_priority("b"), Some(7));
    assert_eq!(
        (reader.get("a"), reader.get_priority("a")),
        (Some(51), Some(5))
    );
    assert!(!reader.contains_key("zz"));
}

#[tokio::test]
async fn queue_compare_exchange_and_removals() {
    let nodes = cluster("coll-pq-rm", 2).await;
    let writer =
        PriorityQueueWriter::<u32, String, u64>::writer_with_config(&nodes[0], "pq-rm", config());
    let reader =
        PriorityQueueReader::<u32, String, u64>::reader_with_config(&nodes[1], "pq-rm", config());
    within("online", writer.when().online()).await;
    within(
        "fill",
        writer.extend([
            (2, "c".into(), 91),
            (5, "a".into(), 51),
            (7, "b".into(), 10),
            (5, "d".into(), 55),
        ]),
    )
    .await
    .unwrap();
    // Compare-exchange keeps the priority; None removes; mismatch no-op.
    within(
        "cas mismatch",
        writer.compare_exchange_value(&"a".to_string(), 1, Some(2)),
    )
    .await
    .unwrap();
    assert_eq!(writer.get("a"), Some(51));
    within(
        "cas",
        writer.compare_exchange_value(&"a".to_string(), 51, Some(52)),
    )
    .await
    .unwrap();
    assert_eq!(
        (writer.get("a"), writer.get_priority("a")),
        (Some(52), Some(5))
    );
    within(
        "cas remove",
        writer.compare_exchange_value(&"d".to_string(), 55, None),
    )
    .await
    .unwrap();
    within(
        "cas missing",
        writer.compare_exchange_value(&"zz".to_string(), 1, Some(1)),
    )
    .await
    .unwrap();
    assert!(!writer.contains_key("d") && !writer.contains_key("zz"));

    // Now: c@2, a@5, b@7.
    within("remove", writer.remove(&"c".to_string()))
        .await
        .unwrap();
    within(
        "extend more",
        writer.extend([(1, "e".into(), 1), (3, "f".into(), 3), (8, "g".into(), 8)]),
    )
    .await
    .unwrap();
    within(
        "remove_keys",
        writer.remove_keys(["e".to_string(), "nope".to_string()]),
    )
    .await
    .unwrap();
    // f@3, a@5, b@7, g@8.
    within("remove_range", writer.remove_range(4..8))
        .await
        .unwrap();
    assert_eq!(
        writer.iter().map(|(_, k, _)| k).collect::<Vec<_>>(),
        ["f", "g"]
    );
    within(
        "inverted range",
        writer.remove_range((Bound::Included(9), Bound::Excluded(2))),
    )
    .await
    .unwrap();
    assert_eq!(
        writer.len(),
        2,
        "an inverted range removes nothing (and never panics)"
    );
    within("remove_range inclusive", writer.remove_range(..=3))
        .await
        .unwrap();
    assert_eq!(writer.iter().map(|(_, k, _)| k).collect::<Vec<_>>(), ["g"]);
    within("extend again", writer.extend([(1, "h".into(), 1)]))
        .await
        .unwrap();
    within("remove_range all", writer.remove_range(..))
        .await
        .unwrap();
    assert!(writer.is_empty());
    within("extend again", writer.extend([(1, "i".into(), 1)]))
        .await
        .unwrap();
    let v = within("clear", writer.clear()).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert!(reader.is_empty());
    assert_eq!(writer.remove_keys([]).await.unwrap(), writer.version());
}

#[tokio::test]
async fn bounded_queue_evicts_lowest_priority() {
    let nodes = cluster("coll-pq-cap", 2).await;
    let writer =
        BoundedPriorityQueue::<u32, u32, (), 3>::writer_with_config(&nodes[0], "pq-cap", config());
    let reader = BoundedPriorityQueue::<u32, u32, (), 3, false>::reader_with_config(
        &nodes[1],
        "pq-cap",
        config(),
    );
    within("online", writer.when().online()).await;
    assert_eq!(writer.capacity(), 3);

    within("fill", writer.extend([(5, 1, ()), (6, 2, ()), (7, 3, ())]))
        .await
        .unwrap();
    // Over capacity: the lowest bucket (5) loses its entry.
    within("insert", writer.insert(9, 4, ())).await.unwrap();
    let keys = |w: &BoundedPriorityQueue<u32, u32, (), 3>| {
        w.iter().map(|(_, k, ())| k).collect::<Vec<_>>()
    };
    assert_eq!(keys(&writer), [2, 3, 4]);
    // The new entry itself is evicted when it has the lowest priority.
    within("insert low", writer.insert(1, 5, ())).await.unwrap();
    assert_eq!(keys(&writer), [2, 3, 4]);
    // Upserting an existing key never evicts.
    within("upsert", writer.insert(1, 2, ())).await.unwrap();
    assert_eq!(writer.len(), 3);
    assert_eq!(writer.get_min().map(|(p, k, ())| (p, k)), Some((1, 2)));
    // A priority update keeps the length.
    let v = within("update_priority", writer.update_priority(&2, 10))
        .await
        .unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(
        reader.iter().map(|(_, k, ())| k).collect::<Vec<_>>(),
        [3, 4, 2]
    );
    assert_eq!(reader.len(), 3);

    // Unbounded alias accepts many.
    let big =
        UnboundedPriorityQueue::<u32, u32, ()>::writer_with_config(&nodes[0], "pq-big", config());
    within("online", big.when().online()).await;
    within("extend", big.extend((0..100).map(|i| (i, i, ()))))
        .await
        .unwrap();
    assert_eq!(big.len(), 100);
}
