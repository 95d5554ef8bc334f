//! How one page of `GET /assets` is read ([`ListAnswer`]) and paged ([`list_keys`]).

use std::fmt;
use std::marker::PhantomData;

use serde::de;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Asset, SnapshotAsset, value_text};

pub mod list_keys {
    //! How `GET /assets` is read and paged, in one place.
    //!
    //! **Unconfirmed:** Sixfab documents neither the shape of `GET /assets` nor its paging. This
    //! crate's reading, each part decided by one item here:
    //! - pages are asked for with the query parameters [`PAGE`] (counting from [`FIRST_PAGE`])
    //!   and [`PER_PAGE`], at most [`MAX_PAGE_SIZE`] assets a page;
    //! - the answer is a bare JSON array of assets, or an object carrying the array under one of
    //!   [`ITEMS`] (an object under one of them is read the same way, one level down), with
    //!   optional paging next to it: a next page under one of [`NEXT`] (a URL or a number; only
    //!   whether it is there counts: the client asks for the next page by number and never
    //!   follows a URL), a total under one of [`TOTAL`], a page count under one of [`PAGES`],
    //!   the page size applied under one of [`SIZE`];
    //! - the list ends at an empty page, or where that paging says (a next page, else a page
    //!   count, else a total), or, without any, at a page shorter than the page size; the page
    //!   counted is the one asked for.
    //!
    //! A page that starts with the asset the page before started with ends the listing with an
    //! error: the API then ignores these parameters, and going on would never end.

    /// The query parameter of the page number.
    pub const PAGE: &str = "page";
    /// The query parameter of the page size.
    pub const PER_PAGE: &str = "per_page";
    /// The number of the first page.
    pub const FIRST_PAGE: u32 = 1;
    /// The largest page asked for, and the default: 100, the upper bound paginated FastAPI
    /// services commonly accept (a larger one may be refused with a `422`).
    pub const MAX_PAGE_SIZE: u32 = 100;
    /// The keys an envelope may carry the assets under, tried in this order.
    pub const ITEMS: &[&str] = &["data", "items", "assets", "results"];
    /// The keys of the next page (a URL, a number, or `null` on the last page).
    pub const NEXT: &[&str] = &["next", "next_page", "next_url"];
    /// The keys of the total number of assets.
    pub const TOTAL: &[&str] = &["total", "total_count", "count"];
    /// The keys of the number of pages.
    pub const PAGES: &[&str] = &["pages", "total_pages", "page_count"];
    /// The keys of the page size the server applied.
    pub const SIZE: &[&str] = &["per_page", "page_size", "size", "limit"];
}

/// One page's answer of `GET /assets`, as this crate reads it (see [`list_keys`], all
/// **unconfirmed**): the assets and whatever paging the answer carried, which decides the list's
/// [`Page::next`](simcore::paging::Page::next) ([`ListAnswer::next_page`]) and
/// [`Page::total`](simcore::paging::Page::total).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListAnswer {
    /// The assets on this page.
    pub(crate) assets: Vec<Asset>,
    /// The page asked for (from [`list_keys::FIRST_PAGE`]).
    pub(crate) page: u32,
    /// The page size asked for.
    pub(crate) per_page: u32,
    /// Whether the answer names a next page: `Some(true)` for a URL or a number, `Some(false)`
    /// for `null` (or an empty text), `None` when it has no such key.
    pub(crate) next: Option<bool>,
    /// The total number of assets, when the answer says.
    pub(crate) total: Option<u64>,
    /// The number of pages, when the answer says.
    pub(crate) total_pages: Option<u64>,
    /// The page size the server applied, when the answer says.
    pub(crate) page_size: Option<u64>,
}

impl ListAnswer {
    /// Reads a page's body, asked as page `page` of `per_page` (see [`list_keys`]). `Err` says
    /// why the body is not a list of assets.
    pub(crate) fn from_slice(body: &[u8], page: u32, per_page: u32) -> Result<Self, String> {
        Self::read::<Asset>(body, page, per_page)
    }

    /// [`ListAnswer::from_slice`], reading of each asset only what a snapshot holds.
    pub(crate) fn from_slice_for_snapshots(
        body: &[u8],
        page: u32,
        per_page: u32,
    ) -> Result<Self, String> {
        Self::read::<SnapshotAsset>(body, page, per_page)
    }

