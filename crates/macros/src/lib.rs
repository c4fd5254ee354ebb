//! `#[derive(Type)]`: gives a Rust type its Convex validator (`ferrovex::Type`), reading the
//! serde attributes that change the wire shape (`rename`, `rename_all`, `default`, `skip`,
//! `tag`, `content`, `untagged`, `transparent`). Fields skipped in one direction only
//! (`skip_serializing`, `skip_serializing_if`, `skip_deserializing`) are optional, because one
//! validator describes both what functions read and what they write. Attributes that would
//! make the validator lie (`flatten`, `with`, `from`, `into`, ...) are compile errors, so a
//! derived validator always describes what serde reads and writes.
//!
//! `#[ferrovex(table = "messages")]` also implements `ferrovex::Table`, so `Id<Message>` is
//! `v.id("messages")` and `Doc<Message>` is a stored message. `#[ferrovex(crate = "path")]`
//! names the crate that holds `Type` when it is not `ferrovex`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Error, Fields, LitStr, Result, parse_macro_input};

/// Derives `ferrovex::Type` (see the crate documentation).
#[proc_macro_derive(Type, attributes(ferrovex))]
pub fn derive_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// serde's `rename_all` rules.
#[derive(Clone, Copy)]
enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    fn parse(lit: &LitStr) -> Result<RenameRule> {
        Ok(match lit.value().as_str() {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            other => {
                return Err(Error::new(
                    lit.span(),
                    format!("unknown rename_all rule {other:?}"),
                ));
            }
        })
    }

    /// Renames a field written in snake_case, as serde does.
    fn field(self, name: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => name.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => name.to_ascii_uppercase(),
            RenameRule::Pascal => {
                let mut out = String::new();
                let mut upper = true;
                for c in name.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.field(name);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Kebab => name.replace('_', "-"),
            RenameRule::ScreamingKebab => name.replace('_', "-").to_ascii_uppercase(),
        }
    }

    /// Renames a variant written in PascalCase, as serde does.
    fn variant(self, name: &str) -> String {
        match self {
            RenameRule::Pascal => name.to_owned(),
            RenameRule::Lower => name.to_ascii_lowercase(),
            RenameRule::Upper => name.to_ascii_uppercase(),
            RenameRule::Camel => {
                let mut chars = name.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Snake
            | RenameRule::ScreamingSnake
            | RenameRule::Kebab
            | RenameRule::ScreamingKebab => {
                let mut snake = String::new();
                for (i, c) in name.char_indices() {
                    if i > 0 && c.is_uppercase() {
                        snake.push('_');
                    }
                    snake.push(c.to_ascii_lowercase());
                }
                match self {
                    RenameRule::Snake => snake,
                    RenameRule::ScreamingSnake => snake.to_ascii_uppercase(),
                    RenameRule::Kebab => snake.replace('_', "-"),
                    _ => snake.replace('_', "-").to_ascii_uppercase(),
                }
            }
        }
    }
}

/// The serde and ferrovex attributes of one item, field or variant that matter here.
#[derive(Default)]
struct Attrs {
    rename: Option<String>,
    rename_all: Option<RenameRule>,
    default: bool,
    skip: bool,
    /// Skipped in one direction only (`skip_serializing[_if]`, `skip_deserializing`): the
    /// field may be missing on one side, so it is optional in the one validator for both.
    one_way: bool,
    tag: Option<String>,
    content: Option<String>,
    untagged: bool,
    transparent: bool,
    table: Option<String>,
    krate: Option<syn::Path>,
}

/// serde attributes that keep the wire shape (or only affect one direction we check anyway).
const HARMLESS: &[&str] = &[
    "deny_unknown_fields",
    "bound",
    "alias",
    "borrow",
    "expecting",
    "variant_identifier",
    "field_identifier",
];

