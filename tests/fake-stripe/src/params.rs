//! Request-parameter schemas and strict validation against them.
//!
//! Each endpoint has an allow-list ([`crate::allow_list`]) written with the small const
//! vocabulary below (`obj`, `f`, `req`, `arr`, `map`, `en`, `STR`, ...). Validation of a parsed
//! form ([`crate::form`]) rejects, in Stripe's words and with Stripe's `param` paths:
//! unknown parameters (`parameter_unknown`), values outside an enum, malformed integers,
//! booleans and decimals, empty strings for parameters that cannot be unset
//! (`parameter_invalid_empty`), missing required sub-parameters (`parameter_missing`), strings
//! over 5000 characters, and metadata over Stripe's limits (50 keys, keys <= 40 characters,
//! values <= 500 characters). It returns the parameters typed: integers as numbers, booleans
//! as booleans, `[0]` arrays as arrays.

use serde_json::{Map, Number, Value};

use crate::error::ApiError;

/// What a parameter holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Any string.
    Str,
    /// A decimal number sent as a string (`unit_amount_decimal`).
    Decimal,
    /// An integer.
    Int,
    /// A number.
    Num,
    /// `true` or `false`.
    Bool,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A hash with these fields.
    Obj(&'static [F]),
    /// An array of this.
    Arr(&'static P),
    /// A hash with free keys (metadata) and values of this.
    Map(&'static P),
    /// Any of these (`created`: an integer or a range hash).
    Any(&'static [P]),
}

/// A parameter's schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct P {
    pub kind: Kind,
    /// Whether `""` is accepted (it unsets the parameter).
    pub emptyable: bool,
}

/// A named field of an [`Kind::Obj`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct F {
    pub name: &'static str,
    pub p: P,
    pub required: bool,
}

impl P {
    /// The same, also accepting `""`.
    pub const fn empty(self) -> P {
        P {
            kind: self.kind,
            emptyable: true,
        }
    }
}

const fn kind(kind: Kind) -> P {
    P {
        kind,
        emptyable: false,
    }
}

/// A string.
pub(crate) const STR: P = kind(Kind::Str);
/// A decimal string.
pub(crate) const DECIMAL: P = kind(Kind::Decimal);
/// An integer.
pub(crate) const INT: P = kind(Kind::Int);
/// A number.
pub(crate) const NUM: P = kind(Kind::Num);
/// A boolean.
pub(crate) const BOOL: P = kind(Kind::Bool);

/// One of `values`.
pub(crate) const fn en(values: &'static [&'static str]) -> P {
    kind(Kind::Enum(values))
}
/// A hash of `fields`.
pub(crate) const fn obj(fields: &'static [F]) -> P {
    kind(Kind::Obj(fields))
}
/// An array of `item`.
pub(crate) const fn arr(item: &'static P) -> P {
    kind(Kind::Arr(item))
}
/// A free-keyed hash of `value`.
pub(crate) const fn map(value: &'static P) -> P {
    kind(Kind::Map(value))
}
/// Any of `options`.
pub(crate) const fn any(options: &'static [P]) -> P {
    kind(Kind::Any(options))
}
/// An optional field.
pub(crate) const fn f(name: &'static str, p: P) -> F {
    F {
        name,
        p,
        required: false,
    }
}
/// A required field.
pub(crate) const fn req(name: &'static str, p: P) -> F {
    F {
        name,
        p,
        required: true,
    }
}

/// Stripe's limit on string parameters.
pub(crate) const MAX_STRING: usize = 5000;
/// Stripe's metadata limits.
pub(crate) const METADATA_MAX_KEYS: usize = 50;
pub(crate) const METADATA_MAX_KEY_LEN: usize = 40;
pub(crate) const METADATA_MAX_VALUE_LEN: usize = 500;

/// Validates parsed form parameters against an endpoint's schema and returns them typed.
///
/// Unknown parameters are reported first (anywhere in the tree), then the first other error in
/// parameter order.
///
/// # Errors
/// The Stripe error for the first problem found.
pub(crate) fn validate(schema: &P, params: &Value) -> Result<Value, ApiError> {
    if let Some(path) = find_unknown(schema, params, "") {
        return Err(ApiError::unknown_param(&path));
    }
    convert(schema, params, "")
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}[{name}]")
    }
}

