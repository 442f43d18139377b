//! `__stream_impl!`: the expansion behind `mosaik::stream!`.
//!
//! Input: `crate_path; [attrs] [vis] [producer|consumer] Name[<generics>] =
//! Datum [, "id" | , expr] [, [producer|consumer] key: expr]*`.

use {
    proc_macro2::TokenStream as TokenStream2,
    quote::{format_ident, quote},
    syn::{
        Attribute, Expr, Generics, Ident, LitStr, Token, Type, Visibility,
        parse::{Parse, ParseStream},
    },
};

/// Which trait impls to generate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Both,
    Producer,
    Consumer,
}

/// Which side a key prefix names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Any,
    Producer,
    Consumer,
}

const PRODUCER_KEYS: &[&str] = &["max_consumers", "buffer_size", "disconnect_lagging"];
const CONSUMER_KEYS: &[&str] = &["criteria", "backoff"];
const SHARED_KEYS: &[&str] = &["require", "require_ticket", "online_when"];

struct Setting {
    side: Side,
    key: Ident,
    value: Expr,
}

enum StreamIdSpec {
    Derived,
    Literal(LitStr),
    Expr(Expr),
}

pub(crate) struct StreamInput {
    krate: TokenStream2,
    attrs: Vec<Attribute>,
    vis: Visibility,
    mode: Mode,
    name: Ident,
    generics: Generics,
    datum: Type,
    id: StreamIdSpec,
    settings: Vec<Setting>,
}

fn is_key(ident: &Ident) -> bool {
    let name = ident.to_string();
    PRODUCER_KEYS
        .iter()
        .chain(CONSUMER_KEYS)
        .chain(SHARED_KEYS)
        .any(|k| *k == name)
}

/// Whether the input continues with a (possibly prefixed) `key:` setting.
fn peek_setting(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    let Ok(first) = fork.parse::<Ident>() else {
        return false;
    };
    let key = if first == "producer" || first == "consumer" {
        match fork.parse::<Ident>() {
            Ok(key) => key,
            Err(_) => return false,
        }
    } else {
        first
    };
    fork.peek(Token![:]) && !fork.peek(Token![::]) && (is_key(&key) || !fork.peek2(Token![:]))
}

impl Parse for StreamInput {
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
        if (input.peek(Ident) && input.peek2(Ident))
            && let Ok(word) = input.fork().parse::<Ident>()
        {
            if word == "producer" {
                mode = Mode::Producer;
            } else if word == "consumer" {
                mode = Mode::Consumer;
            }
            if mode != Mode::Both {
                input.parse::<Ident>()?;
            }
        }
        let name: Ident = input.parse()?;
        let generics: Generics = input.parse()?;
        input.parse::<Token![=]>()?;
        let datum: Type = input.parse()?;
        let mut id = StreamIdSpec::Derived;
        let mut settings = Vec::new();
        let mut first = true;
        while input.parse::<Option<Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            if first && input.peek(LitStr) {
                id = StreamIdSpec::Literal(input.parse()?);
            } else if peek_setting(input) {
                settings.push(parse_setting(input)?);
            } else if first {
                id = StreamIdSpec::Expr(input.parse()?);
            } else {
                return Err(input.error("expected `key: value`"));
            }
            first = false;
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
            datum,
            id,
            settings,
        })
    }
}

