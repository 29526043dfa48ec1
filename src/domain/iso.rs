//! ISO code tables used to validate currency and country codes.
//!
//! Both tables are plain sorted `const` arrays searched with
//! [`slice::binary_search`], so a lookup is a handful of string comparisons
//! and needs no allocation or lazy initialisation.
//!
//! # Sources
//!
//! * Currencies: ISO 4217 "List One" (current currencies and funds) as of
//!   amendment 180 (effective 2026-01-01, which moved BGN to List Three).
//!   Cross-checked against the `pycountry` 26.2.16 package (released
//!   2026-02-16; its tables come from Debian's `iso-codes`).
//! * Countries: the 249 officially assigned ISO 3166-1 alpha-2 codes,
//!   cross-checked against the same `pycountry` release.
//!
//! When ISO publishes a new amendment, update the array, keep it sorted and
//! adjust the expected length in the tests.

/// Active ISO 4217 alphabetic codes (List One), sorted ascending.
///
/// Includes fund codes (e.g. `BOV`, `CHE`, `USN`), precious metals (`XAU`,
/// `XAG`, `XPD`, `XPT`), supranational units (`XDR`, `XSU`, `XUA`, `XAD`,
/// `XBA`-`XBD`) and the special codes `XTS` (testing) and `XXX` (no
/// currency), because they are all part of List One.
///
/// Withdrawn codes are deliberately absent, among them `ANG` (replaced by
/// `XCG`, 2025), `BGN` (euro, 2026), `CUC` (2021), `HRK` (euro, 2023), `MRO`,
/// `SLL`, `STD`, `VEF` and `ZWL` (replaced by `ZWG`, 2024).
const ACTIVE_CURRENCIES: [&str; 178] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAD",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF",
    "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
];

/// Officially assigned ISO 3166-1 alpha-2 codes, sorted ascending.
///
/// User-assigned (`XK`, `ZZ`, ...), exceptionally reserved (`UK`, `EU`, ...)
/// and transitionally reserved codes are deliberately absent.
const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Returns `true` iff `code` is an active ISO 4217 alphabetic currency code.
///
/// `code` must already be upper-case (e.g. `"USD"`); the comparison is
/// case-sensitive, so `"usd"` returns `false`. Withdrawn and historic codes
/// such as `"DEM"`, `"HRK"` or `"ZWL"` also return `false`.
#[must_use]
pub fn is_active_currency(code: &str) -> bool {
    ACTIVE_CURRENCIES.binary_search(&code).is_ok()
}

/// Returns `true` iff `code` is an officially assigned ISO 3166-1 alpha-2
/// country code.
///
/// `code` must already be upper-case (e.g. `"DE"`); the comparison is
/// case-sensitive. User-assigned codes such as `"XK"` and reserved codes such
/// as `"UK"` or `"EU"` return `false`.
#[must_use]
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_strictly_sorted(codes: &[&str]) {
        for pair in codes.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must sort before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn currencies_are_strictly_sorted() {
        assert_strictly_sorted(&ACTIVE_CURRENCIES);
    }

    #[test]
    fn countries_are_strictly_sorted() {
        assert_strictly_sorted(&COUNTRIES);
    }

    #[test]
    fn table_lengths() {
        assert_eq!(ACTIVE_CURRENCIES.len(), 178);
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn codes_have_expected_shape() {
        for code in ACTIVE_CURRENCIES {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
        }
        for code in COUNTRIES {
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
        }
    }

    #[test]
    fn active_currencies_are_accepted() {
        for code in [
            "USD", "EUR", "HUF", "JPY", "ZWG", "SLE", "VED", "VES", "MRU", "STN", "XCG", "XOF",
            "XAF", "XDR", "XAU",
        ] {
            assert!(is_active_currency(code), "{code} should be active");
        }
    }

    #[test]
    fn withdrawn_or_invalid_currencies_are_rejected() {
        for code in [
            "DEM", "FRF", "HRK", "ZWL", "SLL", "VEF", "MRO", "STD", "CUC", "ANG", "BGN", "XXY",
            "usd", "Usd", "", "US", "USDD",
        ] {
            assert!(!is_active_currency(code), "{code} should not be active");
        }
    }

    #[test]
    fn assigned_countries_are_accepted() {
        for code in [
            "US", "DE", "HU", "GB", "AX", "AD", "ZW", "SS", "BQ", "CW", "SX",
        ] {
            assert!(is_country(code), "{code} should be a country");
        }
    }

    #[test]
    fn unassigned_or_reserved_countries_are_rejected() {
        for code in ["UK", "XK", "ZZ", "EU", "AN", "YU", "us", "", "USA"] {
            assert!(!is_country(code), "{code} should not be a country");
        }
    }
}
