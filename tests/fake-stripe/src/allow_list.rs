//! The allow-lists: which request parameters each endpoint accepts, nested, with enum values.
//!
//! Transcribed from Stripe's API definition for version `2026-06-24.dahlia` (OpenAPI release
//! v2324, as generated into stripe-python 15.2.1's parameter types), which the fake also applies
//! to `2026-09-30.endive`, the version async-stripe 1.0.0-rc.10 sends. Note that in dahlia
//! Checkout's `ui_mode` is `hosted_page` / `embedded_page` / `elements` / `form`, not the older
//! `hosted` / `embedded` / `custom`.
//!
//! One difference is modelled: in endive, `POST /v1/checkout/sessions` takes
//! `allowed_payment_method_types` (a filter on the dynamic payment methods) instead of dahlia's
//! `payment_method_types` (as async-stripe 1.0.0-rc.10's endive request types show). The
//! schema below has both, and [`CHECKOUT_SESSION_CREATE_DAHLIA_ONLY`] /
//! [`CHECKOUT_SESSION_CREATE_ENDIVE_ONLY`] say which one a version rejects as unknown. Nested
//! endive changes under `line_items` and `payment_method_options` (parameters patron does not
//! send) are not modelled: those follow dahlia.
//!
//! Notation ([`crate::params`]): `f` an optional field, `req` a required one, `obj` a hash,
//! `arr` an array, `map` a free-keyed hash (metadata), `en` an enum, `any` alternatives, and
//! `.empty()` a parameter that `""` may unset. Rules across parameters (Checkout's `mode`,
//! `ui_mode` and URLs, `expires_at` range, ...) are in [`crate::api`], not here.

use crate::params::{BOOL, DECIMAL, INT, NUM, P, STR, any, arr, en, f, map, obj, req};

/// A postal address, as sent for customers.
#[rustfmt::skip]
const ADDRESS: P = obj(&[
    f("city", STR),
    f("country", STR),
    f("line1", STR),
    f("line2", STR),
    f("postal_code", STR),
    f("state", STR),
]);

/// `GET /v1/account`
#[rustfmt::skip]
pub(crate) const ACCOUNT_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `GET /v1/customers`
#[rustfmt::skip]
pub(crate) const CUSTOMER_LIST: P = obj(&[
    f("created", any(&[obj(&[f("gt", INT), f("gte", INT), f("lt", INT), f("lte", INT)]), INT])),
    f("email", STR),
    f("ending_before", STR),
    f("expand", arr(&STR)),
    f("limit", INT),
    f("starting_after", STR),
    f("test_clock", STR),
]);

/// `POST /v1/customers`
#[rustfmt::skip]
pub(crate) const CUSTOMER_CREATE: P = obj(&[
    f("address", ADDRESS.empty()),
    f("balance", INT),
    f("business_name", STR.empty()),
    f("cash_balance", obj(&[
        f("settings", obj(&[
            f("reconciliation_mode", en(&["automatic", "manual", "merchant_default"])),
        ])),
    ])),
    f("description", STR),
    f("email", STR),
    f("expand", arr(&STR)),
    f("individual_name", STR.empty()),
    f("invoice_prefix", STR),
    f("invoice_settings", obj(&[
        f("custom_fields", arr(&obj(&[req("name", STR), req("value", STR)])).empty()),
        f("default_payment_method", STR),
        f("footer", STR),
        f("rendering_options", obj(&[
            f("amount_tax_display", en(&["exclude_tax", "include_inclusive_tax"]).empty()),
            f("template", STR),
        ]).empty()),
    ])),
    f("metadata", map(&STR).empty()),
    f("name", STR),
    f("next_invoice_sequence", INT),
    f("payment_method", STR),
    f("phone", STR),
    f("preferred_locales", arr(&STR)),
    f("shipping", obj(&[
        req("address", ADDRESS),
        req("name", STR),
        f("phone", STR),
    ]).empty()),
    f("source", STR),
    f("tax", obj(&[
        f("ip_address", STR.empty()),
        f("validate_location", en(&["deferred", "immediately"])),
    ])),
    f("tax_exempt", en(&["exempt", "none", "reverse"]).empty()),
    f("tax_id_data", arr(&obj(&[req("type", en(TAX_ID_TYPES)), req("value", STR)]))),
    f("test_clock", STR),
    f("validate", BOOL),
]);

/// `GET /v1/customers/{customer}`
#[rustfmt::skip]
pub(crate) const CUSTOMER_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `POST /v1/customers/{customer}`
#[rustfmt::skip]
pub(crate) const CUSTOMER_UPDATE: P = obj(&[
    f("address", ADDRESS.empty()),
    f("balance", INT),
    f("business_name", STR.empty()),
    f("cash_balance", obj(&[
        f("settings", obj(&[
            f("reconciliation_mode", en(&["automatic", "manual", "merchant_default"])),
        ])),
    ])),
    f("default_source", STR),
    f("description", STR),
    f("email", STR),
    f("expand", arr(&STR)),
    f("individual_name", STR.empty()),
    f("invoice_prefix", STR),
    f("invoice_settings", obj(&[
        f("custom_fields", arr(&obj(&[req("name", STR), req("value", STR)])).empty()),
        f("default_payment_method", STR),
        f("footer", STR),
        f("rendering_options", obj(&[
            f("amount_tax_display", en(&["exclude_tax", "include_inclusive_tax"]).empty()),
            f("template", STR),
        ]).empty()),
    ])),
    f("metadata", map(&STR).empty()),
    f("name", STR),
    f("next_invoice_sequence", INT),
    f("phone", STR),
    f("preferred_locales", arr(&STR)),
    f("shipping", obj(&[
        req("address", ADDRESS),
        req("name", STR),
        f("phone", STR),
    ]).empty()),
    f("source", STR),
    f("tax", obj(&[
        f("ip_address", STR.empty()),
        f("validate_location", en(&["auto", "deferred", "immediately"])),
    ])),
    f("tax_exempt", en(&["exempt", "none", "reverse"]).empty()),
    f("validate", BOOL),
]);

/// `DELETE /v1/customers/{customer}`
#[rustfmt::skip]
pub(crate) const CUSTOMER_DELETE: P = obj(&[]);

/// `GET /v1/customers/{customer}/payment_methods`
#[rustfmt::skip]
pub(crate) const CUSTOMER_PAYMENT_METHODS_LIST: P = obj(&[
    f("allow_redisplay", en(&["always", "limited", "unspecified"])),
    f("ending_before", STR),
    f("expand", arr(&STR)),
    f("limit", INT),
    f("starting_after", STR),
    f("type", en(CUSTOMER_PAYMENT_METHOD_TYPES)),
]);

