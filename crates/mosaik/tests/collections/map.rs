//! `Map`: every method, writer on one node and reader on another.

use {
    crate::util::{cluster, config, within},
    mosaik::collections::{Error, Map, MapReader, MapWriter},
    std::collections::BTreeMap,
};

#[tokio::test]
async fn map_every_method_across_nodes() {
    let nodes = cluster("coll-map", 2).await;
    let writer = MapWriter::<String, u64>::writer_with_config(&nodes[0], "map-all", config());
    let reader = MapReader::<String, u64>::reader_with_config(&nodes[1], "map-all", config());
    within("writer online", writer.when().online()).await;

    let v1 = within("insert", writer.insert("a".into(), 1))
        .await
        .unwrap();
    // The writer reads its own write at once.
    assert_eq!(writer.get("a"), Some(1));
    within("reader reaches", reader.when().reaches(v1)).await;
    assert_eq!(reader.get("a"), Some(1));
    assert!(reader.contains_key("a") && !reader.contains_key("b"));

    let v = within(
        "extend",
        writer.extend([("b".into(), 2), ("c".into(), 3), ("b".into(), 20)]),
    )
    .await
    .unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert_eq!(reader.len(), 3);
    assert!(!reader.is_empty());
    assert_eq!(reader.get("b"), Some(20), "later duplicates win");
    let all: BTreeMap<_, _> = reader.iter().collect();
    assert_eq!(
        all,
        BTreeMap::from([("a".into(), 1), ("b".into(), 20), ("c".into(), 3)])
    );
    let mut keys: Vec<_> = reader.keys().collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);
    let mut values: Vec<_> = reader.values().collect();
    values.sort_unstable();
    assert_eq!(values, [1, 3, 20]);
    // Same iteration order on both replicas (fixed-seed hashing).
    assert_eq!(
        reader.iter().collect::<Vec<_>>(),
        writer.iter().collect::<Vec<_>>()
    );

    // Empty batches resolve at once without a command.
    let before = writer.version();
    assert_eq!(writer.extend([]).await.unwrap(), before);
    assert_eq!(writer.remove_many([]).await.unwrap(), before);

    let v = within("remove", writer.remove(&"a".to_string()))
        .await
        .unwrap();
    assert!(v > before);
    let v = within("remove absent", writer.remove(&"zz".to_string()))
        .await
        .unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert_eq!(reader.get("a"), None);
    let v = within(
        "remove_many",
        writer.remove_many(["b".to_string(), "q".to_string()]),
    )
    .await
    .unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert_eq!(reader.len(), 1);
    let v = within("clear", writer.clear()).await.unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert!(reader.is_empty());
    assert_eq!(reader.version(), v);
    assert!(writer.group_id() == reader.group_id());
}

#[tokio::test]
async fn map_compare_exchange_semantics() {
    let nodes = cluster("coll-map-cas", 2).await;
    let writer = Map::<u32, String>::new_with_config(&nodes[0], "map-cas", config());
    let reader = Map::<u32, String>::reader_with_config(&nodes[1], "map-cas", config());
    within("online", writer.when().online()).await;

    // Absent → expected None inserts.
    within(
        "cas insert",
        writer.compare_exchange(1, None, Some("x".into())),
    )
    .await
    .unwrap();
    assert_eq!(writer.get(&1).as_deref(), Some("x"));
    // Expected None on a present key: mismatch, still commits a version.
    let before = writer.version();
    let v = within(
        "cas mismatch",
        writer.compare_exchange(1, None, Some("y".into())),
    )
    .await
    .unwrap();
    assert!(v > before, "a mismatch still commits");
    assert_eq!(writer.get(&1).as_deref(), Some("x"));
    // Wrong expected value: no-op.
    within(
        "cas wrong",
        writer.compare_exchange(1, Some("nope".into()), Some("y".into())),
    )
    .await
    .unwrap();
    assert_eq!(writer.get(&1).as_deref(), Some("x"));
    // Right expected value: swap.
    within(
        "cas swap",
        writer.compare_exchange(1, Some("x".into()), Some("y".into())),
    )
    .await
    .unwrap();
    assert_eq!(writer.get(&1).as_deref(), Some("y"));
    // Expected on an absent key: no-op.
    within(
        "cas absent",
        writer.compare_exchange(2, Some("y".into()), Some("z".into())),
    )
    .await
    .unwrap();
    assert!(!writer.contains_key(&2));
    // new = None deletes.
    let v = within(
        "cas delete",
        writer.compare_exchange(1, Some("y".into()), None),
    )
    .await
    .unwrap();
    within("reader reaches", reader.when().reaches(v)).await;
    assert!(reader.is_empty() && writer.is_empty());
}

/// A write larger than one proposal may carry is refused as `TooLarge`
/// (not `Offline`, which a retry would never cure), hands its inputs back
/// unchanged, and the same entries written in two halves go through.
#[tokio::test]
async fn map_write_over_the_proposal_limit_is_too_large() {
    let nodes = cluster("coll-map-large", 1).await;
    let writer = MapWriter::<u64, Vec<u8>>::writer_with_config(&nodes[0], "map-large", config());
    within("writer online", writer.when().online()).await;
    // 4 MiB of values plus their framing: over the default 4 MiB limit.
    let entries: Vec<(u64, Vec<u8>)> = (0..4096).map(|k| (k, vec![7; 1024])).collect();
    let err = within("extend", writer.extend(entries.clone()))
        .await
        .unwrap_err();
    let text = err.to_string();
    let Error::TooLarge {
        inputs,
        bytes,
        limit,
    } = err
    else {
        panic!("expected TooLarge, got {text}");
    };
    assert!(bytes > limit, "{bytes} <= {limit}");
    assert!(text.contains("max_append_bytes"), "{text}");
    assert_eq!(inputs, entries);
    assert_eq!(writer.len(), 0);
    let (a, b) = entries.split_at(2048);
    within("first half", writer.extend(a.to_vec()))
        .await
        .unwrap();
    within("second half", writer.extend(b.to_vec()))
        .await
        .unwrap();
    assert_eq!(writer.len(), 4096);
}
