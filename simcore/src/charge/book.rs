//! Price books: a provider's prices as the user's contract (or the provider's published list)
//! states them, from code or a JSON or TOML file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::money::{ChargeRange, Currency, Money};
use super::{Assumption, Input};
use crate::error::{Error, Result};

/// One provider's prices and the account facts its rules depend on. Every field is optional: what
/// a book leaves out comes from the provider's published prices, where it has any, and is
/// otherwise "unpriced".
///
/// Amounts are written as text (`"1.60"`), in [`currency`](Self::currency) (default USD). Keys of
/// `sims`, `assets`, `states` and `profiles` are compared without regard to case.
///
/// In a file (TOML; JSON has the same structure):
/// ```toml
/// provider = "sixfab"
/// currency = "USD"
/// active_sims = 14            # active SIMs on the account, for the volume tiers
///
/// [sims.super_sim]
/// active_monthly = "2.00"
/// volume_tiers = [{ more_than = 10, active_monthly = "1.60" }]
///
/// [sims.pro_sim.profiles]
/// "Asia" = "4.50"
///
/// [assets.alpon]
/// fee = "6.00"
/// replaces_sim_fees = false   # the fee is charged on top of the SIM fees
/// recurs_monthly = true
/// ```
/// or, for a provider with one kind of SIM:
/// ```toml
/// provider = "emnify"
/// currency = "EUR"
/// [sim]
/// active_monthly = "1.50"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBook {
    /// The provider the book is for (`"sixfab"`); a book naming another provider is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The currency of every amount (default USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// How many SIMs the account has active before the change, counted as the provider's volume
    /// tiers count them (for Sixfab: every active SIM, Super SIM and PRO SIM). Not given: a
    /// preview covers every tier the count could fall in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_sims: Option<u32>,
    /// Prices for every SIM of the provider; an entry in [`sims`](Self::sims) overrides them
    /// for one kind.
    #[serde(default, skip_serializing_if = "SimPrices::is_empty")]
    pub sim: SimPrices,
    /// Prices per kind of SIM (`"super_sim"`, `"pro_sim"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sims: BTreeMap<String, SimPrices>,
    /// Prices per kind of asset (`"alpon"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assets: BTreeMap<String, AssetPrices>,
}

/// What a SIM (of one kind) costs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimPrices {
    /// Per month while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_monthly: Option<Money>,
    /// Per month while inactive (suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_monthly: Option<Money>,
    /// Per month in other states, by canonical state word (`"new"`, `"ready"`, `"retired"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub states: BTreeMap<String, Money>,
    /// Whether the month a SIM is activated in is billed in full (once, however often it is
    /// switched): `true` for emnify and Sixfab's Super SIM by their documents. Not given: the
    /// activation month costs from nothing to a full month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_month_billed: Option<bool>,
    /// Lower active prices for accounts with many active SIMs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_tiers: Vec<VolumeTier>,
    /// Active monthly prices of named plans or service profiles (`"Europe + USA"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, Money>,
}

/// A volume price: for accounts with more than `more_than` active SIMs, `active_monthly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeTier {
    /// The count an account must exceed.
    pub more_than: u32,
    /// The active monthly price above it.
    pub active_monthly: Money,
}

/// What an asset (a device carrying SIMs) costs beyond its SIMs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetPrices {
    /// The asset fee, charged on activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Money>,
    /// Whether the asset fee stands instead of the SIMs' fees (`true`) or on top of them
    /// (`false`). Not given: a preview covers both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_sim_fees: Option<bool>,
    /// Whether the asset fee recurs every month while the asset is active. Not given: a preview
    /// covers both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurs_monthly: Option<bool>,
    /// Whether a re-activation in a month the fee was already charged in is free (`true`) or
    /// charged again (`false`). Not given: a preview covers both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub once_a_month: Option<bool>,
}

fn lower(k: &str) -> String {
    k.to_lowercase()
}

/// Looks a key up without regard to case.
fn get_ci<'a, V>(map: &'a BTreeMap<String, V>, key: &str) -> Option<&'a V> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.to_lowercase() == key.to_lowercase())
            .map(|(_, v)| v)
    })
}