fn parse_setting(input: ParseStream<'_>) -> syn::Result<Setting> {
    let first: Ident = input.parse()?;
    let (side, key) = if first == "producer" {
        (Side::Producer, input.parse()?)
    } else if first == "consumer" {
        (Side::Consumer, input.parse()?)
    } else {
        (Side::Any, first)
    };
    input.parse::<Token![:]>()?;
    let value: Expr = input.parse()?;
    let name = key.to_string();
    if !is_key(&key) {
        return Err(syn::Error::new(
            key.span(),
            format!(
                "unknown stream key `{name}`; expected one of: {}",
                PRODUCER_KEYS
                    .iter()
                    .chain(CONSUMER_KEYS)
                    .chain(SHARED_KEYS)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if PRODUCER_KEYS.contains(&name.as_str()) && side == Side::Consumer {
        return Err(syn::Error::new(
            key.span(),
            format!("`{name}` is a producer setting"),
        ));
    }
    if CONSUMER_KEYS.contains(&name.as_str()) && side == Side::Producer {
        return Err(syn::Error::new(
            key.span(),
            format!("`{name}` is a consumer setting"),
        ));
    }
    Ok(Setting { side, key, value })
}

/// The builder calls of one side.
fn calls(settings: &[Setting], producer: bool) -> Vec<TokenStream2> {
    let mut out = Vec::new();
    for Setting { side, key, value } in settings {
        let name = key.to_string();
        let wanted = match name.as_str() {
            // The prefix names who must satisfy the rule: the other side
            // installs it.
            "require" | "require_ticket" => match side {
                Side::Any => true,
                Side::Producer => !producer,
                Side::Consumer => producer,
            },
            "online_when" => match side {
                Side::Any => true,
                Side::Producer => producer,
                Side::Consumer => !producer,
            },
            _ => PRODUCER_KEYS.contains(&name.as_str()) == producer,
        };
        if !wanted {
            continue;
        }
        let method = match name.as_str() {
            "max_consumers" => format_ident!("with_max_consumers"),
            "buffer_size" => format_ident!("with_buffer_size"),
            "criteria" => format_ident!("with_criteria"),
            "backoff" => format_ident!("with_backoff"),
            _ => key.clone(),
        };
        out.push(quote! { .#method(#value) });
    }
    out
}

/// The intent-addressing rule (see `intent_bytes` in lib.rs).
pub(crate) fn expand(input: StreamInput, intent: fn(&str) -> [u8; 32]) -> TokenStream2 {
    let StreamInput {
        krate,
        attrs,
        vis,
        mode,
        name,
        generics,
        datum,
        id,
        settings,
    } = input;
    let id_call = match id {
        StreamIdSpec::Derived => quote! {},
        StreamIdSpec::Literal(lit) => {
            let bytes = intent(&lit.value());
            quote! { .with_stream_id(#krate::primitives::Digest::from_bytes([#(#bytes),*])) }
        }
        StreamIdSpec::Expr(expr) => quote! { .with_stream_id(#expr) },
    };
    let params: Vec<_> = generics.type_params().map(|p| p.ident.clone()).collect();
    let body = if params.is_empty() {
        quote! { ; }
    } else {
        quote! { (::core::marker::PhantomData<fn() -> (#(#params,)*)>); }
    };
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut predicates: Vec<TokenStream2> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote! { #p }).collect())
        .unwrap_or_default();
    predicates.push(quote! { #datum: #krate::Datum });
    let mut out = quote! {
        #(#attrs)*
        #vis struct #name #generics #body
    };
    if mode != Mode::Consumer {
        let producer_calls = calls(&settings, true);
        out.extend(quote! {
            impl #impl_generics #krate::streams::StreamProducer for #name #ty_generics
            where #(#predicates,)*
            {
                type Datum = #datum;

                fn producer(network: &#krate::Network) -> #krate::streams::Producer<#datum> {
                    network
                        .streams()
                        .producer::<#datum>()
                        #id_call
                        #(#producer_calls)*
                        .build_or_existing()
                }
            }
        });
    }
    if mode != Mode::Producer {
        let consumer_calls = calls(&settings, false);
        out.extend(quote! {
            impl #impl_generics #krate::streams::StreamConsumer for #name #ty_generics
            where #(#predicates,)*
            {
                type Datum = #datum;

                fn consumer(network: &#krate::Network) -> #krate::streams::Consumer<#datum> {
                    network
                        .streams()
                        .consumer::<#datum>()
                        #id_call
                        #(#consumer_calls)*
                        .build()
                }
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> syn::Result<StreamInput> {
        syn::parse_str::<StreamInput>(text)
    }

    fn expanded(text: &str) -> String {
        expand(parse(text).expect("parses"), |_| [0; 32]).to_string()
    }

    #[test]
    fn unknown_and_misrouted_keys_are_errors() {
        let err = parse("m; A = u8, bogus: 1").err().expect("unknown key");
        assert!(err.to_string().contains("unknown stream key `bogus`"));
        assert!(parse("m; A = u8, consumer buffer_size: 1").is_err());
        assert!(parse("m; A = u8, producer backoff: 1").is_err());
    }

    #[test]
    fn require_prefix_names_who_must_satisfy_it() {
        let out = expanded("m; A = u8, \"a\", consumer require: f, producer require_ticket: v");
        let (producer, consumer) = out.split_at(out.find("StreamConsumer").unwrap());
        assert!(producer.contains(". require (f)"));
        assert!(!producer.contains("require_ticket"));
        assert!(consumer.contains(". require_ticket (v)"));
        assert!(!consumer.contains(". require (f)"));
    }

    #[test]
    fn modes_ids_and_generics() {
        let out = expanded("m; pub producer P = u8, SOME_ID, max_consumers: 2");
        assert!(out.contains("StreamProducer") && !out.contains("StreamConsumer"));
        assert!(out.contains("with_stream_id (SOME_ID)"));
        assert!(out.contains("with_max_consumers (2)"));
        let out = expanded("m; consumer C = u8, criteria: c, backoff: b, online_when: w");
        assert!(!out.contains("StreamProducer") && out.contains("StreamConsumer"));
        assert!(out.contains("with_criteria (c)") && out.contains("with_backoff (b)"));
        let out = expanded("m; G<T> = Vec<T>");
        assert!(out.contains("PhantomData"));
        assert!(!out.contains("with_stream_id"));
        let out = expanded("m; L = u8, \"lit\", require: a, require: b");
        assert_eq!(out.matches(". require (a)").count(), 2, "both sides");
        assert_eq!(out.matches(". require (b)").count(), 2);
    }
}
