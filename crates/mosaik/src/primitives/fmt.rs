//! Formatting wrappers for logs: short ids, abbreviations, redaction.

use core::fmt;

/// Shows the first 5 bytes of an id as hex (`a1b2c3d4e5`).
#[derive(Clone, Copy)]
pub struct Short<T>(pub T);

/// Shows the first and last `N` hex characters (`a1b2..e5f6`).
#[derive(Clone, Copy)]
pub struct Abbreviated<const N: usize, T>(pub T);

/// Shows a value with its `Debug` pretty form (`{:#?}`).
#[derive(Clone, Copy)]
pub struct Pretty<T>(pub T);

/// Hides a secret but for its first and last byte (`ab****cd`).
#[derive(Clone, Copy)]
pub struct Redacted<T>(pub T);

/// Shows the items of an iterator separated by commas, in brackets.
#[derive(Clone, Copy)]
pub struct FmtIter<I>(pub I);

/// Types that can show themselves in short form.
pub trait ShortFmtExt {
    /// A wrapper that displays the first 5 bytes as hex.
    fn short(&self) -> Short<&Self> {
        Short(self)
    }
}

impl<T: AsRef<[u8]> + ?Sized> ShortFmtExt for T {}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// By value or by reference: `Short(peer_id)`, `Short(&digest)`,
/// `Short(entry.id())`.
impl<T: AsRef<[u8]>> fmt::Display for Short<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.as_ref();
        f.write_str(&hex_of(&bytes[..bytes.len().min(5)]))
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Short<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<const N: usize, T: AsRef<[u8]>> fmt::Display for Abbreviated<N, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = hex_of(self.0.as_ref());
        if text.len() <= 2 * N + 2 {
            f.write_str(&text)
        } else {
            write!(f, "{}..{}", &text[..N], &text[text.len() - N..])
        }
    }
}

impl<T: fmt::Debug> fmt::Display for Pretty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#?}", self.0)
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_ref() {
            [] => f.write_str("****"),
            [first, .., last] => write!(f, "{first:02x}****{last:02x}"),
            [only] => write!(f, "{only:02x}****"),
        }
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<I> fmt::Display for FmtIter<I>
where
    I: IntoIterator + Clone,
    I::Item: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, item) in self.0.clone().into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use {super::*, crate::primitives::Digest};

    #[test]
    fn short_abbreviated_redacted() {
        let d = Digest::from("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        assert_eq!(d.short().to_string(), "0011223344");
        assert_eq!(Short(d).to_string(), "0011223344");
        assert_eq!(Short(&d).to_string(), "0011223344");
        assert_eq!(Abbreviated::<4, _>(d).to_string(), "0011..eeff");
        assert_eq!(Redacted(d).to_string(), "00****ff");
        assert_eq!(FmtIter([1, 2, 3]).to_string(), "[1, 2, 3]");
        assert_eq!(Pretty(1).to_string(), "1");
    }
}