fn parse_attrs(attrs: &[Attribute]) -> Result<Attrs> {
    let mut out = Attrs::default();
    for attr in attrs {
        if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                let name = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match name.as_str() {
                    "rename" => {
                        if meta.input.peek(syn::Token![=]) {
                            out.rename = Some(meta.value()?.parse::<LitStr>()?.value());
                        } else {
                            return Err(meta.error(
                                "#[derive(Type)] needs one name for both directions: use rename = \"...\"",
                            ));
                        }
                    }
                    "rename_all" => {
                        if meta.input.peek(syn::Token![=]) {
                            out.rename_all = Some(RenameRule::parse(&meta.value()?.parse()?)?);
                        } else {
                            return Err(meta.error(
                                "#[derive(Type)] needs one rule for both directions: use rename_all = \"...\"",
                            ));
                        }
                    }
                    "default" => {
                        out.default = true;
                        if meta.input.peek(syn::Token![=]) {
                            let _: LitStr = meta.value()?.parse()?;
                        }
                    }
                    "skip" => out.skip = true,
                    "skip_deserializing" | "skip_serializing" => out.one_way = true,
                    "skip_serializing_if" => {
                        out.one_way = true;
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                    "tag" => out.tag = Some(meta.value()?.parse::<LitStr>()?.value()),
                    "content" => out.content = Some(meta.value()?.parse::<LitStr>()?.value()),
                    "untagged" => out.untagged = true,
                    "transparent" => out.transparent = true,
                    "crate" => {
                        let _: LitStr = meta.value()?.parse()?;
                    }
                    harmless if HARMLESS.contains(&harmless) => {
                        if meta.input.peek(syn::Token![=]) {
                            let _: syn::Expr = meta.value()?.parse()?;
                        } else if meta.input.peek(syn::token::Paren) {
                            let _ = meta.input.parse::<proc_macro2::Group>()?;
                        }
                    }
                    other => {
                        return Err(meta.error(format!(
                            "#[derive(Type)] cannot describe serde's `{other}` attribute as a validator; write `impl Type` by hand"
                        )));
                    }
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("ferrovex") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("table") {
                    out.table = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("crate") {
                    out.krate = Some(meta.value()?.parse::<LitStr>()?.parse()?);
                } else {
                    return Err(meta.error("expected `table = \"...\"` or `crate = \"...\"`"));
                }
                Ok(())
            })?;
        }
    }
    Ok(out)
}

struct Ctx {
    krate: syn::Path,
}

