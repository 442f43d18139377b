//! `Vec`: every method across nodes; index writes out of range are
//! committed no-ops.

use {
    crate::util::{cluster, config, within},
    mosaik::collections::{VecReader, VecWriter},
};

#[tokio::test]
async fn vec_every_method_across_nodes() {
    let nodes = cluster("coll-vec", 2).await;
    let writer = VecWriter::<u32>::writer_with_config(&nodes[0], "vec-all", config());
    let reader = VecReader::<u32>::reader_with_config(&nodes[1], "vec-all", config());
    within("online", writer.when().online()).await;
    let seen = |r: &VecReader<u32>| r.iter().collect::<Vec<_>>();

    within("push_back", writer.push_back(2)).await.unwrap();
    within("push_front", writer.push_front(1)).await.unwrap();
    let v = within("extend", writer.extend([3, 4, 5])).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(seen(&reader), [1, 2, 3, 4, 5]);
    assert_eq!(reader.len(), 5);
    assert!(!reader.is_empty());
    assert_eq!((reader.front(), reader.head()), (Some(1), Some(1)));
    assert_eq!((reader.back(), reader.last()), (Some(5), Some(5)));
    assert_eq!((reader.get(2), reader.get(5)), (Some(3), None));
    assert!(reader.contains(&4) && !reader.contains(&9));
    assert_eq!((reader.index_of(&4), reader.index_of(&9)), (Some(3), None));

    within("insert", writer.insert(1, 10)).await.unwrap();
    within("insert at end", writer.insert(6, 11)).await.unwrap();
    let v = within("swap", writer.swap(0, 6)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(seen(&reader), [11, 10, 2, 3, 4, 5, 1]);

    within("remove", writer.remove(1)).await.unwrap();
    within("pop_back", writer.pop_back()).await.unwrap();
    within("pop_front", writer.pop_front()).await.unwrap();
    let v = within("truncate", writer.truncate(2)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(seen(&reader), [2, 3]);

    let v = within("clear", writer.clear()).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert!(reader.is_empty());
    // Popping an empty vector commits and changes nothing.
    let v = within("pop empty", writer.pop_back()).await.unwrap();
    within("pop empty", writer.pop_front()).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert!(reader.is_empty());
}

#[tokio::test]
async fn vec_out_of_range_writes_are_committed_no_ops() {
    let nodes = cluster("coll-vec-oob", 2).await;
    let writer = VecWriter::<u32>::writer_with_config(&nodes[0], "vec-oob", config());
    let reader = VecReader::<u32>::reader_with_config(&nodes[1], "vec-oob", config());
    within("online", writer.when().online()).await;
    within("extend", writer.extend([1, 2, 3])).await.unwrap();

    // The original panics inside `apply` on every replica here.
    let before = writer.version();
    let v = within("insert past end", writer.insert(4, 9))
        .await
        .unwrap();
    assert!(v > before, "it commits");
    within("insert far", writer.insert(u64::MAX, 9))
        .await
        .unwrap();
    within("remove oob", writer.remove(3)).await.unwrap();
    within("swap oob", writer.swap(0, 3)).await.unwrap();
    let v = within("truncate longer", writer.truncate(10))
        .await
        .unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.iter().collect::<Vec<_>>(), [1, 2, 3]);
    // Both groups still work afterwards.
    let v = within("push", writer.push_back(4)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.back(), Some(4));
}
