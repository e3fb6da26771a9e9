//! The operation table: every operation of the spec, once, with the forms each wire carries it
//! in. The simulator routes by it, the SDK takes its ids and repeat-safety from it, and the
//! conformance tests walk it; `cl-api` defines the types (`cl_api::operation`) and includes the
//! data generated here.
//!
//! A logical operation is an `/api` operation and its `rest_` twin. What only the vAPI metadata
//! knows comes from the spec's extensions on the `/api` operation:
//! * `x-vapi-operation: {service, name}`: the JSON-RPC service and operation;
//! * `x-vapi-body: NAME`: the `/api` body is the one input `NAME` (without it, the body's fields
//!   are the inputs, as every `/rest` body's are);
//! * `x-repeat: safe | unsafe | unless-versioned`: whether a lost reply may be answered by sending
//!   the same request again;
//! * `x-vapi-name` on a query parameter: the input it fills when it is not its wire name
//!   (`filter.names` for `/api`'s `names`).
//!
//! Each row also carries the vAPI shape of its result, and the `structures` module every vAPI
//! structure of the component schemas (see the `shapes` module for the extensions they read).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One wire form of an operation, as read from the spec.
struct Form {
    method: String,
    segments: Vec<Segment>,
    action: Option<String>,
    selector: Option<String>,
    query: Vec<Query>,
    body: Body,
    status: u16,
    basic_auth: bool,
}

enum Segment {
    Literal(String),
    Param(String),
    IdParam(String),
}

struct Query {
    name: String,
    input: String,
    list: bool,
    required: bool,
}

enum Body {
    None,
    Fields,
    Input(String),
}

struct Vapi {
    service: String,
    name: String,
    repeat: String,
}

