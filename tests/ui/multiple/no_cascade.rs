use dystore::DyObject;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, DyObject)]
#[dystore(table = "People", key = "ID", tabel = "x")]
struct Person {
    name: String,
}

// The stub impl emitted beside the error keeps uses of the type quiet.
fn layout_of<T: DyObject>() -> &'static dystore::Layout {
    T::layout()
}

fn main() {
    let _ = layout_of::<Person>();
}
