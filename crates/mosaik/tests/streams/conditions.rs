//! `When` and `ChannelConditions`: online/offline, subscribed,
//! unsubscribed, tags, predicates and re-arming.

use {
    crate::util::{cluster, fast, node_with, within},
    mosaik::Tag,
};

#[tokio::test]
async fn subscribed_unsubscribed_and_rearming() {
    let nodes = cluster("streams-when", 2).await;
    let producer = nodes[0].streams().produce::<u32>();
    let when = producer.when();
    let mut subscribed = when.subscribed();
    assert!(subscribed == false);
    assert!(when.unsubscribed().is_condition_met());
    for round in 0..2 {
        let consumer = nodes[1].streams().consume::<u32>();
        within("subscribed", &mut subscribed).await;
        assert!(subscribed.is_condition_met(), "round {round}");
        assert!(producer.is_online());
        assert!(
            consumer.is_online(),
            "consumers are online at once by default"
        );
        drop(consumer);
        within("unsubscribed", when.unsubscribed()).await;
        within("offline", when.offline()).await;
        assert!(!producer.is_online());
    }
    // Already met: resolves on first poll.
    let _consumer = nodes[1].streams().consume::<u32>();
    within("online", when.online()).await;
    within("met at once", when.subscribed()).await;
    within("met at once", when.subscribed().minimum_of(1)).await;
    assert!(when.subscribed().minimum_of(2) == false);
    assert!(when.subscribed().minimum_of(2).unmet() == true);
}

#[tokio::test]
async fn tags_and_predicates_filter_counted_peers() {
    let first = crate::util::node("streams-when-tags", None).await;
    let tagged = node_with(
        "streams-when-tags",
        fast()
            .with_bootstrap([first.local().addr()])
            .with_tags([Tag::from("gpu")]),
    )
    .await;
    let plain = crate::util::node("streams-when-tags", Some(&first)).await;
    let gpu = Tag::from("gpu");
    let producer = first
        .streams()
        .producer::<u8>()
        .online_when(move |c| c.with_tags([gpu]))
        .build()
        .unwrap();
    let _plain_consumer = plain.streams().consume::<u8>();
    let when = producer.when();
    within("plain subscribed", when.subscribed()).await;
    assert!(!producer.is_online(), "untagged subscriber does not count");
    let tagged_id = tagged.local().id();
    let _tagged_consumer = tagged.streams().consume::<u8>();
    within("online with tag", when.online()).await;
    within("two subscribed", when.subscribed().minimum_of(2)).await;
    let only_tagged = when
        .subscribed()
        .with_predicate(move |p| *p.id() == tagged_id)
        .minimum_of(2);
    assert!(only_tagged == false);
    assert!(
        when.subscribed()
            .with_predicate(move |p| *p.id() == tagged_id)
            == true
    );

    // Consumer side: online once it has a producer.
    let consumer = plain
        .streams()
        .consumer::<u16>()
        .online_when(|c| c.minimum_of(1))
        .build();
    assert!(!consumer.is_online());
    let _p16 = first.streams().produce::<u16>();
    within("consumer online", consumer.when().online()).await;
}