/// `top` over `base`, key by key (keys lowercased), `join` merging values of one key.
fn merge<V: Clone>(
    top: &BTreeMap<String, V>,
    base: &BTreeMap<String, V>,
    join: impl Fn(&V, &V) -> V,
) -> BTreeMap<String, V> {
    let mut out: BTreeMap<String, V> = base.iter().map(|(k, v)| (lower(k), v.clone())).collect();
    for (k, v) in top {
        let k = lower(k);
        let merged = match out.get(&k) {
            Some(b) => join(v, b),
            None => v.clone(),
        };
        out.insert(k, merged);
    }
    out
}

impl SimPrices {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &SimPrices::default()
    }

    /// Whether any amount is set.
    pub fn has_prices(&self) -> bool {
        self.active_monthly.is_some()
            || self.inactive_monthly.is_some()
            || !self.states.is_empty()
            || !self.volume_tiers.is_empty()
            || !self.profiles.is_empty()
    }

    /// These prices over `base`: what is set here wins, field by field.
    pub fn over(&self, base: &SimPrices) -> SimPrices {
        SimPrices {
            active_monthly: self.active_monthly.or(base.active_monthly),
            inactive_monthly: self.inactive_monthly.or(base.inactive_monthly),
            states: merge(&self.states, &base.states, |a, _| *a),
            activation_month_billed: self
                .activation_month_billed
                .or(base.activation_month_billed),
            volume_tiers: if self.volume_tiers.is_empty() {
                base.volume_tiers.clone()
            } else {
                self.volume_tiers.clone()
            },
            profiles: merge(&self.profiles, &base.profiles, |a, _| *a),
        }
    }

    /// The monthly price in another state, by its canonical word.
    pub fn state(&self, word: &str) -> Option<Money> {
        get_ci(&self.states, word).copied()
    }

    /// A named plan's or profile's active monthly price.
    pub fn profile(&self, name: &str) -> Option<Money> {
        get_ci(&self.profiles, name).copied()
    }

    /// The active monthly price for an account with `count` active SIMs: the tier with the
    /// highest threshold the count exceeds, else [`active_monthly`](Self::active_monthly).
    pub fn active_at(&self, count: u32) -> Option<Money> {
        let base = self.active_monthly?;
        Some(
            self.volume_tiers
                .iter()
                .filter(|t| count > t.more_than)
                .max_by_key(|t| t.more_than)
                .map_or(base, |t| t.active_monthly),
        )
    }

    /// The active prices in words, the standard price then each volume tier's:
    /// `$2.00 a month, $1.60 above 10 active SIMs` (no active price reads as nothing a month).
    pub fn active_prices(&self, currency: Currency) -> String {
        let base = format!(
            "{} a month",
            currency.show(self.active_monthly.unwrap_or_default())
        );
        let tiers = self.volume_tiers.iter().map(|t| {
            format!(
                "{} above {} active SIMs",
                currency.show(t.active_monthly),
                t.more_than
            )
        });
        std::iter::once(base)
            .chain(tiers)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The active monthly price of a SIM the change leaves active, given the account's active
    /// SIMs before the change (`before`, `None` when not given) and how many SIMs the change
    /// activates (`adding`), with the assumption it makes and the input it reports. `counts` says
    /// what the provider's tiers count (`"every active SIM, Super SIM and PRO SIM"`).
    ///
    /// - No tiers: the active price, exactly.
    /// - Tiers, count given: the tier of the count after the change; where the count before and
    ///   after fall in different tiers, both (whether the change's own SIMs count is not
    ///   documented).
    /// - Tiers, no count: every tier's price, from the lowest to the highest.
    ///
    /// `None` when there is no active price.
    pub fn active_price(
        &self,
        before: Option<u32>,
        adding: u32,
        counts: &str,
        currency: Currency,
    ) -> Option<(ChargeRange, Option<Assumption>, Option<Input>)> {
        let base = self.active_monthly?;
        if self.volume_tiers.is_empty() {
            return Some((ChargeRange::exact(base), None, None));
        }
        let input_name = "active SIMs on the account before the change";
        match before {
            None => {
                let range = self
                    .volume_tiers
                    .iter()
                    .fold(ChargeRange::exact(base), |r, t| {
                        r.hull(ChargeRange::exact(t.active_monthly))
                    });
                let a = Assumption::new(
                    "book.volume-count",
                    format!(
                        "the account's count of active SIMs ({counts}) is not known, so the \
                         volume price may apply or not ({})",
                        self.active_prices(currency)
                    ),
                )
                .covering(["the volume price applies", "the standard price applies"])
                .settled_by("set active_sims in your price book");
                let input = Input {
                    name: input_name.into(),
                    value: "not given (set active_sims in your price book)".into(),
                };
                Some((range, Some(a), Some(input)))
            }
            Some(n) => {
                let after = n.saturating_add(adding);
                let (p_before, p_after) = (self.active_at(n)?, self.active_at(after)?);
                let input = Input {
                    name: input_name.into(),
                    value: format!(
                        "{n} (your price book's active_sims; {after} with this change's SIMs; \
                         the tiers count {counts})"
                    ),
                };
                if p_before == p_after {
                    return Some((ChargeRange::exact(p_after), None, Some(input)));
                }
                let a = Assumption::new(
                    "book.volume-count-includes-change",
                    format!(
                        "with this change the account goes from {n} to {after} active SIMs, \
                         across a volume tier; whether the SIMs being activated count toward it \
                         is not documented"
                    ),
                )
                .covering([
                    format!("they count: {} a month", currency.show(p_after)),
                    format!("they do not: {} a month", currency.show(p_before)),
                ])
                .settled_by(
                    "set active_sims in your price book to the count the tier is reckoned on",
                );
                Some((
                    ChargeRange::between(p_before, p_after),
                    Some(a),
                    Some(input),
                ))
            }
        }
    }
}

