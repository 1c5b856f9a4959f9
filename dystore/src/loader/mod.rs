//! The config loader: the application's say on keys, encryption and
//! metadata; and two ready-made ones, [`Keyring`] and [`FnLoader`].

mod fn_loader;
mod keyring;

pub use fn_loader::FnLoader;
pub use keyring::{Keyring, PathPattern};

use crate::crypto::{Key, KeyId};
use serde_json::Value;

/// What the application decides for dystore: primary keys of new objects,
/// which key encrypts which path, key material, and whether metadata is kept
/// in documents read back.
///
/// Every method has a default, so a loader implements only what it needs.
/// A loader is given once to the [`Client`](crate::Client) with
/// `with_loader`; for one call, use a clone of the client with another
/// loader (`db.clone().with_loader(other)`: the clone shares the backend).
pub trait ConfigLoader: Send + Sync {
    /// The primary key of a new object; `None` lets dystore draw a UUID v4.
    fn generate_pk(&self, document: &Value) -> Option<String> {
        let _ = document;
        None
    }

    /// The key id that encrypts the leaf at `path` (normalised JSONPath such
    /// as `$.location.city` or `$.friends[0]`); `None` stores it in clear,
    /// unless the layout marks the path encrypted. `write_path` does not
    /// read the object, so there `document` is `null`.
    fn key_for(&self, path: &str, document: &Value) -> Option<KeyId> {
        let _ = (path, document);
        None
    }

    /// The key id used for paths the layout marks encrypted when neither the
    /// layout nor [`key_for`](Self::key_for) names one.
    fn default_key_id(&self) -> Option<KeyId> {
        None
    }

    /// Key material for `id`, for encryption and decryption; old ids must
    /// stay resolvable so data written under them can be read and rotated.
    fn key(&self, id: &KeyId) -> Option<Key> {
        let _ = id;
        None
    }

    /// Whether new ciphertexts may be written under `id`. `false` keeps a
    /// key for reading only, as a [`Keyring`](crate::Keyring) keeps a
    /// dynamo-store 0.6 key: a save (or a path write, or a rotation) that
    /// would encrypt a leaf under such an id, whoever names it (a rule of
    /// the layout, [`key_for`](Self::key_for), the default), fails with
    /// [`ErrorKind::Config`](crate::ErrorKind) before any request. Default
    /// `true`.
    fn writes_with(&self, id: &KeyId) -> bool {
        let _ = id;
        true
    }

    /// Whether documents read back carry the `__dystore_meta__` entry.
    fn keep_metadata(&self) -> bool {
        false
    }

    /// A description of how this loader chooses key ids (its rules and
    /// default, never key material), or `None` when it cannot say. A
    /// rotation records a digest of it with its checkpoints, so that an
    /// interrupted run is resumed only by a run choosing the same key ids
    /// (`docs/ROTATION.md`, "State"); for a loader that says `None`, only
    /// its default key id is compared.
    fn key_choice(&self) -> Option<String> {
        None
    }
}

/// The loader used when the application gives none: UUID keys, no
/// encryption keys, no metadata in documents.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultLoader;

impl ConfigLoader for DefaultLoader {}
