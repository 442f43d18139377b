//! [`Cmd`]: a replicated command as the engine's log, storage writes and
//! every consensus message share it.

use {
    crate::primitives::Datum,
    bytes::Bytes,
    core::fmt,
    serde::{Deserialize, Deserializer, Serialize, Serializer},
    std::sync::{Arc, Mutex, OnceLock, PoisonError},
};

/// A replicated command: the user's value and its [`Datum`] bytes, made
/// once and shared.
///
/// The leader encodes a command once when it is proposed; every
/// `AppendEntries` to every follower, every retransmission and every clone
/// the engine makes for its log and outputs shares those bytes (one
/// reference count, no copy), and serialising writes them as they are. A
/// receiver decodes the bytes once, on receipt, so a command that does not
/// decode still refuses the whole message. On the wire this is the same
/// byte string as before (custom encodings work). Debug does not print the
/// command (it need not be Debug).
///
/// Once a command is applied only one form stays in memory: when its bytes
/// can rebuild it (they were decoded on receipt, or the leader made them
/// with [`Datum::encode`], whose output `decode` accepts by contract),
/// applying moves the value out to the machine instead of copying it, and
/// the log keeps the bytes. A later need for the value (a dynamic-mode
/// replay, a storage write after the apply) decodes them again; a `Datum`
/// that breaks the contract then stops the group with an error. Every
/// member used to keep both forms of every command, and the heap growth
/// that cost in a process is what made B1 slower there.
/// Commands read back from storage ([`Cmd::new`]) keep their value and are
/// encoded only if they are sent again.
pub(crate) struct Cmd<C>(Arc<Parts<C>>);

struct Parts<C> {
    /// The decoded command. `None` only once a `rebuildable` command is
    /// applied.
    value: Mutex<Option<C>>,
    /// The encoded command: set from the start when `rebuildable`, else made on
    /// the first call to [`Cmd::bytes`].
    bytes: OnceLock<Bytes>,
    /// `bytes` can stand in for `value`: they were decoded, or encoded from
    /// it.
    rebuildable: bool,
}

impl<C> Parts<C> {
    fn value(&self) -> std::sync::MutexGuard<'_, Option<C>> {
        // A panic in a user's `Clone` or `encode` leaves the value intact.
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Datum> Parts<C> {
    /// Decodes the bytes again (the value was handed to the machine).
    fn decoded(&self) -> Result<C, C::DecodeError> {
        C::decode(self.bytes.get().map_or(&[][..], |b| b))
    }
}

impl<C: Datum> Cmd<C> {
    /// A command whose bytes are made when first needed. It keeps its
    /// value for as long as it lives.
    pub(crate) fn new(value: C) -> Self {
        Self(Arc::new(Parts {
            value: Mutex::new(Some(value)),
            bytes: OnceLock::new(),
            rebuildable: false,
        }))
    }

    /// Decodes a command from its bytes, keeping them.
    pub(crate) fn decode(bytes: Bytes) -> Result<Self, C::DecodeError> {
        let value = C::decode(&bytes)?;
        Ok(Self::encoded(value, bytes))
    }

    /// A command and its bytes (`bytes` = `value.encode()`).
    pub(crate) fn encoded(value: C, bytes: Bytes) -> Self {
        Self(Arc::new(Parts {
            value: Mutex::new(Some(value)),
            bytes: bytes.into(),
            rebuildable: true,
        }))
    }

    /// The encoded command (encoded on the first call if it was not yet).
    pub(crate) fn bytes(&self) -> Result<Bytes, C::EncodeError> {
        if let Some(bytes) = self.0.bytes.get() {
            return Ok(bytes.clone());
        }
        let value = self.0.value();
        // Only rebuildable commands (bytes set) give their value away.
        let bytes = value.as_ref().map_or_else(|| Ok(Bytes::new()), C::encode)?;
        // A concurrent first call may have won: both encodings are equal.
        let _ = self.0.bytes.set(bytes.clone());
        Ok(bytes)
    }
}

impl<C: Datum + Clone> Cmd<C> {
    /// The command, moved out when this is the last reference and copied
    /// otherwise (decoded again once it was applied). For storage writes.
    pub(crate) fn into_value(self) -> Result<C, C::DecodeError> {
        match Arc::try_unwrap(self.0) {
            Ok(mut parts) => {
                let value = parts
                    .value
                    .get_mut()
                    .unwrap_or_else(PoisonError::into_inner);
                value.take().map_or_else(|| parts.decoded(), Ok)
            }
            Err(shared) => {
                let value = shared.value().clone();
                value.map_or_else(|| shared.decoded(), Ok)
            }
        }
    }