/// Generates the table's data (`OperationId` and `OPERATIONS`) as formatted Rust source.
pub fn generate(tree: &Value) -> Result<String> {
    let mut forms: BTreeMap<String, (Form, Option<Vapi>)> = BTreeMap::new();
    let mut outputs: BTreeMap<String, TokenStream> = BTreeMap::new();
    let paths = tree["paths"].as_object().context("the spec has no paths")?;
    for (key, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"].as_str().context("an operation without operationId")?;
            let form = form(tree, key, method, &item["parameters"], op).with_context(|| id.to_owned())?;
            let vapi = vapi(op).with_context(|| id.to_owned())?;
            if !id.starts_with("rest_") {
                outputs.insert(id.to_owned(), output(tree, op).with_context(|| format!("{id}: its result"))?);
            }
            forms.insert(id.to_owned(), (form, vapi));
        }
    }

    let mut rows = Vec::new();
    for (id, (api, vapi)) in forms.iter().filter(|(id, _)| !id.starts_with("rest_")) {
        let vapi =
            vapi.as_ref().with_context(|| format!("{id}: an /api operation needs x-vapi-operation and x-repeat"))?;
        let rest = forms.get(&format!("rest_{id}"));
        if let Some((_, Some(_))) = rest {
            bail!("rest_{id}: the x-vapi extensions belong on the /api operation only");
        }
        rows.push((id.clone(), api, rest.map(|(form, _)| form), vapi));
    }
    for id in forms.keys().filter_map(|id| id.strip_prefix("rest_")) {
        if !forms.contains_key(id) {
            bail!("rest_{id} has no /api operation {id}");
        }
    }

    let variants: Vec<_> = rows.iter().map(|(id, ..)| format_ident!("{}", id.to_upper_camel_case())).collect();
    let names: Vec<_> = rows.iter().map(|(id, ..)| id.as_str()).collect();
    let count = rows.len();
    let entries = rows.iter().zip(&variants).map(|((id, api, rest, vapi), variant)| {
        let (service, vname) = (&vapi.service, &vapi.name);
        let repeat = format_ident!("{}", vapi.repeat.to_upper_camel_case());
        let auth = if api.basic_auth { quote!(Auth::Basic) } else { quote!(Auth::Session) };
        let output = &outputs[id];
        let api = route(api);
        let rest = match rest {
            Some(form) => {
                let form = route(form);
                quote!(Some(#form))
            }
            None => quote!(None),
        };
        quote! {
            Operation {
                id: OperationId::#variant,
                name: #id,
                vapi: Vapi { service: #service, name: #vname },
                repeat: Repeat::#repeat,
                auth: #auth,
                output: #output,
                api: #api,
                rest: #rest,
            }
        }
    });
    let docs = rows.iter().map(|(id, api, ..)| format!(" `{id}`: {}", shown(api)));
    let structures = crate::shapes::structures(tree)?;

    let tokens = quote! {
        /// Every operation of the spec, named after its `/api` operationId.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OperationId {
            #( #[doc = #docs] #variants, )*
        }

        impl OperationId {
            /// Every operation, in the table's order.
            pub const ALL: [OperationId; #count] = [#(OperationId::#variants),*];

            /// The `/api` operationId, e.g. `download_session_create`.
            pub const fn name(self) -> &'static str {
                match self {
                    #(OperationId::#variants => #names,)*
                }
            }
        }

        /// The table, in the order of [`OperationId::ALL`].
        pub static OPERATIONS: [Operation; #count] = [#(#entries),*];

        /// The vAPI structures of the spec's component schemas, named after them.
        pub mod structures {
            use super::{Field, Shape, Structure, structures};

            #(#structures)*
        }
    };
    let file: syn::File = syn::parse2(tokens).context("the operation table is not valid Rust")?;
    Ok(prettyplease::unparse(&file))
}

fn route(form: &Form) -> TokenStream {
    let method = format_ident!("{}", form.method.to_uppercase());
    let segments = form.segments.iter().map(|s| match s {
        Segment::Literal(text) => quote!(Segment::Literal(#text)),
        Segment::Param(name) => quote!(Segment::Param(#name)),
        Segment::IdParam(name) => quote!(Segment::IdParam(#name)),
    });
    let option = |v: &Option<String>| match v {
        Some(text) => quote!(Some(#text)),
        None => quote!(None),
    };
    let (action, selector) = (option(&form.action), option(&form.selector));
    let query = form.query.iter().map(|q| {
        let (name, input, list, required) = (&q.name, &q.input, q.list, q.required);
        quote!(Query { name: #name, input: #input, list: #list, required: #required })
    });
    let body = match &form.body {
        Body::None => quote!(Body::None),
        Body::Fields => quote!(Body::Fields),
        Body::Input(name) => quote!(Body::Input(#name)),
    };
    let status = proc_macro2::Literal::u16_unsuffixed(form.status);
    quote! {
        Route {
            method: Method::#method,
            segments: &[#(#segments),*],
            action: #action,
            selector: #selector,
            query: &[#(#query),*],
            body: #body,
            status: #status,
        }
    }
}

/// `METHOD /path?query` as the spec keys it, for the docs of each variant.
fn shown(form: &Form) -> String {
    let path: Vec<String> = form
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.clone(),
            Segment::Param(name) => format!("{{{name}}}"),
            Segment::IdParam(name) => format!("id:{{{name}}}"),
        })
        .collect();
    let mut text = format!("{} /{}", form.method.to_uppercase(), path.join("/"));
    if let Some(action) = &form.action {
        text += &format!("?action={action}");
    } else if let Some(selector) = &form.selector {
        text += &format!("?{selector}");
    }
    text
}

fn form(tree: &Value, key: &str, method: &str, shared: &Value, op: &Value) -> Result<Form> {
    let rest = key.starts_with("/rest/");
    let (path, query_text) = key.split_once('?').unwrap_or((key, ""));
    let (mut action, mut selector) = (None, None);
    if let Some(verb) = query_text.strip_prefix(if rest { "~action=" } else { "action=" }) {
        action = Some(verb.to_owned());
    } else if !query_text.is_empty() && !query_text.contains('=') {
        selector = Some(query_text.to_owned());
    } else if !query_text.is_empty() {
        bail!("the path key's query {query_text:?} is neither an action nor a bare name");
    }
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Some(name) = s.strip_prefix("id:{").and_then(|s| s.strip_suffix('}')) {
                Segment::IdParam(name.to_snake_case())
            } else if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Segment::Param(name.to_snake_case())
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect();

    let mut query = Vec::new();
    for p in shared.as_array().into_iter().flatten().chain(op["parameters"].as_array().into_iter().flatten()) {
        let p = resolve(tree, p);
        if p["in"] != "query" {
            continue;
        }
        let name = p["name"].as_str().context("a parameter without a name")?.to_owned();
        let input = p.get("x-vapi-name").and_then(Value::as_str).unwrap_or(&name).to_owned();
        let list = resolve(tree, &p["schema"])["type"] == "array";
        query.push(Query { name, input, list, required: p["required"].as_bool().unwrap_or(false) });
    }

    let body = match (op.get("requestBody"), op.get("x-vapi-body").and_then(Value::as_str)) {
        (None, None) => Body::None,
        (None, Some(_)) => bail!("x-vapi-body without a request body"),
        (Some(_), Some(_)) if rest => bail!("x-vapi-body on a /rest operation: /rest bodies are always the inputs"),
        (Some(_), Some(name)) => Body::Input(name.to_owned()),
        (Some(_), None) => Body::Fields,
    };

    let responses = op["responses"].as_object().context("no responses")?;
    let status = responses
        .keys()
        .find(|code| code.starts_with('2'))
        .and_then(|code| code.parse().ok())
        .context("no success response")?;
    let basic_auth = op["security"].as_array().is_some_and(|list| list.iter().any(|s| s.get("basic_auth").is_some()));
    Ok(Form { method: method.to_owned(), segments, action, selector, query, body, status, basic_auth })
}

/// The shape of an operation's success body: `Shape::Void` when it has none.
fn output(tree: &Value, op: &Value) -> Result<TokenStream> {
    let responses = op["responses"].as_object().context("no responses")?;
    let (_, response) = responses.iter().find(|(code, _)| code.starts_with('2')).context("no success response")?;
    match resolve(tree, response)["content"]["application/json"].get("schema") {
        Some(schema) => crate::shapes::shape(tree, schema),
        None => Ok(quote!(Shape::Void)),
    }
}

fn vapi(op: &Value) -> Result<Option<Vapi>> {
    let operation = op.get("x-vapi-operation");
    let repeat = op.get("x-repeat").and_then(Value::as_str);
    match (operation, repeat) {
        (None, None) => Ok(None),
        (Some(operation), Some(repeat)) => {
            if !["safe", "unsafe", "unless-versioned"].contains(&repeat) {
                bail!("x-repeat is {repeat:?}: safe, unsafe or unless-versioned");
            }
            let text = |key: &str| {
                operation[key].as_str().map(str::to_owned).with_context(|| format!("x-vapi-operation needs a `{key}`"))
            };
            Ok(Some(Vapi { service: text("service")?, name: text("name")?, repeat: repeat.to_owned() }))
        }
        _ => bail!("x-vapi-operation and x-repeat go together"),
    }
}

fn resolve<'a>(tree: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => tree.pointer(pointer).unwrap_or(&Value::Null),
        None => v,
    }
}
