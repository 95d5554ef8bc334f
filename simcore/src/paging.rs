//! One list implementation for every provider: [`Page<T>`], where a listing stands
//! ([`PagePosition`]), and [`read_pages`], which every client's list verbs
//! ([`list_methods!`](crate::list_methods): `first_page`, `pages`, `stream`, `collect_all`,
//! `resume_from`) are built on.
//!
//! A list builder implements [`PageSource`]: how to read the page at a position, and what tells
//! its items apart. [`read_pages`] reads one page after another, the same way for each provider:
//! the first error ends the stream after it is yielded, a page with no `next` ends it, and a page
//! that starts with the item the page before started with (or names itself as the next) ends it
//! with [`Error::Invalid`]: an API that ignores the page asked for would otherwise be read for
//! ever.
//!
//! # Resuming
//! Super SIM pages by a link to the next page (a page token); the others by number. Either way
//! the page to read next is a [`PagePosition`]: each [`Page::next`], and the position a list's
//! `resume_from` starts at. [`SnapshotPages`](crate::SnapshotPages), what
//! [`SimProvider::list`](crate::SimProvider::list) returns, keeps the position as it reads:
//! after an error, [`SnapshotPages::position`](crate::SnapshotPages::position) is the page that
//! failed, and [`ListOptions::resume_from`](crate::ListOptions::resume_from) starts a new
//! listing there. An example is at [`list_methods!`](crate::list_methods).

use std::fmt;
use std::future::Future;

use futures_util::stream::{self, Stream};

use crate::error::{Error, Result};
use crate::validate::ValidationError;

/// The page of a listing to read next: where an interrupted listing resumes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PagePosition {
    /// A numbered page (emnify, Sixfab, EdgeIQ: `?page=N`, from 1).
    Number(u32),
    /// A page the provider names by a token or a link (Super SIM's `meta.next_page_url`).
    Token(String),
}

impl fmt::Display for PagePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PagePosition::Number(n) => write!(f, "page {n}"),
            PagePosition::Token(t) => write!(f, "the page at {t}"),
        }
    }
}

impl PagePosition {
    /// The page number, for a list paged by number; a token is refused for `field` (nothing is
    /// sent): it belongs to a list paged by link.
    pub fn number(&self, field: &'static str) -> Result<u32> {
        match self {
            PagePosition::Number(n) if *n >= 1 => Ok(*n),
            PagePosition::Number(n) => {
                Err(ValidationError::new(field, "pages count from 1", n.to_string()).into())
            }
            PagePosition::Token(t) => Err(ValidationError::new(
                field,
                "this list is paged by number: resume from a page number",
                format!("a token ({} characters)", t.chars().count()),
            )
            .into()),
        }
    }
}

/// One page of any provider's list: its items, and where the page after it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items on this page, in the provider's order.
    pub items: Vec<T>,
    /// The page after this one (`None` on the last page): where a listing resumes
    /// ([`PagePosition`]).
    pub next: Option<PagePosition>,
    /// How many items the whole list has, when the provider says.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// A page of `items` followed by the page at `next` (`None`: the last page).
    pub fn new(items: Vec<T>, next: Option<PagePosition>) -> Self {
        Self {
            items,
            next,
            total: None,
        }
    }

    /// Sets how many items the whole list has.
    pub fn with_total(mut self, total: Option<u64>) -> Self {
        self.total = total;
        self
    }

    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        self.next.is_some()
    }

    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            total: self.total,
        }
    }
}

/// A provider's list, as the one paging implementation reads it: how to read the page at a
/// position, and what tells its items apart. A list builder implements it and gets the list
/// verbs (`first_page`, `pages`, `stream`, `collect_all`, `resume_from`) from
/// [`list_methods!`](crate::list_methods).
pub trait PageSource: Clone + Send + Sync + 'static {
    /// What the list holds.
    type Item: Send + 'static;

    /// Reads the page at `at`; `None` is the first page.
    fn read_page(
        &self,
        at: Option<&PagePosition>,
    ) -> impl Future<Output = Result<Page<Self::Item>>> + Send;

    /// What identifies an item (its id): a page that starts with the item the page before
    /// started with means the server ignored the page asked for.
    fn key(item: &Self::Item) -> String;
}