    fn read<'a, T: Deserialize<'a> + Into<Asset>>(
        body: &'a [u8],
        page: u32,
        per_page: u32,
    ) -> Result<Self, String> {
        let raw: RawPage<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let Some(assets) = raw.assets else {
            return Err(format!(
                "not a list of sixfab assets: neither a JSON array nor an object with a list under {}",
                list_keys::ITEMS.join(", ")
            ));
        };
        Ok(ListAnswer {
            assets: assets.into_iter().map(Into::into).collect(),
            page,
            per_page,
            next: raw.next,
            total: raw.total,
            total_pages: raw.total_pages,
            page_size: raw.page_size,
        })
    }

    /// Whether a page follows this one: not after an empty page; otherwise as the answer's
    /// next page says, else its page count, else its total, else (no paging at all) whether the
    /// page is full. The page counted is the one asked for.
    pub(crate) fn has_next(&self) -> bool {
        if self.assets.is_empty() {
            return false;
        }
        if let Some(next) = self.next {
            return next;
        }
        if let Some(pages) = self.total_pages {
            return u64::from(self.page) < pages;
        }
        let size = self.page_size.unwrap_or(u64::from(self.per_page));
        let first = u64::from(list_keys::FIRST_PAGE);
        if let Some(total) = self.total {
            let seen =
                (u64::from(self.page).saturating_sub(first)) * size + self.assets.len() as u64;
            return seen < total;
        }
        self.assets.len() as u64 >= size
    }
}

/// What a page's body carried, read in one pass; `T` is how an asset is read.
struct RawPage<T> {
    assets: Option<Vec<T>>,
    next: Option<bool>,
    total: Option<u64>,
    total_pages: Option<u64>,
    page_size: Option<u64>,
}

impl<T> Default for RawPage<T> {
    fn default() -> Self {
        Self {
            assets: None,
            next: None,
            total: None,
            total_pages: None,
            page_size: None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RawPage<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PageVisitor(false, PhantomData))
    }
}

const EXPECTING: &str = "a list of assets, or an object with one";

/// Reads a page: the body (`.0` false), or the value under an items key (true), which may be
/// anything else: then it holds no list.
struct PageVisitor<T>(bool, PhantomData<T>);

impl<T> PageVisitor<T> {
    fn other<E: de::Error>(self, found: de::Unexpected<'_>) -> Result<RawPage<T>, E> {
        match self.0 {
            true => Ok(RawPage::default()),
            false => Err(E::invalid_type(found, &EXPECTING)),
        }
    }
}

impl<'de, T: Deserialize<'de>> de::Visitor<'de> for PageVisitor<T> {
    type Value = RawPage<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawPage<T>, A::Error> {
        let mut assets = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(asset) = seq.next_element::<T>()? {
            assets.push(asset);
        }
        Ok(RawPage {
            assets: Some(assets),
            ..RawPage::default()
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawPage<T>, A::Error> {
        let mut page = RawPage::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key = key.as_ref();
            if list_keys::ITEMS.contains(&key) && page.assets.is_none() {
                // A list, or an object that may hold one (and the paging) one level down.
                let inner = map.next_value_seed(PageVisitor(true, PhantomData))?;
                if inner.assets.is_some() {
                    page.assets = inner.assets;
                    page.next = page.next.or(inner.next);
                    page.total = page.total.or(inner.total);
                    page.total_pages = page.total_pages.or(inner.total_pages);
                    page.page_size = page.page_size.or(inner.page_size);
                }
            } else if list_keys::NEXT.contains(&key) {
                page.next = Some(names_a_page(map.next_value()?));
            } else if list_keys::TOTAL.contains(&key) {
                page.total = count(map.next_value()?);
            } else if list_keys::PAGES.contains(&key) {
                page.total_pages = count(map.next_value()?);
            } else if list_keys::SIZE.contains(&key) {
                page.page_size = count(map.next_value()?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(page)
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Unit)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Signed(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Unsigned(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Float(n))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<RawPage<T>, E> {
        self.other(de::Unexpected::Str(s))
    }
}

/// The value under an items key, read in place.
impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for PageVisitor<T> {
    type Value = RawPage<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawPage<T>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Whether a next-page value names a page: `null`, `false` and empty text do not; a URL, a
/// number or anything else does.
fn names_a_page(value: Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => b,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    }
}

/// A count: a whole number, or text holding one; anything else is absent.
fn count(value: Value) -> Option<u64> {
    value_text(&value)?.trim().parse().ok()
}

impl ListAnswer {
    /// The number of the page after this one, or `None` after the last (see
    /// [`has_next`](Self::has_next)).
    pub(crate) fn next_page(&self) -> Option<u32> {
        if self.has_next() {
            self.page.checked_add(1)
        } else {
            None
        }
    }
}
