//! Open enums: every string enum of the spec becomes a Rust enum with an `Unknown(String)` variant.
//!
//! typify's enums are closed, so one value a newer vCenter adds (a new `error_type`, a new file
//! status) would fail the decoding of the whole response. These enums keep the value instead.

use heck::ToUpperCamelCase;
use openapiv3::{ReferenceOr, SchemaKind, StringType, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) struct OpenEnum {
    pub name: String,
    description: Option<String>,
    values: Vec<String>,
}

/// The string enums among the component schemas, in spec order.
pub(crate) fn collect(api: &openapiv3::OpenAPI) -> Vec<OpenEnum> {
    let Some(components) = &api.components else { return Vec::new() };
    components
        .schemas
        .iter()
        .filter_map(|(name, schema)| {
            let ReferenceOr::Item(schema) = schema else { return None };
            let SchemaKind::Type(Type::String(StringType { enumeration, .. })) = &schema.schema_kind else {
                return None;
            };
            if enumeration.is_empty() {
                return None;
            }
            Some(OpenEnum {
                name: name.clone(),
                description: schema.schema_data.description.clone(),
                values: enumeration.iter().flatten().cloned().collect(),
            })
        })
        .collect()
}

pub(crate) fn render(e: &OpenEnum) -> TokenStream {
    let name = format_ident!("{}", e.name);
    let doc = e.description.clone().unwrap_or_else(|| format!("The `{}` values.", e.name));
    let variants: Vec<_> = e.values.iter().map(|v| format_ident!("{}", v.to_upper_camel_case())).collect();
    let values = &e.values;
    let docs = values.iter().map(|v| format!("`{v}`"));

    quote! {
        #[doc = #doc]
        ///
        /// A value this version does not know is kept in `Unknown` instead of failing the whole
        /// response.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum #name {
            #( #[doc = #docs] #variants, )*
            /// A value not known to this version of the bindings, as the server sent it.
            Unknown(::std::string::String),
        }

        impl #name {
            /// Every value this version knows, as sent on the wire.
            pub const KNOWN: &'static [&'static str] = &[#(#values),*];

            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#variants => #values, )*
                    Self::Unknown(other) => other.as_str(),
                }
            }
        }

        impl ::std::convert::From<&str> for #name {
            fn from(value: &str) -> Self {
                match value {
                    #( #values => Self::#variants, )*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let value = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    }
}
