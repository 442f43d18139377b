//! `Set`, `Cell` and `Once`: every method across nodes.

use {
    crate::util::{cluster, config, within},
    mosaik::collections::{CellReader, CellWriter, OnceReader, OnceWriter, SetReader, SetWriter},
};

#[tokio::test]
async fn set_every_method_across_nodes() {
    let nodes = cluster("coll-set", 2).await;
    let writer = SetWriter::<String>::writer_with_config(&nodes[0], "set-all", config());
    let reader = SetReader::<String>::reader_with_config(&nodes[1], "set-all", config());
    let other = SetWriter::<String>::writer_with_config(&nodes[0], "set-other", config());
    within("online", writer.when().online()).await;
    within("other online", other.when().online()).await;

    within("insert", writer.insert("a".into())).await.unwrap();
    let v = within(
        "extend",
        writer.extend(["b".into(), "c".into(), "a".into()]),
    )
    .await
    .unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.len(), 3);
    assert!(!reader.is_empty());
    assert!(reader.contains("a") && !reader.contains("z"));
    let mut all: Vec<_> = reader.iter().collect();
    all.sort();
    assert_eq!(all, ["a", "b", "c"]);
    assert_eq!(
        reader.iter().collect::<Vec<_>>(),
        writer.iter().collect::<Vec<_>>()
    );

    within(
        "other extend",
        other.extend(["a".into(), "b".into(), "c".into(), "d".into()]),
    )
    .await
    .unwrap();
    assert!(reader.is_subset(&other));
    assert!(!other.is_subset(&reader));

    within("remove", writer.remove(&"a".to_string()))
        .await
        .unwrap();
    let v = within(
        "remove_many",
        writer.remove_many(["b".to_string(), "x".to_string()]),
    )
    .await
    .unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.iter().collect::<Vec<_>>(), ["c"]);
    let v = within("clear", writer.clear()).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert!(reader.is_empty());
}

#[tokio::test]
async fn cell_every_method_across_nodes() {
    let nodes = cluster("coll-cell", 2).await;
    let writer = CellWriter::<u64>::writer_with_config(&nodes[0], "cell-all", config());
    let reader = CellReader::<u64>::reader_with_config(&nodes[1], "cell-all", config());
    within("online", writer.when().online()).await;
    assert!(reader.is_empty() && reader.is_none() && !reader.is_some());

    let v = within("write", writer.write(1)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!((reader.read(), reader.get()), (Some(1), Some(1)));
    assert!(reader.is_some());
    within("set", writer.set(2)).await.unwrap();
    assert_eq!(writer.get(), Some(2));

    // Compare-exchange by encoded bytes; a mismatch still commits.
    let before = writer.version();
    let v = within("cas mismatch", writer.compare_exchange(Some(1), Some(3)))
        .await
        .unwrap();
    assert!(v > before);
    assert_eq!(writer.get(), Some(2));
    within("cas", writer.compare_exchange(Some(2), Some(3)))
        .await
        .unwrap();
    assert_eq!(writer.get(), Some(3));
    within("cas clear", writer.compare_exchange(Some(3), None))
        .await
        .unwrap();
    assert!(writer.is_empty());
    within("cas none-none", writer.compare_exchange(None, None))
        .await
        .unwrap();
    assert!(writer.is_empty());
    within("cas from none", writer.compare_exchange(None, Some(7)))
        .await
        .unwrap();
    let v = within("updated", async {
        let next = reader.when().updated();
        writer.write(8).await.unwrap();
        next.await
    })
    .await;
    assert!(v > before);
    let v = within("clear", writer.clear()).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert!(reader.is_none());
}

#[tokio::test]
async fn once_first_write_wins_across_nodes() {
    let nodes = cluster("coll-once", 2).await;
    let writer = OnceWriter::<String>::writer_with_config(&nodes[0], "once-all", config());
    let reader = OnceReader::<String>::reader_with_config(&nodes[1], "once-all", config());
    assert!(reader.is_empty() && reader.is_none() && !reader.is_some());
    let waiter = tokio::spawn({
        let reader = reader.clone();
        async move { reader.await_value().await }
    });
    within("online", writer.when().online()).await;
    within("write", writer.write("first".into())).await.unwrap();
    assert_eq!(within("await_value", waiter).await.unwrap(), "first");

    let before = writer.version();
    let v = within("second write", writer.set("second".into()))
        .await
        .unwrap();
    assert!(v > before, "a later write commits a new version");
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.read().as_deref(), Some("first"));
    assert_eq!(reader.get().as_deref(), Some("first"));
    assert!(reader.is_some());
    // Already set: resolves at once.
    assert_eq!(within("await again", reader.await_value()).await, "first");
}