impl AssetPrices {
    /// These prices over `base`: what is set here wins, field by field.
    pub fn over(&self, base: &AssetPrices) -> AssetPrices {
        AssetPrices {
            fee: self.fee.or(base.fee),
            replaces_sim_fees: self.replaces_sim_fees.or(base.replaces_sim_fees),
            recurs_monthly: self.recurs_monthly.or(base.recurs_monthly),
            once_a_month: self.once_a_month.or(base.once_a_month),
        }
    }
}

impl PriceBook {
    /// Whether nothing at all is set.
    pub fn is_empty(&self) -> bool {
        self == &PriceBook::default()
    }

    /// The currency of the book's amounts (USD when not given).
    pub fn currency(&self) -> Currency {
        self.currency.unwrap_or_default()
    }

    /// This book over `base` (the provider's published prices): what is set here wins, field by
    /// field and key by key. A book in another currency than the one `base` states takes none of `base`'s
    /// amounts (they would be read in the wrong currency), only its provider; a `base` that says
    /// no currency (a provider's documented zeros) is read in this book's.
    pub fn over(&self, base: &PriceBook) -> PriceBook {
        if base.currency.is_some_and(|c| c != self.currency()) {
            return PriceBook {
                provider: self.provider.clone().or_else(|| base.provider.clone()),
                ..self.clone()
            };
        }
        PriceBook {
            provider: self.provider.clone().or_else(|| base.provider.clone()),
            currency: self.currency.or(base.currency),
            active_sims: self.active_sims.or(base.active_sims),
            sim: self.sim.over(&base.sim),
            sims: merge(&self.sims, &base.sims, SimPrices::over),
            assets: merge(&self.assets, &base.assets, AssetPrices::over),
        }
    }

    /// The prices of one kind of SIM: its [`sims`](Self::sims) entry over [`sim`](Self::sim).
    pub fn sim_prices(&self, kind: &str) -> SimPrices {
        match get_ci(&self.sims, kind) {
            Some(p) => p.over(&self.sim),
            None => self.sim.clone(),
        }
    }

    /// The prices of one kind of asset (empty when the book has none).
    pub fn asset(&self, kind: &str) -> AssetPrices {
        get_ci(&self.assets, kind).cloned().unwrap_or_default()
    }