/// Every page of `source` from `start` (`None`: the first page), each page followed by the
/// one its `next` names, until a page has none.
///
/// An error ends the stream after it is yielded. A page that starts with the item the page
/// before started with, or that names itself as the next, ends it with [`Error::Invalid`] for
/// `page`: a server that ignores the page asked for would otherwise be read for ever.
pub fn read_pages<S: PageSource>(
    source: S,
    start: Option<PagePosition>,
) -> impl Stream<Item = Result<Page<S::Item>>> + Send + 'static {
    stream::try_unfold(
        (source, Some(start), None::<String>),
        |(source, at, previous_first)| async move {
            let Some(at) = at else {
                return Ok(None);
            };
            let page = source.read_page(at.as_ref()).await?;
            let first = page.items.first().map(S::key);
            let repeats = first.is_some() && first == previous_first;
            if repeats || (page.next.is_some() && page.next == at) {
                let found = at.map_or_else(|| "the first page".to_owned(), |p| p.to_string());
                return Err(Error::Invalid(ValidationError::new(
                    "page",
                    "must not repeat the page before (the server ignored the page asked for)",
                    found,
                )));
            }
            let next = page.next.clone().map(Some);
            Ok(Some((page, (source, next, first))))
        },
    )
}

/// Adds the list verbs every list builder offers, over [`read_pages`]: `resume_from`,
/// `first_page`, `pages`, `stream` and `collect_all`. The builder implements [`PageSource`]
/// with `Item = $item` and has a field `start: Option<simcore::paging::PagePosition>`.
///
/// ```
/// use simcore::paging::{Page, PagePosition, PageSource};
///
/// /// A list of the numbers 0 to 5, three a page.
/// #[derive(Clone)]
/// pub struct Numbers {
///     start: Option<PagePosition>,
/// }
/// impl PageSource for Numbers {
///     type Item = u32;
///     async fn read_page(&self, at: Option<&PagePosition>) -> simcore::Result<Page<u32>> {
///         let n = at.map_or(Ok(1), |p| p.number("page"))?;
///         let next = (n < 2).then_some(PagePosition::Number(n + 1));
///         Ok(Page::new((3 * (n - 1)..3 * n).collect(), next))
///     }
///     fn key(item: &u32) -> String {
///         item.to_string()
///     }
/// }
/// impl Numbers {
///     simcore::list_methods!(u32);
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let all = Numbers { start: None }.collect_all().await?;
/// assert_eq!(all, [0, 1, 2, 3, 4, 5]);
/// let rest = Numbers { start: None }.resume_from(PagePosition::Number(2)).first_page().await?;
/// assert_eq!((rest.items, rest.next), (vec![3, 4, 5], None));
/// # Ok::<(), simcore::Error>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! list_methods {
    ($item:ty) => {
        /// Starts the listing at `position` (a page's `next`, or where an interrupted listing
        /// stopped) in place of the first page. Keep the page size and filters the interrupted
        /// listing had: a position counts pages of that size.
        pub fn resume_from(mut self, position: $crate::paging::PagePosition) -> Self {
            self.start = ::std::option::Option::Some(position);
            self
        }

        /// Reads one page: the first, or the one [`resume_from`](Self::resume_from) names.
        pub async fn first_page(&self) -> $crate::Result<$crate::paging::Page<$item>> {
            $crate::paging::PageSource::read_page(self, self.start.as_ref()).await
        }

        /// Every page, from the first (or the one [`resume_from`](Self::resume_from) names) to
        /// the last. An error ends the stream after it is yielded; each page's `next` is where
        /// a listing interrupted after it resumes.
        pub fn pages(
            self,
        ) -> impl $crate::__private::Stream<Item = $crate::Result<$crate::paging::Page<$item>>>
        + ::std::marker::Send
        + 'static {
            let start = self.start.clone();
            $crate::paging::read_pages(self, start)
        }

        /// Every item on every page, one at a time.
        pub fn stream(
            self,
        ) -> impl $crate::__private::Stream<Item = $crate::Result<$item>> + ::std::marker::Send + 'static
        {
            $crate::paging::items(self.pages())
        }

        /// Every item on every page, collected.
        pub async fn collect_all(self) -> $crate::Result<::std::vec::Vec<$item>> {
            $crate::paging::collect(self.pages()).await
        }
    };
}