impl Ctx {
    fn validator(&self) -> Tokens {
        let k = &self.krate;
        quote!(#k::__private::Validator)
    }

    fn literal(&self, s: &str) -> Tokens {
        let validator = self.validator();
        let k = &self.krate;
        quote!(#validator::Literal(#k::__private::Value::from(#s)))
    }

    /// An object validator built from `(name, validator)` token pairs.
    fn object(&self, fields: Vec<(String, Tokens)>) -> Tokens {
        let validator = self.validator();
        let inserts = fields
            .into_iter()
            .map(|(name, v)| quote!(fields.insert(::std::string::String::from(#name), #v);));
        quote!({
            #[allow(unused_mut)]
            let mut fields = ::std::collections::BTreeMap::new();
            #(#inserts)*
            #validator::Object(fields)
        })
    }

    /// The named fields of a struct or struct variant, renamed and marked optional.
    fn named_fields(
        &self,
        fields: &syn::FieldsNamed,
        rule: Option<RenameRule>,
        container_default: bool,
    ) -> Result<Vec<(String, Tokens)>> {
        let k = &self.krate;
        let mut out = Vec::new();
        for field in &fields.named {
            let attrs = parse_attrs(&field.attrs)?;
            if attrs.skip {
                continue;
            }
            let ident = field
                .ident
                .as_ref()
                .ok_or_else(|| Error::new(field.span(), "expected a named field"))?;
            let raw = ident.to_string();
            let raw = raw.strip_prefix("r#").unwrap_or(&raw).to_owned();
            let name = match (attrs.rename, rule) {
                (Some(rename), _) => rename,
                (None, Some(rule)) => rule.field(&raw),
                (None, None) => raw,
            };
            let ty = &field.ty;
            let has_default = attrs.default || container_default || attrs.one_way;
            out.push((name, quote!(#k::field_validator::<#ty>(#has_default))));
        }
        Ok(out)
    }
}

fn expand(input: &DeriveInput) -> Result<Tokens> {
    let attrs = parse_attrs(&input.attrs)?;
    let ctx = Ctx {
        krate: attrs
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::ferrovex)),
    };
    let body = match &input.data {
        Data::Struct(data) => {
            struct_validator(&ctx, &attrs, &input.ident.to_string(), &data.fields)?
        }
        Data::Enum(data) => enum_validator(&ctx, &attrs, data)?,
        Data::Union(_) => {
            return Err(Error::new(
                Span::call_site(),
                "#[derive(Type)] does not support unions",
            ));
        }
    };
    let k = &ctx.krate;
    let name = &input.ident;
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#k::Type));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let validator = ctx.validator();
    // A newtype or transparent struct around an `Option` may be missing as a field, like it.
    let optional_field = match &input.data {
        Data::Struct(data) => inner_type(&attrs, &data.fields).map(|ty| {
            quote! {
                fn optional_field() -> bool {
                    <#ty as #k::Type>::optional_field()
                }
            }
        }),
        _ => None,
    };
    let table = match &attrs.table {
        Some(table) => quote! {
            impl #impl_generics #k::Table for #name #ty_generics #where_clause {
                const NAME: &'static str = #table;
            }
        },
        None => quote!(),
    };
    Ok(quote! {
        impl #impl_generics #k::Type for #name #ty_generics #where_clause {
            fn validator() -> #validator {
                #body
            }
            #optional_field
        }
        #table
    })
}

/// The field type a transparent or newtype struct stands for, if it is one.
fn inner_type<'a>(attrs: &Attrs, fields: &'a Fields) -> Option<&'a syn::Type> {
    match fields {
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => Some(&unnamed.unnamed[0].ty),
        Fields::Named(named) if attrs.transparent => named
            .named
            .iter()
            .find(|f| !parse_attrs(&f.attrs).map(|a| a.skip).unwrap_or(false))
            .map(|f| &f.ty),
        _ => None,
    }
}

fn struct_validator(ctx: &Ctx, attrs: &Attrs, ident: &str, fields: &Fields) -> Result<Tokens> {
    let k = &ctx.krate;
    let validator = ctx.validator();
    match fields {
        Fields::Named(named) => {
            if attrs.transparent {
                let field = named
                    .named
                    .iter()
                    .find(|f| !parse_attrs(&f.attrs).map(|a| a.skip).unwrap_or(false))
                    .ok_or_else(|| Error::new(named.span(), "transparent needs one field"))?;
                let ty = &field.ty;
                return Ok(quote!(<#ty as #k::Type>::validator()));
            }
            let mut fields = ctx.named_fields(named, attrs.rename_all, attrs.default)?;
            if let Some(tag) = &attrs.tag {
                let name = attrs.rename.clone().unwrap_or_else(|| ident.to_owned());
                fields.push((tag.clone(), ctx.literal(&name)));
            }
            Ok(ctx.object(fields))
        }
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
            let ty = &unnamed.unnamed[0].ty;
            Ok(quote!(<#ty as #k::Type>::validator()))
        }
        Fields::Unnamed(unnamed) => Err(Error::new(
            unnamed.span(),
            "#[derive(Type)]: Convex has no tuple validator; use a struct with named fields",
        )),
        Fields::Unit => Ok(quote!(#validator::Null)),
    }
}

fn enum_validator(ctx: &Ctx, attrs: &Attrs, data: &syn::DataEnum) -> Result<Tokens> {
    let k = &ctx.krate;
    let validator = ctx.validator();
    let mut options = Vec::new();
    for variant in &data.variants {
        let vattrs = parse_attrs(&variant.attrs)?;
        if vattrs.skip {
            continue;
        }
        let name = match (&vattrs.rename, attrs.rename_all) {
            (Some(rename), _) => rename.clone(),
            (None, Some(rule)) => rule.variant(&variant.ident.to_string()),
            (None, None) => variant.ident.to_string(),
        };
        // The variant's own content, without its tag.
        let content: Option<Tokens> = match &variant.fields {
            Fields::Unit => None,
            Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                let ty = &f.unnamed[0].ty;
                Some(quote!(<#ty as #k::Type>::validator()))
            }
            Fields::Unnamed(f) => {
                return Err(Error::new(
                    f.span(),
                    "#[derive(Type)]: Convex has no tuple validator; use a struct variant",
                ));
            }
            Fields::Named(named) => {
                Some(ctx.object(ctx.named_fields(named, vattrs.rename_all, false)?))
            }
        };
        let option = if attrs.untagged || vattrs.untagged {
            content.unwrap_or_else(|| quote!(#validator::Null))
        } else {
            match (&attrs.tag, &attrs.content) {
                (None, _) => match content {
                    None => ctx.literal(&name),
                    Some(c) => ctx.object(vec![(name.clone(), c)]),
                },
                (Some(tag), Some(content_name)) => {
                    let mut fields = vec![(tag.clone(), ctx.literal(&name))];
                    if let Some(c) = content {
                        fields.push((content_name.clone(), c));
                    }
                    ctx.object(fields)
                }
                (Some(tag), None) => match &variant.fields {
                    Fields::Unit => ctx.object(vec![(tag.clone(), ctx.literal(&name))]),
                    Fields::Named(named) => {
                        let mut fields = ctx.named_fields(named, vattrs.rename_all, false)?;
                        fields.push((tag.clone(), ctx.literal(&name)));
                        ctx.object(fields)
                    }
                    Fields::Unnamed(f) => {
                        return Err(Error::new(
                            f.span(),
                            "#[derive(Type)]: an internally tagged newtype variant's shape depends on its content; use a struct variant",
                        ));
                    }
                },
            }
        };
        options.push(option);
    }
    Ok(quote!(#validator::Union(::std::vec![#(#options),*])))
}