    /// Reads a book from JSON.
    pub fn from_json(text: &str) -> Result<PriceBook> {
        let book: PriceBook = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("price book (JSON): {e}")))?;
        book.checked()
    }

    /// Reads a book from TOML.
    #[cfg(feature = "price-book-toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "price-book-toml")))]
    pub fn from_toml(text: &str) -> Result<PriceBook> {
        let book: PriceBook = toml::from_str(text)
            .map_err(|e| Error::Config(format!("price book (TOML): {}", e.message())))?;
        book.checked()
    }

    /// Reads a book from a file: `.json`, or `.toml` (with the `price-book-toml` feature).
    /// Errors are [`Error::Config`] naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<PriceBook> {
        let path = path.as_ref();
        let (text, format) = read(path)?;
        let book = match format {
            Format::Json => Self::from_json(&text),
            #[cfg(feature = "price-book-toml")]
            Format::Toml => Self::from_toml(&text),
        };
        book.map_err(|e| in_file(path, e))
    }

    /// Refuses what a file can say but a book cannot mean: two tiers at one threshold.
    fn checked(self) -> Result<PriceBook> {
        let all = std::iter::once(("sim".to_owned(), &self.sim))
            .chain(self.sims.iter().map(|(k, v)| (format!("sims.{k}"), v)));
        for (name, prices) in all {
            let mut seen = std::collections::BTreeSet::new();
            for t in &prices.volume_tiers {
                if !seen.insert(t.more_than) {
                    return Err(Error::Config(format!(
                        "price book: {name}.volume_tiers has two tiers for more than {}",
                        t.more_than
                    )));
                }
            }
        }
        Ok(self)
    }
}

/// Price books for several providers, keyed by provider name: one file prices a plan over
/// many providers.
///
/// ```
/// use simcore::charge::PriceBooks;
/// let books = PriceBooks::from_json(r#"{
///     "emnify": {"currency": "EUR", "sim": {"active_monthly": "1.50"}},
///     "sixfab": {"active_sims": 14, "assets": {"alpon": {"replaces_sim_fees": false}}}
/// }"#)?;
/// assert_eq!(books.get("emnify").unwrap().provider.as_deref(), Some("emnify"));
/// assert!(books.get("twilio").is_none());
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceBooks(BTreeMap<String, PriceBook>);

impl PriceBooks {
    /// No books.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the book of a provider.
    pub fn insert(&mut self, provider: &str, mut book: PriceBook) -> Result<()> {
        match &book.provider {
            Some(p) if !p.eq_ignore_ascii_case(provider) => {
                return Err(Error::Config(format!(
                    "the price book under {provider:?} says it is for {p:?}"
                )));
            }
            _ => book.provider = Some(lower(provider)),
        }
        self.0.insert(lower(provider), book);
        Ok(())
    }

    /// The book of a provider (by name, without regard to case).
    pub fn get(&self, provider: &str) -> Option<&PriceBook> {
        get_ci(&self.0, provider)
    }

    /// The book of a provider, or an empty one (its published prices only).
    pub fn for_provider(&self, provider: &str) -> PriceBook {
        self.get(provider).cloned().unwrap_or_default()
    }

    /// The providers with a book.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    fn from_map(map: BTreeMap<String, PriceBook>) -> Result<Self> {
        let mut books = PriceBooks::new();
        for (provider, book) in map {
            books.insert(&provider, book.checked()?)?;
        }
        Ok(books)
    }

    /// Reads books from JSON: an object keyed by provider name.
    pub fn from_json(text: &str) -> Result<Self> {
        let map = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("price books (JSON): {e}")))?;
        Self::from_map(map)
    }

    /// Reads books from TOML: a table per provider.
    #[cfg(feature = "price-book-toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "price-book-toml")))]
    pub fn from_toml(text: &str) -> Result<Self> {
        let map = toml::from_str(text)
            .map_err(|e| Error::Config(format!("price books (TOML): {}", e.message())))?;
        Self::from_map(map)
    }

    /// Reads books from a file: `.json`, or `.toml` (with the `price-book-toml` feature).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (text, format) = read(path)?;
        let books = match format {
            Format::Json => Self::from_json(&text),
            #[cfg(feature = "price-book-toml")]
            Format::Toml => Self::from_toml(&text),
        };
        books.map_err(|e| in_file(path, e))
    }
}

enum Format {
    Json,
    #[cfg(feature = "price-book-toml")]
    Toml,
}