/// Top-level parameters of `POST /v1/checkout/sessions` that only dahlia (and earlier) accept.
pub(crate) const CHECKOUT_SESSION_CREATE_DAHLIA_ONLY: &[&str] = &["payment_method_types"];
/// Top-level parameters of `POST /v1/checkout/sessions` that only endive accepts.
pub(crate) const CHECKOUT_SESSION_CREATE_ENDIVE_ONLY: &[&str] = &["allowed_payment_method_types"];

/// `POST /v1/checkout/sessions` (both versions; see the two lists above)
#[rustfmt::skip]
pub(crate) const CHECKOUT_SESSION_CREATE: P = obj(&[
    f("adaptive_pricing", obj(&[f("enabled", BOOL)])),
    f("after_expiration", obj(&[
        f("recovery", obj(&[f("allow_promotion_codes", BOOL), req("enabled", BOOL)])),
    ])),
    f("allow_promotion_codes", BOOL),
    // Endive only (see `CHECKOUT_SESSION_CREATE_ENDIVE_ONLY`).
    f("allowed_payment_method_types", arr(&en(ALLOWED_PAYMENT_METHOD_TYPES))),
    f("automatic_tax", obj(&[
        req("enabled", BOOL),
        f("liability", obj(&[f("account", STR), req("type", en(&["account", "self"]))])),
    ])),
    f("billing_address_collection", en(&["auto", "required"])),
    f("branding_settings", obj(&[
        f("background_color", STR.empty()),
        f("border_style", en(&["pill", "rectangular", "rounded"]).empty()),
        f("button_color", STR.empty()),
        f("display_name", STR),
        f("font_family", en(FONT_FAMILIES).empty()),
        f("icon", obj(&[f("file", STR), req("type", en(&["file", "url"])), f("url", STR)])),
        f("logo", obj(&[f("file", STR), req("type", en(&["file", "url"])), f("url", STR)])),
    ])),
    f("cancel_url", STR),
    f("client_reference_id", STR),
    f("consent_collection", obj(&[
        f("payment_method_reuse_agreement", obj(&[req("position", en(&["auto", "hidden"]))])),
        f("promotions", en(&["auto", "none"])),
        f("terms_of_service", en(&["none", "required"])),
    ])),
    f("currency", STR),
    f("custom_fields", arr(&obj(&[
        f("dropdown", obj(&[
            f("default_value", STR),
            req("options", arr(&obj(&[req("label", STR), req("value", STR)]))),
        ])),
        req("key", STR),
        req("label", obj(&[req("custom", STR), req("type", en(&["custom"]))])),
        f("numeric", obj(&[
            f("default_value", STR),
            f("maximum_length", INT),
            f("minimum_length", INT),
        ])),
        f("optional", BOOL),
        f("text", obj(&[
            f("default_value", STR),
            f("maximum_length", INT),
            f("minimum_length", INT),
        ])),
        req("type", en(&["dropdown", "numeric", "text"])),
    ]))),
    f("custom_text", obj(&[
        f("after_submit", obj(&[req("message", STR)]).empty()),
        f("shipping_address", obj(&[req("message", STR)]).empty()),
        f("submit", obj(&[req("message", STR)]).empty()),
        f("terms_of_service_acceptance", obj(&[req("message", STR)]).empty()),
    ])),
    f("customer", STR),
    f("customer_account", STR),
    f("customer_creation", en(&["always", "if_required"])),
    f("customer_email", STR),
    f("customer_update", obj(&[
        f("address", en(&["auto", "never"])),
        f("name", en(&["auto", "never"])),
        f("shipping", en(&["auto", "never"])),
    ])),
    f("discounts", arr(&obj(&[f("coupon", STR), f("promotion_code", STR)]))),
    f("excluded_payment_method_types", arr(&en(EXCLUDED_PAYMENT_METHOD_TYPES))),
    f("expand", arr(&STR)),
    f("expires_at", INT),
    f("integration_identifier", STR),
    f("invoice_creation", obj(&[
        req("enabled", BOOL),
        f("invoice_data", obj(&[
            f("account_tax_ids", arr(&STR).empty()),
            f("custom_fields", arr(&obj(&[req("name", STR), req("value", STR)])).empty()),
            f("description", STR),
            f("footer", STR),
            f("issuer", obj(&[f("account", STR), req("type", en(&["account", "self"]))])),
            f("metadata", map(&STR)),
            f("rendering_options", obj(&[
                f("amount_tax_display", en(&["exclude_tax", "include_inclusive_tax"]).empty()),
                f("template", STR),
            ]).empty()),
        ])),
    ])),
    f("line_items", arr(&obj(&[
        f("adjustable_quantity", obj(&[
            req("enabled", BOOL),
            f("maximum", INT),
            f("minimum", INT),
        ])),
        f("dynamic_tax_rates", arr(&STR)),
        f("metadata", map(&STR)),
        f("price", STR),
        f("price_data", obj(&[
            req("currency", STR),
            f("product", STR),
            f("product_data", obj(&[
                f("description", STR),
                f("images", arr(&STR)),
                f("metadata", map(&STR)),
                req("name", STR),
                f("tax_code", STR),
                f("unit_label", STR),
            ])),
            f("recurring", obj(&[
                req("interval", en(&["day", "month", "week", "year"])),
                f("interval_count", INT),
            ])),
            f("tax_behavior", en(&["exclusive", "inclusive", "unspecified"])),
            f("unit_amount", INT),
            f("unit_amount_decimal", DECIMAL),
        ])),
        f("quantity", INT),
        f("tax_rates", arr(&STR)),
    ]))),
    f("locale", en(CHECKOUT_LOCALES)),
    f("managed_payments", obj(&[f("enabled", BOOL)])),
    f("metadata", map(&STR)),
    f("mode", en(&["payment", "setup", "subscription"])),
    f("name_collection", obj(&[
        f("business", obj(&[req("enabled", BOOL), f("optional", BOOL)])),
        f("individual", obj(&[req("enabled", BOOL), f("optional", BOOL)])),
    ])),
    f("optional_items", arr(&obj(&[
        f("adjustable_quantity", obj(&[
            req("enabled", BOOL),
            f("maximum", INT),
            f("minimum", INT),
        ])),
        req("price", STR),
        req("quantity", INT),
    ]))),
    f("origin_context", en(&["mobile_app", "web"])),
    f("payment_intent_data", obj(&[
        f("application_fee_amount", INT),
        f("capture_method", en(&["automatic", "automatic_async", "manual"])),
        f("description", STR),
        f("metadata", map(&STR)),
        f("on_behalf_of", STR),
        f("receipt_email", STR),
        f("setup_future_usage", en(&["off_session", "on_session"])),
        f("shipping", obj(&[
            req("address", obj(&[
                f("city", STR),
                f("country", STR),
                req("line1", STR),
                f("line2", STR),
                f("postal_code", STR),
                f("state", STR),
            ])),
            f("carrier", STR),
            req("name", STR),
            f("phone", STR),
            f("tracking_number", STR),
        ])),
        f("statement_descriptor", STR),
        f("statement_descriptor_suffix", STR),
        f("transfer_data", obj(&[f("amount", INT), req("destination", STR)])),
        f("transfer_group", STR),
    ])),
    f("payment_method_collection", en(&["always", "if_required"])),
    f("payment_method_configuration", STR),
    f("payment_method_data", obj(&[
        f("allow_redisplay", en(&["always", "limited", "unspecified"])),
    ])),
    f("payment_method_options", obj(&[
        f("acss_debit", obj(&[
            f("currency", en(&["cad", "usd"])),
            f("mandate_options", obj(&[
                f("custom_mandate_url", STR.empty()),
                f("default_for", arr(&en(&["invoice", "subscription"]))),
                f("interval_description", STR),
                f("payment_schedule", en(&["combined", "interval", "sporadic"])),
                f("transaction_type", en(&["business", "personal"])),
            ])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
            f("target_date", STR),
            f("verification_method", en(&["automatic", "instant", "microdeposits"])),
        ])),
        f("affirm", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none"])),
        ])),
        f("afterpay_clearpay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none"])),
        ])),
        f("alipay", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("alma", obj(&[f("capture_method", en(&["manual"]))])),
        f("amazon_pay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("au_becs_debit", obj(&[f("setup_future_usage", en(&["none"])), f("target_date", STR)])),
        f("bacs_debit", obj(&[
            f("mandate_options", obj(&[f("reference_prefix", STR.empty())])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
            f("target_date", STR),
        ])),
        f("bancontact", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("billie", obj(&[f("capture_method", en(&["manual"]))])),
        f("boleto", obj(&[
            f("expires_after_days", INT),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
        ])),
        f("card", obj(&[
            f("capture_method", en(&["manual"])),
            f("installments", obj(&[f("enabled", BOOL)])),
            f("request_extended_authorization", en(&["if_available", "never"])),
            f("request_incremental_authorization", en(&["if_available", "never"])),
            f("request_multicapture", en(&["if_available", "never"])),
            f("request_overcapture", en(&["if_available", "never"])),
            f("request_three_d_secure", en(&["any", "automatic", "challenge"])),
            f("restrictions", obj(&[
                f("brands_blocked", arr(&en(&[
                    "american_express", "discover_global_network", "mastercard", "visa",
                ]))),
            ])),
            f("setup_future_usage", en(&["off_session", "on_session"])),
            f("statement_descriptor_suffix_kana", STR),
            f("statement_descriptor_suffix_kanji", STR),
        ])),
        f("cashapp", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
        ])),
        f("crypto", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("customer_balance", obj(&[
            f("bank_transfer", obj(&[
                f("eu_bank_transfer", obj(&[req("country", STR)])),
                f("requested_address_types", arr(&en(&[
                    "aba", "iban", "sepa", "sort_code", "spei", "swift", "zengin",
                ]))),
                req("type", en(&[
                    "eu_bank_transfer", "gb_bank_transfer", "jp_bank_transfer", "mx_bank_transfer",
                    "us_bank_transfer",
                ])),
            ])),
            f("funding_type", en(&["bank_transfer"])),
            f("setup_future_usage", en(&["none"])),
        ])),
        f("demo_pay", obj(&[f("setup_future_usage", en(&["none", "off_session"]))])),
        f("eps", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("fpx", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("giropay", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("grabpay", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("ideal", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("kakao_pay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("klarna", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none"])),
            f("subscriptions", arr(&obj(&[
                req("interval", en(&["day", "month", "week", "year"])),
                f("interval_count", INT),
                f("name", STR),
                req("next_billing", obj(&[req("amount", INT), req("date", STR)])),
                req("reference", STR),
            ])).empty()),
        ])),
        f("konbini", obj(&[f("expires_after_days", INT), f("setup_future_usage", en(&["none"]))])),
        f("kr_card", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("link", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("mobilepay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none"])),
        ])),
        f("multibanco", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("naver_pay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("oxxo", obj(&[f("expires_after_days", INT), f("setup_future_usage", en(&["none"]))])),
        f("p24", obj(&[
            f("setup_future_usage", en(&["none"])),
            f("tos_shown_and_accepted", BOOL),
        ])),
        f("pay_by_bank", obj(&[])),
        f("payco", obj(&[f("capture_method", en(&["manual"]))])),
        f("paynow", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("paypal", obj(&[
            f("capture_method", en(&["manual"]).empty()),
            f("preferred_locale", en(PAYPAL_PREFERRED_LOCALES)),
            f("reference", STR),
            f("risk_correlation_id", STR),
            f("setup_future_usage", en(&["none", "off_session"]).empty()),
        ])),
        f("payto", obj(&[
            f("mandate_options", obj(&[
                f("amount", INT.empty()),
                f("amount_type", en(&["fixed", "maximum"]).empty()),
                f("end_date", STR.empty()),
                f("payment_schedule", en(&[
                    "adhoc", "annual", "daily", "fortnightly", "monthly", "quarterly",
                    "semi_annual", "weekly",
                ]).empty()),
                f("payments_per_period", INT.empty()),
                f("purpose", en(PAYTO_PURPOSES).empty()),
                f("start_date", STR.empty()),
            ])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("pix", obj(&[
            f("amount_includes_iof", en(&["always", "never"])),
            f("expires_after_seconds", INT),
            f("mandate_options", obj(&[
                f("amount", INT),
                f("amount_includes_iof", en(&["always", "never"])),
                f("amount_type", en(&["fixed", "maximum"])),
                f("currency", STR),
                f("end_date", STR),
                f("payment_schedule", en(&[
                    "halfyearly", "monthly", "quarterly", "weekly", "yearly",
                ])),
                f("reference", STR),
                f("start_date", STR),
            ])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("revolut_pay", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none", "off_session"])),
        ])),
        f("samsung_pay", obj(&[f("capture_method", en(&["manual"]))])),
        f("satispay", obj(&[f("capture_method", en(&["manual"]))])),
        f("scalapay", obj(&[f("capture_method", en(&["manual"]))])),
        f("sepa_debit", obj(&[
            f("mandate_options", obj(&[f("reference_prefix", STR.empty())])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
            f("target_date", STR),
        ])),
        f("sofort", obj(&[f("setup_future_usage", en(&["none"]))])),
        f("sunbit", obj(&[
            f("capture_method", en(&["manual"])),
            f("setup_future_usage", en(&["none"])),
        ])),
        f("swish", obj(&[f("reference", STR)])),
        f("twint", obj(&[f("setup_future_usage", en(&["none", "off_session"]))])),
        f("upi", obj(&[
            f("mandate_options", obj(&[
                f("amount", INT),
                f("amount_type", en(&["fixed", "maximum"])),
                f("description", STR),
                f("end_date", INT),
            ])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"]).empty()),
        ])),
        f("us_bank_account", obj(&[
            f("financial_connections", obj(&[
                f("permissions", arr(&en(&[
                    "balances", "ownership", "payment_method", "transactions",
                ]))),
                f("prefetch", arr(&en(&["balances", "ownership", "transactions"]))),
            ])),
            f("setup_future_usage", en(&["none", "off_session", "on_session"])),
            f("target_date", STR),
            f("verification_method", en(&["automatic", "instant"])),
        ])),
        f("wechat_pay", obj(&[
            f("app_id", STR),
            req("client", en(&["android", "ios", "web"])),
            f("setup_future_usage", en(&["none"])),
        ])),
    ])),
    f("payment_method_types", arr(&en(PAYMENT_METHOD_TYPES))),
    f("permissions", obj(&[f("update_shipping_details", en(&["client_only", "server_only"]))])),
    f("phone_number_collection", obj(&[req("enabled", BOOL)])),
    f("redirect_on_completion", en(&["always", "if_required", "never"])),
    f("return_url", STR),
    f("saved_payment_method_options", obj(&[
        f("allow_redisplay_filters", arr(&en(&["always", "limited", "unspecified"]))),
        f("payment_method_remove", en(&["disabled", "enabled"])),
        f("payment_method_save", en(&["disabled", "enabled"])),
    ])),
    f("setup_intent_data", obj(&[
        f("description", STR),
        f("metadata", map(&STR)),
        f("on_behalf_of", STR),
    ])),
    f("shipping_address_collection", obj(&[
        req("allowed_countries", arr(&en(SHIPPING_COUNTRIES))),
    ])),
    f("shipping_options", arr(&obj(&[
        f("shipping_rate", STR),
        f("shipping_rate_data", obj(&[
            f("delivery_estimate", obj(&[
                f("maximum", obj(&[
                    req("unit", en(&["business_day", "day", "hour", "month", "week"])),
                    req("value", INT),
                ])),
                f("minimum", obj(&[
                    req("unit", en(&["business_day", "day", "hour", "month", "week"])),
                    req("value", INT),
                ])),
            ])),
            req("display_name", STR),
            f("fixed_amount", obj(&[
                req("amount", INT),
                req("currency", STR),
                f("currency_options", map(&obj(&[
                    req("amount", INT),
                    f("tax_behavior", en(&["exclusive", "inclusive", "unspecified"])),
                ]))),
            ])),
            f("metadata", map(&STR)),
            f("tax_behavior", en(&["exclusive", "inclusive", "unspecified"])),
            f("tax_code", STR),
            f("type", en(&["fixed_amount"])),
        ])),
    ]))),
    f("submit_type", en(&["auto", "book", "donate", "pay", "subscribe"])),
    f("subscription_data", obj(&[
        f("application_fee_percent", NUM),
        f("billing_cycle_anchor", INT),
        f("billing_cycle_anchor_config", obj(&[
            req("day_of_month", INT),
            f("hour", INT),
            f("minute", INT),
            f("month", INT),
            f("second", INT),
        ])),
        f("billing_mode", obj(&[
            f("flexible", obj(&[f("proration_discounts", en(&["included", "itemized"]))])),
            req("type", en(&["classic", "flexible"])),
        ])),
        f("default_tax_rates", arr(&STR)),
        f("description", STR),
        f("invoice_settings", obj(&[
            f("issuer", obj(&[f("account", STR), req("type", en(&["account", "self"]))])),
        ])),
        f("metadata", map(&STR)),
        f("on_behalf_of", STR),
        f("pending_invoice_item_interval", obj(&[
            req("interval", en(&["day", "month", "week", "year"])),
            f("interval_count", INT),
        ])),
        f("proration_behavior", en(&["create_prorations", "none"])),
        f("transfer_data", obj(&[f("amount_percent", NUM), req("destination", STR)])),
        f("trial_end", INT),
        f("trial_period_days", INT),
        f("trial_settings", obj(&[
            req("end_behavior", obj(&[
                req("missing_payment_method", en(&["cancel", "create_invoice", "pause"])),
            ])),
        ])),
    ])),
    f("success_url", STR),
    f("tax_id_collection", obj(&[
        req("enabled", BOOL),
        f("required", en(&["if_supported", "never"])),
    ])),
    f("ui_mode", en(&["elements", "embedded_page", "form", "hosted_page"])),
    f("wallet_options", obj(&[f("link", obj(&[f("display", en(&["auto", "never"]))]))])),
]);

/// `GET /v1/checkout/sessions/{session}`
#[rustfmt::skip]
pub(crate) const CHECKOUT_SESSION_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `POST /v1/checkout/sessions/{session}/expire`
#[rustfmt::skip]
pub(crate) const CHECKOUT_SESSION_EXPIRE: P = obj(&[f("expand", arr(&STR))]);

/// `GET /v1/setup_intents/{intent}`
#[rustfmt::skip]
pub(crate) const SETUP_INTENT_RETRIEVE: P = obj(&[f("client_secret", STR), f("expand", arr(&STR))]);

/// `GET /v1/payment_methods/{payment_method}`
#[rustfmt::skip]
pub(crate) const PAYMENT_METHOD_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `POST /v1/payment_methods/{payment_method}/detach`
#[rustfmt::skip]
pub(crate) const PAYMENT_METHOD_DETACH: P = obj(&[f("expand", arr(&STR))]);

/// `GET /v1/events/{id}`
#[rustfmt::skip]
pub(crate) const EVENT_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `GET /v1/webhook_endpoints`
#[rustfmt::skip]
pub(crate) const WEBHOOK_ENDPOINT_LIST: P = obj(&[
    f("ending_before", STR),
    f("expand", arr(&STR)),
    f("limit", INT),
    f("starting_after", STR),
]);

/// `POST /v1/webhook_endpoints`
#[rustfmt::skip]
pub(crate) const WEBHOOK_ENDPOINT_CREATE: P = obj(&[
    f("api_version", en(API_VERSIONS)),
    f("connect", BOOL),
    f("description", STR.empty()),
    req("enabled_events", arr(&en(ENABLED_EVENTS))),
    f("expand", arr(&STR)),
    f("metadata", map(&STR).empty()),
    req("url", STR),
]);

/// `GET /v1/webhook_endpoints/{webhook_endpoint}`
#[rustfmt::skip]
pub(crate) const WEBHOOK_ENDPOINT_RETRIEVE: P = obj(&[f("expand", arr(&STR))]);

/// `POST /v1/webhook_endpoints/{webhook_endpoint}`
#[rustfmt::skip]
pub(crate) const WEBHOOK_ENDPOINT_UPDATE: P = obj(&[
    f("description", STR.empty()),
    f("disabled", BOOL),
    f("enabled_events", arr(&en(ENABLED_EVENTS))),
    f("expand", arr(&STR)),
    f("metadata", map(&STR).empty()),
    f("url", STR),
]);

/// `DELETE /v1/webhook_endpoints/{webhook_endpoint}`
#[rustfmt::skip]
pub(crate) const WEBHOOK_ENDPOINT_DELETE: P = obj(&[]);

/// `POST /v1/billing_portal/sessions`
#[rustfmt::skip]
pub(crate) const BILLING_PORTAL_SESSION_CREATE: P = obj(&[
    f("configuration", STR),
    f("customer", STR),
    f("customer_account", STR),
    f("expand", arr(&STR)),
    f("flow_data", obj(&[
        f("after_completion", obj(&[
            f("hosted_confirmation", obj(&[
                f("custom_message", STR),
            ])),
            f("redirect", obj(&[
                req("return_url", STR),
            ])),
            req("type", en(&["hosted_confirmation", "portal_homepage", "redirect"])),
        ])),
        f("subscription_cancel", obj(&[
            f("retention", obj(&[
                req("coupon_offer", obj(&[
                    req("coupon", STR),
                ])),
                req("type", en(&["coupon_offer"])),
            ])),
            req("subscription", STR),
        ])),
        f("subscription_update", obj(&[
            req("subscription", STR),
        ])),
        f("subscription_update_confirm", obj(&[
            f("discounts", arr(&obj(&[
                f("coupon", STR),
                f("promotion_code", STR),
            ]))),
            req("items", arr(&obj(&[
                req("id", STR),
                f("price", STR),
                f("quantity", INT),
            ]))),
            req("subscription", STR),
        ])),
        req("type", en(&[
            "payment_method_update", "subscription_cancel", "subscription_update",
            "subscription_update_confirm",
        ])),
    ])),
    f("locale", en(&[
        "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
        "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
        "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
        "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
    ])),
    f("on_behalf_of", STR),
    f("return_url", STR),
]);

#[rustfmt::skip]
const TAX_ID_TYPES: &[&str] = &[
    "ad_nrt", "ae_trn", "al_tin", "am_tin", "ao_tin", "ar_cuit", "au_abn", "au_arn", "aw_tin",
    "az_tin", "ba_tin", "bb_tin", "bd_bin", "bf_ifu", "bg_uic", "bh_vat", "bj_ifu", "bo_tin",
    "br_cnpj", "br_cpf", "bs_tin", "by_tin", "ca_bn", "ca_gst_hst", "ca_pst_bc", "ca_pst_mb",
    "ca_pst_sk", "ca_qst", "cd_nif", "ch_uid", "ch_vat", "cl_tin", "cm_niu", "cn_tin", "co_nit",
    "cr_tin", "cv_nif", "de_stn", "do_rcn", "ec_ruc", "eg_tin", "es_cif", "et_tin",
    "eu_oss_vat", "eu_vat", "fo_vat", "gb_vat", "ge_vat", "gi_tin", "gn_nif", "hk_br", "hr_oib",
    "hu_tin", "id_npwp", "il_vat", "in_gst", "is_vat", "it_cf", "jp_cn", "jp_rn", "jp_trn",
    "ke_pin", "kg_tin", "kh_tin", "kr_brn", "kz_bin", "la_tin", "li_uid", "li_vat", "lk_vat",
    "ma_vat", "md_vat", "me_pib", "mk_vat", "mr_nif", "mx_rfc", "my_frp", "my_itn", "my_sst",
    "ng_tin", "no_vat", "no_voec", "np_pan", "nz_gst", "om_vat", "pe_ruc", "ph_tin", "pl_nip",
    "py_ruc", "ro_tin", "rs_pib", "ru_inn", "ru_kpp", "sa_vat", "sg_gst", "sg_uen", "si_tin",
    "sn_ninea", "sr_fin", "sv_nit", "th_vat", "tj_tin", "tr_tin", "tw_vat", "tz_vat", "ua_vat",
    "ug_tin", "us_ein", "uy_ruc", "uz_tin", "uz_vat", "ve_rif", "vn_tin", "za_vat", "zm_tin",
    "zw_tin",
];

#[rustfmt::skip]
const CUSTOMER_PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik", "boleto", "card",
    "cashapp", "crypto", "custom", "customer_balance", "eps", "fpx", "giropay", "grabpay",
    "ideal", "kakao_pay", "klarna", "konbini", "kr_card", "link", "mb_way", "mobilepay",
    "multibanco", "naver_pay", "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco",
    "paynow", "paypal", "payto", "pix", "promptpay", "revolut_pay", "samsung_pay", "satispay",
    "scalapay", "sepa_debit", "sofort", "sunbit", "swish", "twint", "upi", "us_bank_account",
    "wechat_pay", "zip",
];

#[rustfmt::skip]
const FONT_FAMILIES: &[&str] = &[
    "be_vietnam_pro", "bitter", "chakra_petch", "default", "hahmlet", "inconsolata", "inter",
    "lato", "lora", "m_plus_1_code", "montserrat", "noto_sans", "noto_sans_jp", "noto_serif",
    "nunito", "open_sans", "pridi", "pt_sans", "pt_serif", "raleway", "roboto", "roboto_slab",
    "source_sans_pro", "titillium_web", "ubuntu_mono", "zen_maru_gothic",
];

#[rustfmt::skip]
const EXCLUDED_PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik", "boleto", "card",
    "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay", "ideal",
    "kakao_pay", "klarna", "konbini", "kr_card", "mb_way", "mobilepay", "multibanco",
    "naver_pay", "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal",
    "payto", "pix", "promptpay", "revolut_pay", "samsung_pay", "satispay", "scalapay",
    "sepa_debit", "sofort", "sunbit", "swish", "twint", "upi", "us_bank_account", "wechat_pay",
    "zip",
];

#[rustfmt::skip]
const CHECKOUT_LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil",
    "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl",
    "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

#[rustfmt::skip]
const PAYPAL_PREFERRED_LOCALES: &[&str] = &[
    "cs-CZ", "da-DK", "de-AT", "de-DE", "de-LU", "el-GR", "en-GB", "en-US", "es-ES", "fi-FI",
    "fr-BE", "fr-FR", "fr-LU", "hu-HU", "it-IT", "nl-BE", "nl-NL", "pl-PL", "pt-PT", "sk-SK",
    "sv-SE",
];

#[rustfmt::skip]
const PAYTO_PURPOSES: &[&str] = &[
    "dependant_support", "government", "loan", "mortgage", "other", "pension", "personal",
    "retail", "salary", "tax", "utility",
];

/// Endive's `allowed_payment_method_types`: dahlia's `payment_method_types` plus `paypay` and
/// `sequra`.
#[rustfmt::skip]
const ALLOWED_PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik", "boleto", "card",
    "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay", "ideal",
    "kakao_pay", "klarna", "konbini", "kr_card", "link", "mb_way", "mobilepay", "multibanco",
    "naver_pay", "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal",
    "paypay", "payto", "pix", "promptpay", "revolut_pay", "samsung_pay", "satispay", "scalapay",
    "sepa_debit", "sequra", "sofort", "sunbit", "swish", "twint", "upi", "us_bank_account",
    "wechat_pay", "zip",
];

#[rustfmt::skip]
const PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik", "boleto", "card",
    "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay", "ideal",
    "kakao_pay", "klarna", "konbini", "kr_card", "link", "mb_way", "mobilepay", "multibanco",
    "naver_pay", "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow", "paypal",
    "payto", "pix", "promptpay", "revolut_pay", "samsung_pay", "satispay", "scalapay",
    "sepa_debit", "sofort", "sunbit", "swish", "twint", "upi", "us_bank_account", "wechat_pay",
    "zip",
];

#[rustfmt::skip]
const SHIPPING_COUNTRIES: &[&str] = &[
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CK", "CL",
    "CM", "CN", "CO", "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC",
    "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FO", "FR", "GA", "GB", "GD", "GE",
    "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY",
    "HK", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IS", "IT", "JE",
    "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KR", "KW", "KY", "KZ", "LA", "LB",
    "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG",
    "MK", "ML", "MM", "MN", "MO", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF",
    "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PY", "QA", "RE", "RO", "RS", "RU",
    "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO",
    "SR", "SS", "ST", "SV", "SX", "SZ", "TA", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC",
    "VE", "VG", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW", "ZZ",
];

#[rustfmt::skip]
const API_VERSIONS: &[&str] = &[
    "2011-01-01", "2011-06-21", "2011-06-28", "2011-08-01", "2011-09-15", "2011-11-17",
    "2012-02-23", "2012-03-25", "2012-06-18", "2012-06-28", "2012-07-09", "2012-09-24",
    "2012-10-26", "2012-11-07", "2013-02-11", "2013-02-13", "2013-07-05", "2013-08-12",
    "2013-08-13", "2013-10-29", "2013-12-03", "2014-01-31", "2014-03-13", "2014-03-28",
    "2014-05-19", "2014-06-13", "2014-06-17", "2014-07-22", "2014-07-26", "2014-08-04",
    "2014-08-20", "2014-09-08", "2014-10-07", "2014-11-05", "2014-11-20", "2014-12-08",
    "2014-12-17", "2014-12-22", "2015-01-11", "2015-01-26", "2015-02-10", "2015-02-16",
    "2015-02-18", "2015-03-24", "2015-04-07", "2015-06-15", "2015-07-07", "2015-07-13",
    "2015-07-28", "2015-08-07", "2015-08-19", "2015-09-03", "2015-09-08", "2015-09-23",
    "2015-10-01", "2015-10-12", "2015-10-16", "2016-02-03", "2016-02-19", "2016-02-22",
    "2016-02-23", "2016-02-29", "2016-03-07", "2016-06-15", "2016-07-06", "2016-10-19",
    "2017-01-27", "2017-02-14", "2017-04-06", "2017-05-25", "2017-06-05", "2017-08-15",
    "2017-12-14", "2018-01-23", "2018-02-05", "2018-02-06", "2018-02-28", "2018-05-21",
    "2018-07-27", "2018-08-23", "2018-09-06", "2018-09-24", "2018-10-31", "2018-11-08",
    "2019-02-11", "2019-02-19", "2019-03-14", "2019-05-16", "2019-08-14", "2019-09-09",
    "2019-10-08", "2019-10-17", "2019-11-05", "2019-12-03", "2020-03-02", "2020-08-27",
    "2022-08-01", "2022-11-15", "2023-08-16", "2023-10-16", "2024-04-10", "2024-06-20",
    "2024-09-30.acacia", "2024-10-28.acacia", "2024-11-20.acacia", "2024-12-18.acacia",
    "2025-01-27.acacia", "2025-02-24.acacia", "2025-03-01.dashboard", "2025-03-31.basil",
    "2025-04-30.basil", "2025-05-28.basil", "2025-06-30.basil", "2025-07-30.basil",
    "2025-08-27.basil", "2025-09-30.clover", "2025-10-29.clover", "2025-11-17.clover",
    "2025-12-15.clover", "2026-01-28.clover", "2026-02-25.clover", "2026-03-25.dahlia",
    "2026-04-22.dahlia", "2026-05-27.dahlia", "2026-06-24.dahlia",
    // Not in the 2026-06-24.dahlia table: the versions after it that async-stripe knows, up to
    // the one patron pins (endive is treated like dahlia).
    "2026-07-29.dahlia", "2026-08-26.dahlia", "2026-09-30.endive",
];

#[rustfmt::skip]
const ENABLED_EVENTS: &[&str] = &[
    "*", "account.application.authorized", "account.application.deauthorized",
    "account.external_account.created", "account.external_account.deleted",
    "account.external_account.updated", "account.updated", "application_fee.created",
    "application_fee.refund.updated", "application_fee.refunded", "balance.available",
    "balance_settings.updated", "billing.alert.triggered",
    "billing.credit_balance_transaction.created", "billing.credit_grant.created",
    "billing.credit_grant.updated", "billing.meter.created", "billing.meter.deactivated",
    "billing.meter.reactivated", "billing.meter.updated",
    "billing_portal.configuration.created", "billing_portal.configuration.updated",
    "billing_portal.session.created", "capability.updated", "cash_balance.funds_available",
    "charge.captured", "charge.dispute.closed", "charge.dispute.created",
    "charge.dispute.funds_reinstated", "charge.dispute.funds_withdrawn",
    "charge.dispute.updated", "charge.expired", "charge.failed", "charge.pending",
    "charge.refund.updated", "charge.refunded", "charge.succeeded", "charge.updated",
    "checkout.session.async_payment_failed", "checkout.session.async_payment_succeeded",
    "checkout.session.completed", "checkout.session.expired", "climate.order.canceled",
    "climate.order.created", "climate.order.delayed", "climate.order.delivered",
    "climate.order.product_substituted", "climate.product.created",
    "climate.product.pricing_updated", "coupon.created", "coupon.deleted", "coupon.updated",
    "credit_note.created", "credit_note.updated", "credit_note.voided", "customer.created",
    "customer.deleted", "customer.discount.created", "customer.discount.deleted",
    "customer.discount.updated", "customer.source.created", "customer.source.deleted",
    "customer.source.expiring", "customer.source.updated", "customer.subscription.created",
    "customer.subscription.deleted", "customer.subscription.paused",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired", "customer.subscription.resumed",
    "customer.subscription.trial_will_end", "customer.subscription.updated",
    "customer.tax_id.created", "customer.tax_id.deleted", "customer.tax_id.updated",
    "customer.updated", "customer_cash_balance_transaction.created",
    "entitlements.active_entitlement_summary.updated", "file.created",
    "financial_connections.account.account_numbers_updated",
    "financial_connections.account.created", "financial_connections.account.deactivated",
    "financial_connections.account.disconnected", "financial_connections.account.reactivated",
    "financial_connections.account.refreshed_balance",
    "financial_connections.account.refreshed_ownership",
    "financial_connections.account.refreshed_transactions",
    "financial_connections.account.upcoming_account_number_expiry",
    "identity.verification_session.canceled", "identity.verification_session.created",
    "identity.verification_session.processing", "identity.verification_session.redacted",
    "identity.verification_session.requires_input", "identity.verification_session.verified",
    "invoice.created", "invoice.deleted", "invoice.finalization_failed", "invoice.finalized",
    "invoice.marked_uncollectible", "invoice.overdue", "invoice.overpaid", "invoice.paid",
    "invoice.payment_action_required", "invoice.payment_attempt_required",
    "invoice.payment_failed", "invoice.payment_succeeded", "invoice.sent", "invoice.upcoming",
    "invoice.updated", "invoice.voided", "invoice.will_be_due", "invoice_payment.paid",
    "invoiceitem.created", "invoiceitem.deleted", "issuing_authorization.created",
    "issuing_authorization.request", "issuing_authorization.updated", "issuing_card.created",
    "issuing_card.updated", "issuing_cardholder.created", "issuing_cardholder.updated",
    "issuing_dispute.closed", "issuing_dispute.created", "issuing_dispute.funds_reinstated",
    "issuing_dispute.funds_rescinded", "issuing_dispute.submitted", "issuing_dispute.updated",
    "issuing_personalization_design.activated", "issuing_personalization_design.deactivated",
    "issuing_personalization_design.rejected", "issuing_personalization_design.updated",
    "issuing_token.created", "issuing_token.updated", "issuing_transaction.created",
    "issuing_transaction.purchase_details_receipt_updated", "issuing_transaction.updated",
    "mandate.updated", "payment_intent.amount_capturable_updated", "payment_intent.canceled",
    "payment_intent.created", "payment_intent.partially_funded",
    "payment_intent.payment_failed", "payment_intent.processing",
    "payment_intent.requires_action", "payment_intent.succeeded", "payment_link.created",
    "payment_link.updated", "payment_method.attached", "payment_method.automatically_updated",
    "payment_method.detached", "payment_method.updated", "payout.canceled", "payout.created",
    "payout.failed", "payout.paid", "payout.reconciliation_completed", "payout.updated",
    "person.created", "person.deleted", "person.updated", "plan.created", "plan.deleted",
    "plan.updated", "price.created", "price.deleted", "price.updated", "product.created",
    "product.deleted", "product.updated", "promotion_code.created", "promotion_code.updated",
    "quote.accepted", "quote.canceled", "quote.created", "quote.finalized",
    "radar.early_fraud_warning.created", "radar.early_fraud_warning.updated", "refund.created",
    "refund.failed", "refund.updated", "reporting.report_run.failed",
    "reporting.report_run.succeeded", "reporting.report_type.updated", "reserve.hold.created",
    "reserve.hold.updated", "reserve.plan.created", "reserve.plan.disabled",
    "reserve.plan.expired", "reserve.plan.updated", "reserve.release.created", "review.closed",
    "review.opened", "setup_intent.canceled", "setup_intent.created",
    "setup_intent.requires_action", "setup_intent.setup_failed", "setup_intent.succeeded",
    "sigma.scheduled_query_run.created", "source.canceled", "source.chargeable",
    "source.failed", "source.mandate_notification", "source.refund_attributes_required",
    "source.transaction.created", "source.transaction.updated", "subscription_schedule.aborted",
    "subscription_schedule.canceled", "subscription_schedule.completed",
    "subscription_schedule.created", "subscription_schedule.expiring",
    "subscription_schedule.released", "subscription_schedule.updated", "tax.settings.updated",
    "tax_rate.created", "tax_rate.updated", "terminal.reader.action_failed",
    "terminal.reader.action_succeeded", "terminal.reader.action_updated",
    "test_helpers.test_clock.advancing", "test_helpers.test_clock.created",
    "test_helpers.test_clock.deleted", "test_helpers.test_clock.internal_failure",
    "test_helpers.test_clock.ready", "topup.canceled", "topup.created", "topup.failed",
    "topup.reversed", "topup.succeeded", "transfer.created", "transfer.reversed",
    "transfer.updated", "treasury.credit_reversal.created", "treasury.credit_reversal.posted",
    "treasury.debit_reversal.completed", "treasury.debit_reversal.created",
    "treasury.debit_reversal.initial_credit_granted", "treasury.financial_account.closed",
    "treasury.financial_account.created", "treasury.financial_account.features_status_updated",
    "treasury.inbound_transfer.canceled", "treasury.inbound_transfer.created",
    "treasury.inbound_transfer.failed", "treasury.inbound_transfer.succeeded",
    "treasury.outbound_payment.canceled", "treasury.outbound_payment.created",
    "treasury.outbound_payment.expected_arrival_date_updated",
    "treasury.outbound_payment.failed", "treasury.outbound_payment.posted",
    "treasury.outbound_payment.returned", "treasury.outbound_payment.tracking_details_updated",
    "treasury.outbound_transfer.canceled", "treasury.outbound_transfer.created",
    "treasury.outbound_transfer.expected_arrival_date_updated",
    "treasury.outbound_transfer.failed", "treasury.outbound_transfer.posted",
    "treasury.outbound_transfer.returned",
    "treasury.outbound_transfer.tracking_details_updated", "treasury.received_credit.created",
    "treasury.received_credit.failed", "treasury.received_credit.succeeded",
    "treasury.received_debit.created",
];

/// `GET /v1/customers/search`
#[rustfmt::skip]
pub(crate) const CUSTOMER_SEARCH: P = obj(&[
    f("expand", arr(&STR)),
    f("limit", INT),
    f("page", STR),
    req("query", STR),
]);

/// `GET /v1/billing_portal/configurations`
#[rustfmt::skip]
pub(crate) const BILLING_PORTAL_CONFIGURATION_LIST: P = obj(&[
    f("active", BOOL),
    f("ending_before", STR),
    f("expand", arr(&STR)),
    f("is_default", BOOL),
    f("limit", INT),
    f("starting_after", STR),
]);

/// `POST /v1/billing_portal/configurations`
#[rustfmt::skip]
pub(crate) const BILLING_PORTAL_CONFIGURATION_CREATE: P = obj(&[
    f("business_profile", obj(&[
        f("headline", STR.empty()),
        f("privacy_policy_url", STR),
        f("terms_of_service_url", STR),
    ])),
    f("default_return_url", STR.empty()),
    f("expand", arr(&STR)),
    req("features", obj(&[
        f("customer_update", obj(&[
            f("allowed_updates", arr(&en(&["address", "email", "name", "phone", "shipping", "tax_id"])).empty()),
            req("enabled", BOOL),
        ])),
        f("invoice_history", obj(&[
            req("enabled", BOOL),
        ])),
        f("payment_method_update", obj(&[
            req("enabled", BOOL),
            f("payment_method_configuration", STR.empty()),
        ])),
        f("subscription_cancel", obj(&[
            f("cancellation_reason", obj(&[
                req("enabled", BOOL),
                req("options", arr(&en(&["customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex", "too_expensive", "unused"])).empty()),
            ])),
            req("enabled", BOOL),
            f("mode", en(&["at_period_end", "immediately"])),
            f("proration_behavior", en(&["always_invoice", "create_prorations", "none"])),
        ])),
        f("subscription_update", obj(&[
            f("billing_cycle_anchor", en(&["now", "unchanged"])),
            f("default_allowed_updates", arr(&en(&["price", "promotion_code", "quantity"])).empty()),
            req("enabled", BOOL),
            f("products", arr(&obj(&[
                f("adjustable_quantity", obj(&[
                    req("enabled", BOOL),
                    f("maximum", INT),
                    f("minimum", INT),
                ])),
                req("prices", arr(&STR)),
                req("product", STR),
            ])).empty()),
            f("proration_behavior", en(&["always_invoice", "create_prorations", "none"])),
            f("schedule_at_period_end", obj(&[
                f("conditions", arr(&obj(&[
                    req("type", en(&["decreasing_item_amount", "shortening_interval"])),
                ]))),
            ])),
            f("trial_update_behavior", en(&["continue_trial", "end_trial"])),
        ])),
    ])),
    f("login_page", obj(&[
        req("enabled", BOOL),
    ])),
    f("metadata", map(&STR)),
    f("name", STR.empty()),
]);

/// `GET /v1/billing_portal/configurations/{configuration}`
#[rustfmt::skip]
pub(crate) const BILLING_PORTAL_CONFIGURATION_RETRIEVE: P = obj(&[
    f("expand", arr(&STR)),
]);

/// `POST /v1/billing_portal/configurations/{configuration}`
#[rustfmt::skip]
pub(crate) const BILLING_PORTAL_CONFIGURATION_UPDATE: P = obj(&[
    f("active", BOOL),
    f("business_profile", obj(&[
        f("headline", STR.empty()),
        f("privacy_policy_url", STR.empty()),
        f("terms_of_service_url", STR.empty()),
    ])),
    f("default_return_url", STR.empty()),
    f("expand", arr(&STR)),
    f("features", obj(&[
        f("customer_update", obj(&[
            f("allowed_updates", arr(&en(&["address", "email", "name", "phone", "shipping", "tax_id"])).empty()),
            f("enabled", BOOL),
        ])),
        f("invoice_history", obj(&[
            req("enabled", BOOL),
        ])),
        f("payment_method_update", obj(&[
            req("enabled", BOOL),
            f("payment_method_configuration", STR.empty()),
        ])),
        f("subscription_cancel", obj(&[
            f("cancellation_reason", obj(&[
                req("enabled", BOOL),
                f("options", arr(&en(&["customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex", "too_expensive", "unused"])).empty()),
            ])),
            f("enabled", BOOL),
            f("mode", en(&["at_period_end", "immediately"])),
            f("proration_behavior", en(&["always_invoice", "create_prorations", "none"])),
        ])),
        f("subscription_update", obj(&[
            f("billing_cycle_anchor", en(&["now", "unchanged"])),
            f("default_allowed_updates", arr(&en(&["price", "promotion_code", "quantity"])).empty()),
            f("enabled", BOOL),
            f("products", arr(&obj(&[
                f("adjustable_quantity", obj(&[
                    req("enabled", BOOL),
                    f("maximum", INT),
                    f("minimum", INT),
                ])),
                req("prices", arr(&STR)),
                req("product", STR),
            ])).empty()),
            f("proration_behavior", en(&["always_invoice", "create_prorations", "none"])),
            f("schedule_at_period_end", obj(&[
                f("conditions", arr(&obj(&[
                    req("type", en(&["decreasing_item_amount", "shortening_interval"])),
                ])).empty()),
            ])),
            f("trial_update_behavior", en(&["continue_trial", "end_trial"])),
        ])),
    ])),
    f("login_page", obj(&[
        req("enabled", BOOL),
    ])),
    f("metadata", map(&STR).empty()),
    f("name", STR.empty()),
]);