/// The entries of a hash, or of an array seen as a hash keyed by index (`a[0]` sent to a
/// parameter that is a hash).
fn entries(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// Picks the alternative of an `Any` that fits the value's shape.
fn pick<'a>(options: &'a [P], value: &Value) -> Option<&'a P> {
    options.iter().find(|p| match (&p.kind, value) {
        (Kind::Obj(_) | Kind::Map(_), Value::Object(_)) => true,
        (Kind::Arr(_), Value::Array(_)) => true,
        (Kind::Obj(_) | Kind::Map(_) | Kind::Arr(_) | Kind::Any(_), _) => false,
        (_, Value::String(_)) => true,
        _ => false,
    })
}

fn find_unknown(schema: &P, value: &Value, path: &str) -> Option<String> {
    match &schema.kind {
        Kind::Obj(fields) => {
            if !matches!(value, Value::Object(_) | Value::Array(_)) {
                return None;
            }
            for (key, child) in entries(value) {
                let child_path = child_path(path, &key);
                match fields.iter().find(|f| f.name == key) {
                    None => return Some(child_path),
                    Some(field) => {
                        if let Some(found) = find_unknown(&field.p, child, &child_path) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        Kind::Arr(item) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| find_unknown(item, v, &child_path(path, &i.to_string()))),
            _ => None,
        },
        Kind::Map(item) => entries(value)
            .into_iter()
            .find_map(|(k, v)| find_unknown(item, v, &child_path(path, &k))),
        Kind::Any(options) => pick(options, value).and_then(|p| find_unknown(p, value, path)),
        _ => None,
    }
}

fn invalid(code: Option<&'static str>, path: &str, message: String) -> ApiError {
    ApiError::param(code, path, message)
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn one_of(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_string(),
        [first, second] => format!("{first} or {second}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

fn convert(schema: &P, value: &Value, path: &str) -> Result<Value, ApiError> {
    // `""` unsets an emptyable parameter, whatever its kind.
    if let Value::String(s) = value
        && s.is_empty()
    {
        return if schema.emptyable {
            Ok(Value::String(String::new()))
        } else {
            Err(ApiError::empty_param(path))
        };
    }
    match &schema.kind {
        Kind::Str => match value {
            Value::String(s) if s.chars().count() > MAX_STRING => Err(invalid(
                None,
                path,
                format!(
                    "Invalid string: {}...; must be at most {MAX_STRING} characters",
                    s.chars().take(20).collect::<String>()
                ),
            )),
            Value::String(s) => Ok(Value::String(s.clone())),
            other => Err(invalid(
                Some("parameter_invalid_string"),
                path,
                format!("Invalid string: {}", describe(other)),
            )),
        },
        Kind::Decimal => match value {
            Value::String(s) if s.parse::<f64>().is_ok_and(f64::is_finite) => {
                Ok(Value::String(s.clone()))
            }
            other => Err(invalid(
                None,
                path,
                format!("Invalid decimal: {}", describe(other)),
            )),
        },
        Kind::Int => match value {
            Value::String(s) => s
                .parse::<i64>()
                .map(|i| Value::Number(i.into()))
                .map_err(|_| {
                    invalid(
                        Some("parameter_invalid_integer"),
                        path,
                        format!("Invalid integer: {s}"),
                    )
                }),
            other => Err(invalid(
                Some("parameter_invalid_integer"),
                path,
                format!("Invalid integer: {}", describe(other)),
            )),
        },
        Kind::Num => match value {
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid(None, path, format!("Invalid decimal: {s}"))),
            other => Err(invalid(
                None,
                path,
                format!("Invalid decimal: {}", describe(other)),
            )),
        },
        Kind::Bool => match value {
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(invalid(
                None,
                path,
                format!("Invalid boolean: {}", describe(other)),
            )),
        },
        Kind::Enum(values) => match value {
            Value::String(s) if values.contains(&s.as_str()) => Ok(Value::String(s.clone())),
            _ => Err(invalid(
                Some("parameter_invalid_string"),
                path,
                format!("Invalid {path}: must be one of {}", one_of(values)),
            )),
        },
        Kind::Obj(fields) => {
            if !matches!(value, Value::Object(_) | Value::Array(_)) {
                return Err(invalid(None, path, "Invalid object".to_string()));
            }
            let mut out = Map::new();
            for (key, child) in entries(value) {
                let child_path = child_path(path, &key);
                let Some(field) = fields.iter().find(|f| f.name == key) else {
                    return Err(ApiError::unknown_param(&child_path));
                };
                out.insert(key, convert(&field.p, child, &child_path)?);
            }
            for field in fields.iter().filter(|f| f.required) {
                if !out.contains_key(field.name) {
                    return Err(ApiError::missing_param(&child_path(path, field.name)));
                }
            }
            Ok(Value::Object(out))
        }
        Kind::Arr(item) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| convert(item, v, &child_path(path, &i.to_string())))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(invalid(None, path, "Invalid array".to_string())),
        },
        Kind::Map(item) => {
            if !matches!(value, Value::Object(_) | Value::Array(_)) {
                return Err(invalid(None, path, "Invalid object".to_string()));
            }
            let is_metadata = path == "metadata" || path.ends_with("[metadata]");
            let all = entries(value);
            if is_metadata && all.len() > METADATA_MAX_KEYS {
                return Err(invalid(
                    None,
                    path,
                    format!("You can specify up to {METADATA_MAX_KEYS} keys for metadata."),
                ));
            }
            let mut out = Map::new();
            for (key, child) in all {
                let child_path = child_path(path, &key);
                if is_metadata {
                    if key.chars().count() > METADATA_MAX_KEY_LEN {
                        return Err(invalid(
                            None,
                            &child_path,
                            format!(
                                "Metadata keys can have a maximum length of {METADATA_MAX_KEY_LEN} characters."
                            ),
                        ));
                    }
                    if let Value::String(s) = child {
                        if s.is_empty() {
                            // `metadata[k]=` unsets the key.
                            out.insert(key, Value::String(String::new()));
                            continue;
                        }
                        if s.chars().count() > METADATA_MAX_VALUE_LEN {
                            return Err(invalid(
                                None,
                                &child_path,
                                format!(
                                    "Metadata values can have a maximum length of {METADATA_MAX_VALUE_LEN} characters."
                                ),
                            ));
                        }
                    }
                }
                out.insert(key, convert(item, child, &child_path)?);
            }
            Ok(Value::Object(out))
        }
        Kind::Any(options) => match pick(options, value) {
            Some(p) => convert(p, value, path),
            None => Err(invalid(None, path, format!("Invalid {path}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow_list;
    use crate::form::parse;
    use serde_json::json;

    fn check(schema: &P, form: &str) -> Result<Value, ApiError> {
        validate(schema, &parse(form).unwrap())
    }

    #[test]
    fn unknown_parameters_name_the_bracket_path() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let err = check(s, "mode=setup&custom_text[foo][message]=x").unwrap_err();
        assert_eq!(err.code, Some("parameter_unknown"));
        assert_eq!(err.param.as_deref(), Some("custom_text[foo]"));
        assert_eq!(err.message, "Received unknown parameter: custom_text[foo]");

        let err = check(s, "mode=setup&nope=1").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("nope"));

        let err = check(
            s,
            "setup_intent_data[metadata][k]=v&setup_intent_data[usage]=x",
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("setup_intent_data[usage]"));

        let err = check(
            s,
            "consent_collection[payment_method_reuse_agreement][where]=auto",
        )
        .unwrap_err();
        assert_eq!(
            err.param.as_deref(),
            Some("consent_collection[payment_method_reuse_agreement][where]")
        );
    }

    #[test]
    fn unknown_is_reported_before_other_errors() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let err = check(s, "ui_mode=hosted&zzz=1").unwrap_err();
        assert_eq!(err.code, Some("parameter_unknown"));
    }

    #[test]
    fn enums_are_strict() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let err = check(s, "ui_mode=hosted").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.param.as_deref(), Some("ui_mode"));
        assert_eq!(err.code, Some("parameter_invalid_string"));
        assert_eq!(
            err.message,
            "Invalid ui_mode: must be one of elements, embedded_page, form, or hosted_page"
        );
        for ok in ["hosted_page", "embedded_page", "elements"] {
            check(s, &format!("ui_mode={ok}")).unwrap();
        }
        let err = check(
            s,
            "payment_method_types[0]=card&payment_method_types[1]=kard",
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("payment_method_types[1]"));
        let err = check(s, "customer_update[name]=sometimes").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("customer_update[name]"));
        let err = check(s, "locale=xx").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("locale"));
    }

    #[test]
    fn types_are_converted_and_checked() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let v = check(s, "expires_at=1700000000&tax_id_collection[enabled]=true").unwrap();
        assert_eq!(v["expires_at"], json!(1_700_000_000));
        assert_eq!(v["tax_id_collection"]["enabled"], json!(true));
        let err = check(s, "expires_at=soon").unwrap_err();
        assert_eq!(err.code, Some("parameter_invalid_integer"));
        assert_eq!(err.param.as_deref(), Some("expires_at"));
        let err = check(s, "tax_id_collection[enabled]=yes").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("tax_id_collection[enabled]"));
        let err = check(s, "payment_method_types=card").unwrap_err();
        assert_eq!(err.message, "Invalid array");
        let err = check(s, "customer[id]=cus_1").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("customer"));
    }

    #[test]
    fn required_sub_parameters() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let err = check(s, "tax_id_collection[required]=never").unwrap_err();
        assert_eq!(err.code, Some("parameter_missing"));
        assert_eq!(err.param.as_deref(), Some("tax_id_collection[enabled]"));
        let err = check(s, "consent_collection[payment_method_reuse_agreement][x]=1").unwrap_err();
        assert_eq!(err.code, Some("parameter_unknown"));
        let err = check(&allow_list::WEBHOOK_ENDPOINT_CREATE, "url=https://x.test/").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("enabled_events"));
    }

    #[test]
    fn empty_strings() {
        let s = &allow_list::CUSTOMER_CREATE;
        let err = check(s, "name=").unwrap_err();
        assert_eq!(err.code, Some("parameter_invalid_empty"));
        assert_eq!(err.param.as_deref(), Some("name"));
        // `address` and `metadata` can be unset.
        let v = check(s, "address=&metadata=").unwrap();
        assert_eq!(v, json!({"address": "", "metadata": ""}));
    }

    #[test]
    fn metadata_limits() {
        let s = &allow_list::CHECKOUT_SESSION_CREATE;
        let long_key = "k".repeat(41);
        let err = check(s, &format!("metadata[{long_key}]=v")).unwrap_err();
        assert_eq!(err.param, Some(format!("metadata[{long_key}]")));
        let long_value = "v".repeat(501);
        let err = check(s, &format!("setup_intent_data[metadata][k]={long_value}")).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("setup_intent_data[metadata][k]"));
        let many: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]=v")).collect();
        let err = check(s, &many.join("&")).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata"));
        let fifty: Vec<String> = (0..50).map(|i| format!("metadata[k{i}]=v")).collect();
        check(s, &fifty.join("&")).unwrap();
        check(
            s,
            &format!("metadata[{}]={}", "k".repeat(40), "v".repeat(500)),
        )
        .unwrap();
    }

    #[test]
    fn long_strings_are_rejected() {
        let err = check(
            &allow_list::CUSTOMER_CREATE,
            &format!("description={}", "d".repeat(5001)),
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("description"));
    }

    #[test]
    fn any_of_integer_or_range() {
        let s = &allow_list::CUSTOMER_LIST;
        assert_eq!(check(s, "created=5").unwrap()["created"], json!(5));
        assert_eq!(
            check(s, "created[gt]=5").unwrap()["created"],
            json!({"gt": 5})
        );
        let err = check(s, "created[gq]=5").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("created[gq]"));
    }

    #[test]
    fn the_full_checkout_option_set_of_patron_is_accepted() {
        let form = "mode=setup&customer=cus_1&currency=usd&success_url=https://x.test/ok&\
            cancel_url=https://x.test/no&ui_mode=hosted_page&client_reference_id=ref&locale=fr&\
            expires_at=1700000000&metadata[a]=b&payment_method_types[0]=card&\
            billing_address_collection=required&tax_id_collection[enabled]=true&\
            tax_id_collection[required]=if_supported&customer_update[address]=auto&\
            customer_update[name]=never&customer_update[shipping]=auto&\
            consent_collection[payment_method_reuse_agreement][position]=hidden&\
            consent_collection[promotions]=auto&consent_collection[terms_of_service]=required&\
            custom_text[after_submit][message]=a&custom_text[shipping_address][message]=b&\
            custom_text[submit][message]=c&custom_text[terms_of_service_acceptance][message]=d&\
            redirect_on_completion=if_required&setup_intent_data[description]=d&\
            setup_intent_data[metadata][k]=v&setup_intent_data[on_behalf_of]=acct_1&\
            expand[0]=setup_intent";
        check(&allow_list::CHECKOUT_SESSION_CREATE, form).unwrap();
    }
}
