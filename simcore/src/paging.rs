//! Paged lists: where a listing stands ([`PagePosition`]), so that one interrupted by an error
//! can resume from the page that failed rather than from the first; and lists whose pages are
//! numbered (`?page=1`, `2`, …), read as a stream of pages.
//!
//! emnify, Sixfab and EdgeIQ page their lists by number. [`numbered_pages`] reads them one after
//! another, the same way for each: the first error ends the stream after it is yielded, the page
//! that says it is the last ends it, and a page that starts with the item the page before started
//! with ends it with [`Error::Invalid`]: an API that ignores the page asked for would otherwise
//! be read for ever. [`numbered_pages_positioned`] reads them the same way and says, with each
//! page, the number of the page after it.
//!
//! # Resuming
//! Super SIM pages by a link to the next page (a page token); the others by number. Either way
//! the page to read next is a [`PagePosition`]. [`SnapshotPages`](crate::SnapshotPages), what
//! [`SimProvider::list`](crate::SimProvider::list) returns, keeps the position as it reads:
//! after an error, [`SnapshotPages::position`](crate::SnapshotPages::position) is the page that
//! failed, and [`ListOptions::resume_from`](crate::ListOptions::resume_from) starts a new
//! listing there.
//!
//! ```
//! use futures_util::TryStreamExt;
//! use simcore::paging::{NumberedPage, numbered_pages};
//!
//! struct Page { items: Vec<u32>, last: bool }
//! impl NumberedPage for Page {
//!     type Key = u32;
//!     fn first_key(&self) -> Option<u32> { self.items.first().copied() }
//!     fn next_page(&self, this: u32) -> Option<u32> { (!self.last).then(|| this + 1) }
//! }
//! // A list of three pages of two.
//! let read = |list: (), n: u32| async move {
//!     let page = Page { items: vec![2 * n, 2 * n + 1], last: n == 3 };
//!     (list, Ok(page))
//! };
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let pages: Vec<Page> = numbered_pages((), 1, "page", "must not repeat the page before", read)
//!     .try_collect()
//!     .await?;
//! assert_eq!(pages.iter().flat_map(|p| p.items.clone()).collect::<Vec<_>>(), [2, 3, 4, 5, 6, 7]);
//! # Ok::<(), simcore::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::future::Future;

use futures_util::stream::{self, Stream, StreamExt};

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

/// A page of a numbered list: what tells its first item apart, and the number of the page after
/// it.
pub trait NumberedPage {
    /// What identifies an item (its id).
    type Key: PartialEq + Send;

    /// The key of the page's first item (`None`: an empty page).
    fn first_key(&self) -> Option<Self::Key>;

    /// The number of the page after this one, page `this`; `None` on the last page.
    fn next_page(&self, this: u32) -> Option<u32>;
}

/// Pages `first`, then each page's next, read by `read` (which takes the list and hands it back
/// with the page, so it can borrow it while reading).
///
/// A page starting with the item the page before started with ends the stream with
/// [`Error::Invalid`] for `field`, with `rule` and the page number: the API ignored the page asked
/// for.
pub fn numbered_pages<L, P, F, Fut>(
    list: L,
    first: u32,
    field: &'static str,
    rule: &'static str,
    read: F,
) -> impl Stream<Item = Result<P>> + Send + 'static
where
    L: Send + 'static,
    P: NumberedPage + Send + 'static,
    F: Fn(L, u32) -> Fut + Send + 'static,
    Fut: Future<Output = (L, Result<P>)> + Send,
{
    numbered_pages_positioned(list, first, field, rule, read).map(|r| r.map(|(page, _)| page))
}

/// [`numbered_pages`], each page with the number of the page after it (`None` after the last):
/// what a resumable listing ([`SnapshotPages::resumable`](crate::SnapshotPages::resumable))
/// keeps as its position. Start at `first` to resume there.
pub fn numbered_pages_positioned<L, P, F, Fut>(
    list: L,
    first: u32,
    field: &'static str,
    rule: &'static str,
    read: F,
) -> impl Stream<Item = Result<(P, Option<u32>)>> + Send + 'static
where
    L: Send + 'static,
    P: NumberedPage + Send + 'static,
    F: Fn(L, u32) -> Fut + Send + 'static,
    Fut: Future<Output = (L, Result<P>)> + Send,
{
    stream::try_unfold(
        (list, read, Some(first), None::<P::Key>),
        move |(list, read, next, previous_first)| async move {
            let Some(n) = next else {
                return Ok(None);
            };
            let (list, page) = read(list, n).await;
            let page = page?;
            let first = page.first_key();
            if first.is_some() && first == previous_first {
                return Err(Error::Invalid(ValidationError::new(
                    field,
                    rule,
                    n.to_string(),
                )));
            }
            let next = page.next_page(n);
            Ok(Some(((page, next), (list, read, next, first))))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    struct Page(Vec<u32>, Option<u32>);
    impl NumberedPage for Page {
        type Key = u32;
        fn first_key(&self) -> Option<u32> {
            self.0.first().copied()
        }
        fn next_page(&self, _: u32) -> Option<u32> {
            self.1
        }
    }

    fn run(pages: Vec<Result<Page>>) -> Vec<std::result::Result<Vec<u32>, String>> {
        let pages = std::sync::Arc::new(std::sync::Mutex::new(pages.into_iter()));
        let read = move |list: (), _n: u32| {
            let next = pages.lock().unwrap().next().expect("asked past the end");
            async move { (list, next) }
        };
        let s = numbered_pages((), 1, "page", "must not repeat the page before", read);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(
                s.map(|r| r.map(|p| p.0).map_err(|e| e.to_string()))
                    .collect(),
            )
    }

    #[test]
    fn pages_until_the_last_an_error_or_a_repeat() {
        // Until the page that says it is the last.
        assert_eq!(
            run(vec![Ok(Page(vec![1, 2], Some(2))), Ok(Page(vec![3], None))]),
            [Ok(vec![1, 2]), Ok(vec![3])]
        );
        // An error ends it after it is yielded.
        let out = run(vec![
            Ok(Page(vec![1], Some(2))),
            Err(Error::Invalid(ValidationError::new("x", "y", "z"))),
        ]);
        assert_eq!(out.len(), 2);
        assert!(out[1].is_err());
        // A page that repeats the one before ends it, naming the page.
        let out = run(vec![Ok(Page(vec![1], Some(2))), Ok(Page(vec![1], Some(3)))]);
        assert_eq!(
            out[1].as_ref().unwrap_err(),
            "invalid page: must not repeat the page before (found 2)"
        );
        assert_eq!(out.len(), 2);
        // Empty pages never count as repeats.
        assert_eq!(
            run(vec![Ok(Page(vec![], Some(2))), Ok(Page(vec![], None))]),
            [Ok(vec![]), Ok(vec![])]
        );
    }
}