fn read(path: &Path) -> Result<(String, Format)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("json") => Format::Json,
        #[cfg(feature = "price-book-toml")]
        Some("toml") => Format::Toml,
        #[cfg(not(feature = "price-book-toml"))]
        Some("toml") => {
            return Err(Error::Config(format!(
                "price book {}: TOML price books need simcore's `price-book-toml` feature",
                path.display()
            )));
        }
        _ => {
            return Err(Error::Config(format!(
                "price book {}: the file name must end in .json or .toml",
                path.display()
            )));
        }
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("price book {}: {e}", path.display())))?;
    Ok((text, format))
}

fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::Config(m) => Error::Config(format!("{} ({m})", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: u64) -> Money {
        Money::from_cents(c)
    }

    fn tiered() -> SimPrices {
        SimPrices {
            active_monthly: Some(m(200)),
            volume_tiers: vec![
                VolumeTier {
                    more_than: 10,
                    active_monthly: m(160),
                },
                VolumeTier {
                    more_than: 100,
                    active_monthly: m(120),
                },
            ],
            ..SimPrices::default()
        }
    }

    #[test]
    fn volume_tiers_count_what_they_say() {
        let p = tiered();
        let table = [(0, 200), (10, 200), (11, 160), (100, 160), (101, 120)];
        for (count, cents) in table {
            assert_eq!(p.active_at(count), Some(m(cents)), "{count}");
        }
        assert_eq!(SimPrices::default().active_at(5), None);
    }

    #[test]
    fn the_volume_price_is_a_range_until_the_count_is_known() {
        let p = tiered();
        let counts = "every active SIM";
        // (before, adding) -> (low, high, assumption id)
        type Row = (Option<u32>, u32, u64, u64, Option<&'static str>);
        let table: &[Row] = &[
            (None, 1, 120, 200, Some("book.volume-count")),
            (Some(3), 1, 200, 200, None),
            (Some(10), 0, 200, 200, None),
            (Some(12), 2, 160, 160, None),
            (
                Some(10),
                1,
                160,
                200,
                Some("book.volume-count-includes-change"),
            ),
            (
                Some(9),
                2,
                160,
                200,
                Some("book.volume-count-includes-change"),
            ),
            (Some(9), 1, 200, 200, None),
        ];
        for (before, adding, low, high, id) in table {
            let (range, a, input) = p
                .active_price(*before, *adding, counts, Currency::USD)
                .unwrap();
            assert_eq!(
                range,
                ChargeRange::between(m(*low), m(*high)),
                "{before:?}+{adding}"
            );
            assert_eq!(a.as_ref().map(|a| &*a.id), *id, "{before:?}+{adding}");
            let input = input.unwrap();
            match before {
                None => assert!(input.value.starts_with("not given"), "{}", input.value),
                Some(n) => assert!(input.value.starts_with(&n.to_string()), "{}", input.value),
            }
        }
        let flat = SimPrices {
            active_monthly: Some(m(150)),
            ..SimPrices::default()
        };
        let (r, a, i) = flat.active_price(None, 1, counts, Currency::USD).unwrap();
        assert_eq!((r, a, i), (ChargeRange::exact(m(150)), None, None));
        assert!(
            SimPrices::default()
                .active_price(None, 1, counts, Currency::USD)
                .is_none()
        );
        let (_, a, _) = tiered()
            .active_price(None, 1, counts, Currency::USD)
            .unwrap();
        assert!(
            a.unwrap().text.contains(
                "($2.00 a month, $1.60 above 10 active SIMs, $1.20 above 100 active SIMs)"
            )
        );
    }

    #[test]
    fn a_book_over_the_published_prices() {
        let published = PriceBook {
            provider: Some("sixfab".into()),
            currency: Some(Currency::USD),
            sims: BTreeMap::from([
                ("super_sim".into(), tiered()),
                (
                    "pro_sim".into(),
                    SimPrices {
                        active_monthly: Some(m(200)),
                        profiles: BTreeMap::from([("Europe + USA".into(), m(200))]),
                        ..SimPrices::default()
                    },
                ),
            ]),
            assets: BTreeMap::from([(
                "alpon".into(),
                AssetPrices {
                    fee: Some(m(600)),
                    ..AssetPrices::default()
                },
            )]),
            ..PriceBook::default()
        };
        let mine = PriceBook {
            active_sims: Some(14),
            sims: BTreeMap::from([(
                "PRO_SIM".into(),
                SimPrices {
                    profiles: BTreeMap::from([("asia".into(), m(450))]),
                    ..SimPrices::default()
                },
            )]),
            assets: BTreeMap::from([(
                "ALPON".into(),
                AssetPrices {
                    replaces_sim_fees: Some(false),
                    ..AssetPrices::default()
                },
            )]),
            ..PriceBook::default()
        };
        let book = mine.over(&published);
        assert_eq!(book.provider.as_deref(), Some("sixfab"));
        assert_eq!(book.active_sims, Some(14));
        let pro = book.sim_prices("pro_sim");
        assert_eq!(pro.profile("Asia"), Some(m(450)));
        assert_eq!(pro.profile("europe + usa"), Some(m(200)));
        assert_eq!(pro.active_monthly, Some(m(200)));
        let alpon = book.asset("Alpon");
        assert_eq!(
            (alpon.fee, alpon.replaces_sim_fees),
            (Some(m(600)), Some(false))
        );
        assert_eq!(book.sim_prices("super_sim").volume_tiers.len(), 2);
        assert_eq!(book.asset("gateway"), AssetPrices::default());

        // A book in euros takes none of the dollar prices.
        let euros = PriceBook {
            currency: Some(Currency::EUR),
            ..mine.clone()
        };
        let book = euros.over(&published);
        assert_eq!(book.currency(), Currency::EUR);
        assert_eq!(book.asset("alpon").fee, None);
        assert_eq!(book.sim_prices("super_sim").active_monthly, None);
        assert_eq!(book.provider.as_deref(), Some("sixfab"));

        // A base that states no currency (a provider's documented zeros) is read in the book's.
        let zeros = PriceBook {
            sim: SimPrices {
                inactive_monthly: Some(Money::ZERO),
                ..SimPrices::default()
            },
            ..PriceBook::default()
        };
        let book = euros.over(&zeros);
        assert_eq!(book.currency(), Currency::EUR);
        assert_eq!(book.sim.inactive_monthly, Some(Money::ZERO));
    }

    #[test]
    fn books_read_from_json_refuse_what_they_cannot_mean() {
        let book = PriceBook::from_json(
            r#"{"provider": "emnify", "currency": "eur", "sim": {"active_monthly": "1.50"}}"#,
        )
        .unwrap();
        assert_eq!(book.currency(), Currency::EUR);
        assert_eq!(book.sim.active_monthly, Some(m(150)));
        for (json, words) in [
            (
                r#"{"sim": {"active_monthly": 1.5}}"#,
                "may already be rounded",
            ),
            (r#"{"sim": {"actve_monthly": "1.50"}}"#, "unknown field"),
            (r#"{"curency": "EUR"}"#, "unknown field"),
            (r#"{"currency": "EURO"}"#, "three letters"),
            (
                r#"{"sim": {"active_monthly": "2", "volume_tiers": [
                    {"more_than": 10, "active_monthly": "1.6"},
                    {"more_than": 10, "active_monthly": "1.5"}]}}"#,
                "two tiers for more than 10",
            ),
        ] {
            let e = PriceBook::from_json(json).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(e.to_string().contains(words), "{json}: {e}");
        }
        let e = PriceBook::load("prices.yaml").unwrap_err();
        assert!(e.to_string().contains(".json or .toml"), "{e}");
        let back = serde_json::to_string(&book).unwrap();
        assert_eq!(PriceBook::from_json(&back).unwrap(), book);
    }

    #[test]
    fn books_for_several_providers() {
        let mut books = PriceBooks::from_json(
            r#"{"Emnify": {"sim": {"active_monthly": "1.50"}}, "sixfab": {"active_sims": 3}}"#,
        )
        .unwrap();
        assert_eq!(books.providers().collect::<Vec<_>>(), ["emnify", "sixfab"]);
        assert_eq!(
            books.get("EMNIFY").unwrap().provider.as_deref(),
            Some("emnify")
        );
        assert!(books.for_provider("edgeiq").is_empty());
        let e = PriceBooks::from_json(r#"{"emnify": {"provider": "sixfab"}}"#).unwrap_err();
        assert!(e.to_string().contains("says it is for"), "{e}");
        books.insert("twilio", PriceBook::default()).unwrap();
        assert_eq!(
            books.get("twilio").unwrap().provider.as_deref(),
            Some("twilio")
        );
    }
}