    /// The command for the state machine. Where the bytes can rebuild it,
    /// the value moves out and the shared command keeps only its bytes;
    /// otherwise it is copied as [`Cmd::into_value`] does.
    pub(crate) fn into_applied(self) -> Result<C, C::DecodeError> {
        if !self.0.rebuildable {
            return self.into_value();
        }
        let taken = self.0.value().take();
        taken.map_or_else(|| self.0.decoded(), Ok)
    }
}

impl<C> Clone for Cmd<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> fmt::Debug for Cmd<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cmd(..)")
    }
}

impl<C: Datum> Serialize for Cmd<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.bytes().map_err(serde::ser::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de, C: Datum> Deserialize<'de> for Cmd<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(CmdVisitor(core::marker::PhantomData))
    }
}

struct CmdVisitor<C>(core::marker::PhantomData<C>);

impl<'de, C: Datum> serde::de::Visitor<'de> for CmdVisitor<C> {
    type Value = Cmd<C>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an encoded command (byte string)")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Cmd::decode(Bytes::copy_from_slice(v)).map_err(E::custom)
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Cmd::decode(Bytes::from(v)).map_err(E::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Self-describing formats may hand a byte string over as a sequence.
        let mut buf = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            buf.push(b);
        }
        self.visit_byte_buf(buf)
    }
}

#[cfg(test)]
mod tests {
    use {super::*, crate::primitives::encoding};

    fn held(cmd: &Cmd<Vec<u8>>) -> bool {
        cmd.0.value().is_some()
    }

    #[test]
    fn an_applied_command_keeps_only_its_bytes_and_decodes_them_when_needed_again() {
        let value = vec![7u8; 1280];
        let cmd = Cmd::decode(value.encode().unwrap()).unwrap();
        let in_log = cmd.clone();
        assert!(held(&in_log));
        assert_eq!(cmd.into_applied().unwrap(), value);
        assert!(!held(&in_log), "the log's copy no longer holds the value");
        // A replay and a storage write still get the command, decoded.
        assert_eq!(in_log.clone().into_applied().unwrap(), value);
        assert_eq!(in_log.clone().into_value().unwrap(), value);
        assert_eq!(in_log.bytes().unwrap(), value.encode().unwrap());
        // The last reference, its value already given away, decodes too.
        assert_eq!(in_log.into_value().unwrap(), value);
    }

    #[test]
    fn a_storage_write_before_the_apply_copies_and_leaves_the_value() {
        let value = vec![1u8, 2, 3];
        let cmd = Cmd::decode(value.encode().unwrap()).unwrap();
        assert_eq!(cmd.clone().into_value().unwrap(), value);
        assert!(held(&cmd));
        // The sole owner moves it out.
        assert_eq!(cmd.into_applied().unwrap(), value);
    }

    #[test]
    fn a_command_read_from_storage_keeps_its_value_and_encodes_on_demand() {
        let cmd = Cmd::new(vec![9u8; 16]);
        let in_log = cmd.clone();
        assert_eq!(cmd.into_applied().unwrap(), vec![9u8; 16]);
        assert!(
            held(&in_log),
            "bytes made later never stand in for the value"
        );
        assert_eq!(in_log.bytes().unwrap(), vec![9u8; 16].encode().unwrap());
    }

    /// A `Datum` whose bytes `decode` refuses, against its contract.
    #[derive(Debug, Clone, PartialEq)]
    struct Lopsided;

    impl Serialize for Lopsided {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u8(7)
        }
    }

    impl<'de> Deserialize<'de> for Lopsided {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            bool::deserialize(d).map(|_| Self)
        }
    }

    #[test]
    fn bytes_that_break_the_datum_contract_are_an_error_when_needed_again() {
        let cmd = Cmd::encoded(Lopsided, Lopsided.encode().unwrap());
        let in_log = cmd.clone();
        assert_eq!(
            cmd.into_applied().unwrap(),
            Lopsided,
            "the first apply moves it"
        );
        assert!(
            in_log.clone().into_applied().is_err(),
            "a replay cannot rebuild it"
        );
        assert!(in_log.into_value().is_err(), "nor can a storage write");
    }

    #[test]
    fn on_the_wire_a_command_is_its_datum_bytes() {
        let value = vec![4u8; 40];
        let cmd = Cmd::new(value.clone());
        let wire = encoding::serialize(&cmd);
        assert_eq!(wire, encoding::serialize(&value.encode().unwrap()));
        let back: Cmd<Vec<u8>> = encoding::deserialize(&wire).unwrap();
        assert!(back.0.rebuildable);
        assert_eq!(back.into_applied().unwrap(), value);
    }
}
