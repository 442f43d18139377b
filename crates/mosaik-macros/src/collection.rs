//! `__collection_impl!`: the expansion behind `mosaik::collection!`.
//!
//! Input: `crate_path; [attrs] [vis] [reader|writer] Name[<generics>] =
//! CollectionType, "store-id" | expr [, key: expr]*` with keys
//! `require_ticket` (repeatable) and `config` (a base `CollectionConfig`,
//! beyond SPEC).

use {
    proc_macro2::TokenStream as TokenStream2,
    quote::quote,
    syn::{
        Attribute, Expr, Generics, Ident, LitStr, Token, Type, Visibility,
        parse::{Parse, ParseStream},
    },
};

/// Which sides get public trait impls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Both,
    Reader,
    Writer,
}

const KEYS: &[&str] = &["require_ticket", "config"];

enum StoreSpec {
    Literal(LitStr),
    Expr(Expr),
}

pub(crate) struct CollectionInput {
    krate: TokenStream2,
    attrs: Vec<Attribute>,
    vis: Visibility,
    mode: Mode,
    name: Ident,
    generics: Generics,
    kind: Type,
    store: StoreSpec,
    settings: Vec<(Ident, Expr)>,
}

fn peek_setting(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<Ident>()
        .is_ok_and(|key| KEYS.contains(&key.to_string().as_str()))
        && fork.peek(Token![:])
        && !fork.peek(Token![::])
}

impl Parse for CollectionInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate = TokenStream2::new();
        while !input.peek(Token![;]) {
            if input.is_empty() {
                return Err(input.error("expected `crate_path; ...`"));
            }
            let tt: proc_macro2::TokenTree = input.parse()?;
            krate.extend([tt]);
        }
        input.parse::<Token![;]>()?;
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let mut mode = Mode::Both;
        if input.peek(Ident)
            && input.peek2(Ident)
            && let Ok(word) = input.fork().parse::<Ident>()
        {
            if word == "reader" {
                mode = Mode::Reader;
            } else if word == "writer" {
                mode = Mode::Writer;
            }
            if mode != Mode::Both {
                input.parse::<Ident>()?;
            }
        }
        let name: Ident = input.parse()?;
        let generics: Generics = input.parse()?;
        input.parse::<Token![=]>()?;
        let kind: Type = input.parse()?;
        input.parse::<Token![,]>()?;
        let store = if input.peek(LitStr) {
            StoreSpec::Literal(input.parse()?)
        } else {
            StoreSpec::Expr(input.parse()?)
        };
        let mut settings = Vec::new();
        while input.parse::<Option<Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            if !peek_setting(input) {
                let key: Ident = input.parse()?;
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown collection key `{key}`; expected one of: {}",
                        KEYS.join(", ")
                    ),
                ));
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            settings.push((key, input.parse()?));
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens"));
        }
        Ok(Self {
            krate,
            attrs,
            vis,
            mode,
            name,
            generics,
            kind,
            store,
            settings,
        })
    }
}

pub(crate) fn expand(input: CollectionInput, intent: fn(&str) -> [u8; 32]) -> TokenStream2 {
    let CollectionInput {
        krate,
        attrs,
        vis,
        mode,
        name,
        generics,
        kind,
        store,
        settings,
    } = input;
    let store = match store {
        StoreSpec::Literal(lit) => {
            let bytes = intent(&lit.value());
            quote! { #krate::primitives::Digest::from_bytes([#(#bytes),*]) }
        }
        StoreSpec::Expr(expr) => quote! { #krate::StoreId::from(#expr) },
    };
    let mut config = quote! { #krate::collections::CollectionConfig::default() };
    for (key, value) in &settings {
        if key == "config" {
            config = quote! { (#value) };
        }
    }
    for (key, value) in &settings {
        if key == "require_ticket" {
            config = quote! { #config.require_ticket(#value) };
        }
    }
    let params: Vec<_> = generics.type_params().map(|p| p.ident.clone()).collect();
    let body = if params.is_empty() {
        quote! { ; }
    } else {
        quote! { (::core::marker::PhantomData<fn() -> (#(#params,)*)>); }
    };
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let def = quote! { <#kind as #krate::collections::CollectionFromDef> };
    let reader_trait = quote! {
        impl #impl_generics #krate::collections::CollectionReader for #name #ty_generics #where_clause {
            type Reader = #def::Reader;

            fn reader(network: &#krate::Network) -> Self::Reader {
                #def::reader_with_config(network, #store, #config)
            }
        }
    };
    let writer_trait = quote! {
        impl #impl_generics #krate::collections::CollectionWriter for #name #ty_generics #where_clause {
            type Writer = #def::Writer;

            fn writer(network: &#krate::Network) -> Self::Writer {
                #def::writer_with_config(network, #store, #config)
            }
        }
    };
    // The suppressed side stays usable inside the declaring crate.
    let reader_inherent = quote! {
        impl #impl_generics #name #ty_generics #where_clause {
            /// Opens a reader of the declared store (crate-internal).
            #[allow(dead_code)]
            pub(crate) fn reader(network: &#krate::Network) -> #def::Reader {
                #def::reader_with_config(network, #store, #config)
            }
        }
    };
    let writer_inherent = quote! {
        impl #impl_generics #name #ty_generics #where_clause {
            /// Opens a writer of the declared store (crate-internal).
            #[allow(dead_code)]
            pub(crate) fn writer(network: &#krate::Network) -> #def::Writer {
                #def::writer_with_config(network, #store, #config)
            }
        }
    };
    let sides = match mode {
        Mode::Both => quote! { #reader_trait #writer_trait },
        Mode::Reader => quote! { #reader_trait #writer_inherent },
        Mode::Writer => quote! { #writer_trait #reader_inherent },
    };
    quote! {
        #(#attrs)*
        #vis struct #name #generics #body
        #sides
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> syn::Result<CollectionInput> {
        syn::parse_str::<CollectionInput>(text)
    }

    fn expanded(text: &str) -> String {
        expand(parse(text).expect("parses"), |_| [0; 32]).to_string()
    }

    #[test]
    fn modes_and_keys() {
        let out = expanded("m; pub Prices = m::collections::Map<u8, u8>, \"prices\"");
        assert!(out.contains("CollectionReader") && out.contains("CollectionWriter"));
        assert!(out.contains("CollectionConfig :: default ()"));
        let out = expanded("m; reader R = Map<u8, u8>, ID, require_ticket: a, require_ticket: b");
        assert!(out.contains("CollectionReader") && !out.contains("CollectionWriter"));
        assert!(out.contains("pub (crate) fn writer"));
        assert!(out.contains("StoreId :: from (ID)"));
        assert_eq!(out.matches(". require_ticket").count(), 2 * 2, "both sides");
        let out = expanded("m; writer W = Map<u8, u8>, \"w\", config: c()");
        assert!(out.contains("CollectionWriter") && out.contains("pub (crate) fn reader"));
        assert!(out.contains("(c ())"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse("m; A = Map<u8, u8>, \"a\", bogus: 1")
            .err()
            .expect("unknown key");
        assert!(err.to_string().contains("unknown collection key `bogus`"));
        assert!(parse("m; A = Map<u8, u8>").is_err(), "store id is required");
    }
}
