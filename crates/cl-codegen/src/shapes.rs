//! vAPI shapes: each operation's result typed as vAPI's tagged JSON-RPC encoding needs it
//! (which values are structures and under what name, which fields are optional, which strings
//! are secrets), read from the spec. What JSON Schema does not say comes from extensions on the
//! component schemas:
//! * `x-vapi-structure: NAME` on an object schema: its canonical vAPI structure name. Every
//!   object with fields that a result can hold needs one.
//! * `x-vapi-required: [FIELD, …]`: fields vAPI always sets though the spec's `required` lets a
//!   reader do without them (decoding is lenient where servers differ; encoding is exact).
//! * `x-vapi-secret: true` on a string: a secret, sent as `{"SECRET": …}`.
//!
//! A `oneOf` is its first form (the `/api` one, as the spec orders them); a schema without a
//! type is any value (`Shape::Void`); string enums are strings.

use anyhow::{Context, Result, bail};
use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

/// The `Shape` expression for `schema` (a field's optionality is the structure's business).
pub(crate) fn shape(tree: &Value, schema: &Value) -> Result<TokenStream> {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        let target = &tree["components"]["schemas"][name];
        if target.is_null() {
            bail!("dangling $ref to {name}");
        }
        if target.get("x-vapi-structure").is_some() {
            let ident = format_ident!("{}", name.to_shouty_snake_case());
            return Ok(quote!(Shape::Struct(&structures::#ident)));
        }
        return shape(tree, target).with_context(|| name.to_owned());
    }
    if let Some(first) = schema["oneOf"].get(0) {
        return shape(tree, first);
    }
    let inner = |key: &str| -> Result<TokenStream> { shape(tree, &schema[key]).with_context(|| key.to_owned()) };
    Ok(match schema["type"].as_str() {
        None => quote!(Shape::Void),
        Some("string") if schema["x-vapi-secret"] == true => quote!(Shape::Secret),
        Some("string") if schema["format"] == "date-time" => quote!(Shape::DateTime),
        Some("string") => quote!(Shape::Str),
        Some("integer") => quote!(Shape::Int),
        Some("number") => quote!(Shape::Double),
        Some("boolean") => quote!(Shape::Bool),
        Some("array") => {
            let items = inner("items")?;
            quote!(Shape::List(&#items))
        }
        Some("object") if schema["additionalProperties"].is_object() => {
            let values = inner("additionalProperties")?;
            quote!(Shape::Map(&#values))
        }
        Some("object") => bail!("an object needs to be a component schema with x-vapi-structure"),
        Some(other) => bail!("type {other:?} has no vAPI shape"),
    })
}

/// `pub static NAME: Structure` for every component schema with `x-vapi-structure`.
pub(crate) fn structures(tree: &Value) -> Result<Vec<TokenStream>> {
    let mut out = Vec::new();
    for (name, schema) in tree["components"]["schemas"].as_object().context("no component schemas")? {
        let Some(vapi_name) = schema.get("x-vapi-structure") else { continue };
        let vapi_name = vapi_name.as_str().with_context(|| format!("{name}: x-vapi-structure is not a string"))?;
        out.push(structure(tree, name, vapi_name, schema).with_context(|| name.clone())?);
    }
    Ok(out)
}

fn structure(tree: &Value, name: &str, vapi_name: &str, schema: &Value) -> Result<TokenStream> {
    let properties = schema["properties"].as_object().context("a structure without properties")?;
    let listed =
        |key: &str| -> Vec<&str> { schema[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect() };
    let (required, vapi_required) = (listed("required"), listed("x-vapi-required"));
    if let Some(unknown) = vapi_required.iter().find(|f| !properties.contains_key(**f)) {
        bail!("x-vapi-required names {unknown:?}, which is not a property");
    }
    let mut fields = Vec::new();
    for (field, property) in properties {
        let shape = shape(tree, property).with_context(|| format!("property {field}"))?;
        let shape = if required.contains(&field.as_str()) || vapi_required.contains(&field.as_str()) {
            shape
        } else {
            quote!(Shape::Opt(&#shape))
        };
        fields.push(quote!(Field { name: #field, shape: #shape }));
    }
    let ident = format_ident!("{}", name.to_shouty_snake_case());
    let doc = format!(" `{name}` as vAPI's `{vapi_name}`.");
    Ok(quote! {
        #[doc = #doc]
        pub static #ident: Structure = Structure { name: #vapi_name, fields: &[#(#fields),*] };
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> Value {
        json!({"components": {"schemas": {
            "Thing": {"type": "object", "x-vapi-structure": "com.example.thing", "required": ["a"],
                      "x-vapi-required": ["b"],
                      "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                                     "c": {"type": "string", "format": "date-time"},
                                     "d": {"type": "string", "x-vapi-secret": true},
                                     "e": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                                     "f": {"$ref": "#/components/schemas/Either"},
                                     "g": {}}},
            "Either": {"oneOf": [{"$ref": "#/components/schemas/Map"}, {"type": "array"}]},
            "Map": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "Loose": {"type": "object", "x-vapi-structure": "com.example.loose", "x-vapi-required": ["nope"],
                      "properties": {"a": {"type": "object"}}}
        }}})
    }

    fn text(tokens: TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    #[test]
    fn fields_are_optional_unless_the_spec_or_vapi_requires_them() {
        let t = tree();
        let thing = text(structure(&t, "Thing", "com.example.thing", &t["components"]["schemas"]["Thing"]).unwrap());
        for expected in [
            "name:\"com.example.thing\"",
            "Field{name:\"a\",shape:Shape::Str}",
            "Field{name:\"b\",shape:Shape::Int}",
            "Field{name:\"c\",shape:Shape::Opt(&Shape::DateTime)}",
            "Field{name:\"d\",shape:Shape::Opt(&Shape::Secret)}",
            "Field{name:\"e\",shape:Shape::Opt(&Shape::List(&Shape::Struct(&structures::THING)))}",
            "Field{name:\"f\",shape:Shape::Opt(&Shape::Map(&Shape::Bool))}",
            "Field{name:\"g\",shape:Shape::Opt(&Shape::Void)}",
        ] {
            assert!(thing.contains(expected), "{expected} not in {thing}");
        }
    }

    #[test]
    fn what_cannot_be_encoded_is_refused() {
        let t = tree();
        let loose = &t["components"]["schemas"]["Loose"];
        let e = structure(&t, "Loose", "com.example.loose", loose).unwrap_err();
        assert!(format!("{e:#}").contains("\"nope\""), "{e:#}");
        assert!(shape(&t, &json!({"type": "object", "properties": {}})).is_err());
        assert!(shape(&t, &json!({"$ref": "#/components/schemas/Gone"})).is_err());
    }
}
