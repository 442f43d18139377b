//! [`IntoIterOrSingle`]: arguments that take one item or many.

/// Marker of the single-item form of [`IntoIterOrSingle`].
#[derive(Debug, Clone, Copy)]
pub struct Single;

/// Marker of the iterator form of [`IntoIterOrSingle`].
#[derive(Debug, Clone, Copy)]
pub struct Many;

/// One item convertible into `T`, or any iterator of such items.
///
/// APIs that take tags, bootstrap peers or addresses accept both
/// `with_tags("a")` and `with_tags(["a", "b"])`. The marker parameter is
/// inferred; no type implements both forms.
pub trait IntoIterOrSingle<T, Marker = Single> {
    /// The items, converted.
    fn into_items(self) -> Vec<T>;
}

impl<T, U: Into<T>> IntoIterOrSingle<T, Single> for U {
    fn into_items(self) -> Vec<T> {
        vec![self.into()]
    }
}

impl<T, U: Into<T>, I: IntoIterator<Item = U>> IntoIterOrSingle<T, Many> for I {
    fn into_items(self) -> Vec<T> {
        self.into_iter().map(Into::into).collect()
    }
}

#[cfg(test)]
mod tests {
    use {super::IntoIterOrSingle, crate::Tag};

    fn tags<V>(items: impl IntoIterOrSingle<Tag, V>) -> Vec<Tag> {
        items.into_items()
    }

    #[test]
    fn single_and_many() {
        assert_eq!(tags("a"), vec![Tag::from("a")]);
        assert_eq!(tags(["a", "b"]), vec![Tag::from("a"), Tag::from("b")]);
        assert_eq!(tags(vec![Tag::from("c")]), vec![Tag::from("c")]);
        assert_eq!(tags(Tag::from("d")), vec![Tag::from("d")]);
    }
}
