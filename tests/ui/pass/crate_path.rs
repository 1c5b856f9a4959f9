//! `crate = "..."` when dystore is re-exported, and no other dystore in scope.
mod db {
    pub use dystore;
}

#[derive(serde::Serialize, serde::Deserialize, db::dystore::DyObject)]
#[dystore(crate = "db::dystore", table = "Notes", key = "NID")]
struct Note {
    #[dystore(shard)]
    tags: Vec<Tag>,
}

#[derive(serde::Serialize, serde::Deserialize, db::dystore::DyObject)]
#[dystore(crate = "crate::db::dystore", table = "Tags", key = "TID")]
struct Tag {
    name: String,
}

fn main() {
    use db::dystore::DyObject;
    assert_eq!(Note::layout().shards[0].layout.table, "Tags");
}
