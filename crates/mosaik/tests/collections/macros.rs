//! `collection!` forms and the declaration types.

use {
    crate::util::{cluster, config, within},
    mosaik::{
        CollectionReader, CollectionWriter, ReaderOf, WriterOf, collection,
        collections::{Cell, CollectionDef, Map, ReaderDef, Vec as RVec, WriterDef},
        tickets::TicketClass,
    },
};

collection!(
    /// A full declaration.
    pub Scores = Map<String, u64>, "macro-scores", config: config()
);
collection!(reader ScoresView = Map<String, u64>, "macro-scores", config: config());
collection!(writer ScoresFeed = Map<String, u64>, "macro-scores", config: config());
collection!(Guarded = Cell<u64>, "macro-guarded", config: config(), require_ticket: crate::roles_okay());

const LOG: CollectionDef<RVec<u64>> =
    CollectionDef::new(mosaik::unique_id!("macro-log")).with_config(config);

#[tokio::test]
async fn macro_forms_open_the_same_store() {
    let nodes = cluster("coll-macros", 2).await;
    let writer: WriterOf<Scores> = Scores::online_writer(&nodes[0]).await;
    let reader: ReaderOf<ScoresView> =
        within("online reader", ScoresView::online_reader(&nodes[1])).await;
    let v = within("write", writer.insert("a".into(), 1)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.get("a"), Some(1));
    // The writer-only declaration opens the same store; its reader side is
    // crate-internal.
    let feed = ScoresFeed::writer(&nodes[1]);
    // This node had only a reader: it rejoins as a writer, briefly offline.
    within("feed online", feed.when().online()).await;
    let v = within("feed write", feed.insert("b".into(), 2))
        .await
        .unwrap();
    let view = ScoresFeed::reader(&nodes[0]);
    within("reach", view.when().reaches(v)).await;
    assert_eq!(view.get("b"), Some(2));
    assert_eq!(Scores::reader(&nodes[1]).group_id(), writer.group_id());
    // Also the reader-only declaration's internal writer.
    let internal = ScoresView::writer(&nodes[0]);
    within("internal", internal.insert("c".into(), 3))
        .await
        .unwrap();
    assert_eq!(writer.get("c"), Some(3));
}

#[tokio::test]
async fn require_ticket_key_and_defs() {
    let nodes = cluster("coll-macro-defs", 2).await;
    let class = TicketClass::from("coll-macro-ticket");
    nodes[0]
        .discovery()
        .add_ticket(mosaik::tickets::Ticket::new(
            class,
            mosaik::Bytes::from_static(b"ok"),
        ));
    // The ticket requirement is part of the group id.
    let guarded = Guarded::writer(&nodes[0]);
    let plain = Cell::<u64>::writer_with_config(&nodes[0], "macro-guarded", config());
    assert_ne!(guarded.group_id(), plain.group_id());
    within("guarded online", guarded.when().online()).await;
    within("guarded write", guarded.write(5)).await.unwrap();
    assert_eq!(guarded.read(), Some(5));

    // Const declarations.
    let writer = LOG.writer(&nodes[0]);
    let reader = LOG.as_reader().open(&nodes[1]);
    within("online", writer.when().online()).await;
    let v = within("push", writer.push_back(1)).await.unwrap();
    within("reach", reader.when().reaches(v)).await;
    assert_eq!(reader.get(0), Some(1));
    let again = CollectionDef::from_writer(LOG.as_writer()).reader(&nodes[1]);
    assert_eq!(again.len(), 1);
    let w: WriterDef<RVec<u64>> = WriterDef::new(LOG.store_id()).with_config(config);
    let r: ReaderDef<RVec<u64>> = ReaderDef::new(LOG.store_id()).with_config(config);
    assert_eq!(w.open(&nodes[0]).group_id(), r.open(&nodes[1]).group_id());
}