/// The items of a stream of pages, one at a time (what `stream()` of every list returns).
pub fn items<T: Send + 'static>(
    pages: impl Stream<Item = Result<Page<T>>> + Send + 'static,
) -> impl Stream<Item = Result<T>> + Send + 'static {
    use futures_util::TryStreamExt as _;
    pages
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

/// Every item of a stream of pages, collected (what `collect_all()` of every list returns).
pub async fn collect<T: Send + 'static>(
    pages: impl Stream<Item = Result<Page<T>>> + Send + 'static,
) -> Result<Vec<T>> {
    use futures_util::TryStreamExt as _;
    let mut out = Vec::new();
    let mut pages = std::pin::pin!(pages);
    while let Some(page) = pages.try_next().await? {
        out.extend(page.items);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list served from memory, `sizes[i]` items on page `i + 1`; `ignore_page` serves the
    /// first page whatever is asked.
    #[derive(Clone)]
    struct Served {
        sizes: Vec<usize>,
        ignore_page: bool,
    }

    impl PageSource for Served {
        type Item = usize;
        async fn read_page(&self, at: Option<&PagePosition>) -> Result<Page<usize>> {
            let n = at.map_or(Ok(1), |p| p.number("page"))? as usize;
            let n = if self.ignore_page { 1 } else { n };
            let before: usize = self.sizes[..n - 1].iter().sum();
            let next = (n < self.sizes.len()).then(|| PagePosition::Number(n as u32 + 1));
            Ok(Page::new(
                (before..before + self.sizes[n - 1]).collect(),
                next,
            ))
        }
        fn key(item: &usize) -> String {
            item.to_string()
        }
    }

    fn read_all(source: Served, start: Option<PagePosition>) -> Result<Vec<usize>> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(collect(read_pages(source, start)))
    }

    proptest::proptest! {
        /// Every item once, in order, whatever the page sizes; resuming at page `k` reads the
        /// items from that page on.
        #[test]
        fn every_item_once_and_resuming_skips_only_the_pages_before(
            sizes in proptest::collection::vec(0usize..5, 1..8),
            k in 1usize..8,
        ) {
            let total: usize = sizes.iter().sum();
            let all = read_all(Served { sizes: sizes.clone(), ignore_page: false }, None).unwrap();
            proptest::prop_assert_eq!(all, (0..total).collect::<Vec<_>>());
            let k = k.min(sizes.len());
            let before: usize = sizes[..k - 1].iter().sum();
            let rest = read_all(
                Served { sizes, ignore_page: false },
                Some(PagePosition::Number(k as u32)),
            )
            .unwrap();
            proptest::prop_assert_eq!(rest, (before..total).collect::<Vec<_>>());
        }

        /// A server that ignores the page asked for ends the listing with a refusal naming the
        /// page, never an endless read.
        #[test]
        fn a_server_ignoring_the_page_ends_the_listing(
            first in 1usize..5,
            more in proptest::collection::vec(1usize..5, 1..6),
        ) {
            let mut sizes = vec![first];
            sizes.extend(more);
            let err = read_all(Served { sizes, ignore_page: true }, None).unwrap_err();
            proptest::prop_assert_eq!(
                err.to_string(),
                "invalid page: must not repeat the page before (the server ignored the page \
                 asked for) (found page 2)"
            );
        }
    }
}
