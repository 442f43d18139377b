//! The ticket itself: a class and opaque bytes.

use {
    crate::primitives::{TicketClass, UniqueId},
    bytes::Bytes,
    serde::{Deserialize, Serialize},
};

/// An opaque credential of some class, carried in a peer entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ticket {
    /// Which validator reads the data.
    pub class: TicketClass,
    /// The opaque credential.
    pub data: Bytes,
}

impl Ticket {
    /// A ticket of `class` carrying `data` (`s.into()` from a `String`,
    /// `Vec<u8>` or `&'static [u8]` infers `Bytes`).
    pub const fn new(class: TicketClass, data: Bytes) -> Self {
        Self { class, data }
    }

    /// `derive(class, data)`: the key of this ticket in a peer entry.
    pub fn id(&self) -> UniqueId {
        self.class.derive(&self.data)
    }

    /// The ticket's class.
    pub fn class(&self) -> TicketClass {
        self.class
    }

    /// The ticket's payload.
    pub fn data(&self) -> &Bytes {
        &self.data
    }
}
