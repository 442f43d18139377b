//! Procedural macros of mosaik.
//!
//! `__unique_id_impl!(path, "text")` computes an id at compile time with the
//! same *intent addressing* rule as `Digest::from(&str)`: exactly 64 hex
//! characters are used verbatim, anything else is hashed with blake3. It
//! expands to `path::primitives::Digest::from_bytes([..])`, a const
//! expression. Users call it through the `unique_id!`, `id!` and `tag!`
//! macros of the `mosaik` crate, which pass `$crate` as the path.
//!
//! `__stream_impl!(path; ...)` expands `mosaik::stream!` declarations (see
//! `stream.rs`); `__collection_impl!(path; ...)` expands
//! `mosaik::collection!` (see `collection.rs`).

mod collection;
mod stream;

use {
    proc_macro::TokenStream,
    proc_macro2::TokenStream as TokenStream2,
    quote::quote,
    syn::{
        LitStr, Token,
        parse::{Parse, ParseStream},
        parse_macro_input,
    },
};

/// `crate_path , "literal"`.
struct IdInput {
    krate: TokenStream2,
    text: LitStr,
}

impl Parse for IdInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate = TokenStream2::new();
        while !input.peek(Token![,]) {
            if input.is_empty() {
                return Err(input.error("expected `crate_path, \"id string\"`"));
            }
            let tt: proc_macro2::TokenTree = input.parse()?;
            krate.extend([tt]);
        }
        input.parse::<Token![,]>()?;
        let text: LitStr = input.parse()?;
        let _ = input.parse::<Option<Token![,]>>()?;
        Ok(Self { krate, text })
    }
}

/// The intent-addressing rule, duplicated from `Digest::intent` because a
/// proc-macro crate cannot depend on the crate that uses it.
fn intent_bytes(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if text.len() == 64 && hex::decode_to_slice(text, &mut out).is_ok() {
        return out;
    }
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// Implementation behind `unique_id!`, `id!` and `tag!`; not for direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __unique_id_impl(input: TokenStream) -> TokenStream {
    let IdInput { krate, text } = parse_macro_input!(input as IdInput);
    let bytes = intent_bytes(&text.value());
    quote! {
        #krate::primitives::Digest::from_bytes([#(#bytes),*])
    }
    .into()
}

/// Implementation behind `stream!`; not for direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __stream_impl(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as stream::StreamInput);
    stream::expand(input, intent_bytes).into()
}

/// Implementation behind `collection!`; not for direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __collection_impl(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as collection::CollectionInput);
    collection::expand(input, intent_bytes).into()
}

#[cfg(test)]
mod tests {
    use super::intent_bytes;

    #[test]
    fn hex_is_verbatim_text_is_hashed() {
        let hex = "ff".repeat(32);
        assert_eq!(intent_bytes(&hex), [0xff; 32]);
        assert_eq!(intent_bytes("abc"), *blake3::hash(b"abc").as_bytes());
    }
}
