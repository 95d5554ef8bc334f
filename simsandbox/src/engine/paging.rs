//! Lists a page at a time, unique fields, and a rate limit of one route.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::ops::Deref;
use std::sync::MutexGuard;

use crate::{OrderedStore, RateLimit, TokenBucket, lock};

/// How a list reads its page from a query: the parameters' names, the first page's number, and
/// the page sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRules {
    /// The page number's parameter (`"page"`).
    pub page: &'static str,
    /// The page size's parameter (`"per_page"`).
    pub size: &'static str,
    /// The first page's number (0 or 1).
    pub first: usize,
    /// The size of a page when none is asked for.
    pub default_size: usize,
    /// The largest page.
    pub max_size: usize,
}

/// A page asked for: its number and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// The page's number, from [`PageRules::first`].
    pub page: usize,
    /// The page's size.
    pub size: usize,
    /// [`PageRules::first`].
    pub first: usize,
}

/// A page parameter out of its range, as found. Its `Display` words the refusal in plain terms
/// (`page must be an integer from 1 (found "0")`); a provider with words of its own matches it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The page number is not an integer from the first page's.
    #[error("{name} must be an integer from {first} (found {value:?})")]
    Page {
        /// The parameter's name.
        name: &'static str,
        /// [`PageRules::first`].
        first: usize,
        /// The value found.
        value: String,
    },
    /// The page size is not an integer from 1 to the largest.
    #[error("{name} must be an integer from 1 to {max} (found {value:?})")]
    Size {
        /// The parameter's name.
        name: &'static str,
        /// [`PageRules::max_size`].
        max: usize,
        /// The value found.
        value: String,
    },
}

impl PageRules {
    /// The first page, of the default size.
    pub fn start(&self) -> PageQuery {
        PageQuery {
            page: self.first,
            size: self.default_size,
            first: self.first,
        }
    }

    /// Reads one query parameter into `ask`: `None` if `key` is not a page parameter, else
    /// whether its value is in range.
    ///
    /// ```
    /// use simsandbox::engine::{PageError, PageRules};
    /// let rules = PageRules { page: "page", size: "per_page", first: 1, default_size: 10, max_size: 100 };
    /// let mut ask = rules.start();
    /// assert_eq!(rules.read(&mut ask, "page", "3"), Some(Ok(())));
    /// let refused = rules.read(&mut ask, "per_page", "101").unwrap().unwrap_err();
    /// assert_eq!(refused.to_string(), r#"per_page must be an integer from 1 to 100 (found "101")"#);
    /// assert_eq!(rules.read(&mut ask, "status", "active"), None);
    /// assert_eq!((ask.page, ask.size, ask.offset()), (3, 10, 20));
    /// ```
    pub fn read(
        &self,
        ask: &mut PageQuery,
        key: &str,
        value: &str,
    ) -> Option<Result<(), PageError>> {
        let n = value.parse::<usize>().ok();
        if key == self.page {
            Some(match n {
                Some(n) if n >= self.first => {
                    ask.page = n;
                    Ok(())
                }
                _ => Err(PageError::Page {
                    name: self.page,
                    first: self.first,
                    value: value.to_owned(),
                }),
            })
        } else if key == self.size {
            Some(match n {
                Some(n) if (1..=self.max_size).contains(&n) => {
                    ask.size = n;
                    Ok(())
                }
                _ => Err(PageError::Size {
                    name: self.size,
                    max: self.max_size,
                    value: value.to_owned(),
                }),
            })
        } else {
            None
        }
    }
    /// Reads a query's pairs: the page asked for, the page parameters out of range, and the other
    /// pairs (filters, options), in order.
    pub fn read_query(
        &self,
        pairs: Vec<(String, String)>,
    ) -> (PageQuery, Vec<PageError>, Vec<(String, String)>) {
        let (mut ask, mut errors, mut rest) = (self.start(), Vec::new(), Vec::new());
        for (key, value) in pairs {
            match self.read(&mut ask, &key, &value) {
                Some(Ok(())) => {}
                Some(Err(e)) => errors.push(e),
                None => rest.push((key, value)),
            }
        }
        (ask, errors, rest)
    }
}

impl PageQuery {
    /// How many records come before the page.
    pub fn offset(&self) -> usize {
        (self.page - self.first).saturating_mul(self.size)
    }
}

/// A field that no two records may share (an ICCID): which records hold each value. Seeds may be
/// stored unchecked, so a value may be held by more than one.
#[derive(Debug)]
pub struct Index<K> {
    holders: Mutex<HashMap<String, Vec<K>>>,
}

impl<K> Default for Index<K> {
    fn default() -> Self {
        Self {
            holders: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> Index<K> {
    /// Records that `key` now holds `new` instead of `old`.
    pub fn replace(&self, key: &K, old: Option<&str>, new: Option<&str>) {
        let mut holders = lock(&self.holders);
        if let Some(old) = old {
            if let Some(keys) = holders.get_mut(old) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    holders.remove(old);
                }
            }
        }
        if let Some(new) = new {
            holders.entry(new.to_owned()).or_default().push(key.clone());
        }
    }

    /// Whether a record other than `key` holds `value`.
    pub fn held_by_other(&self, value: &str, key: &K) -> bool {
        lock(&self.holders)
            .get(value)
            .is_some_and(|keys| keys.iter().any(|k| k != key))
    }
}

/// Records in key order ([`OrderedStore`], which it derefs to) with one field no two records may
/// share (an ICCID), kept in an [`Index`] as records are stored, and a write lock that makes a
/// uniqueness check and the write that follows it one step.
#[derive(Debug)]
pub struct Table<K, V> {
    records: OrderedStore<K, V>,
    unique: Index<K>,
    field: fn(&V) -> Option<String>,
    writes: Mutex<()>,
}

impl<K: Ord + Hash + Clone, V: Clone> Table<K, V> {
    /// An empty table whose unique field `field` reads.
    pub fn new(field: fn(&V) -> Option<String>) -> Self {
        Self {
            records: OrderedStore::new(),
            unique: Index::default(),
            field,
            writes: Mutex::new(()),
        }
    }

    /// Takes the write lock: hold it from a uniqueness check to the [`store`](Self::store).
    pub fn write(&self) -> MutexGuard<'_, ()> {
        lock(&self.writes)
    }

    /// Stores a record (replacing the one under `key`) and keeps the index.
    pub fn store(&self, key: K, value: V) {
        let new = (self.field)(&value);
        let old = self.records.insert(key.clone(), value);
        let old = old.as_ref().and_then(self.field);
        self.unique.replace(&key, old.as_deref(), new.as_deref());
    }

    /// Whether a record other than `key` holds `value` in the unique field.
    pub fn taken(&self, value: &str, key: &K) -> bool {
        self.unique.held_by_other(value, key)
    }
}

impl<K, V> Deref for Table<K, V> {
    type Target = OrderedStore<K, V>;

    fn deref(&self) -> &OrderedStore<K, V> {
        &self.records
    }
}

/// A rate limit of one route, besides the server-wide one: a token bucket that can be changed or
/// lifted while the sandbox runs, and a count of the requests it refused.
#[derive(Debug, Default)]
pub struct PathLimit {
    bucket: Mutex<Option<TokenBucket>>,
    refused: AtomicU64,
}

impl PathLimit {
    /// A limit (none: every request passes).
    pub fn new(limit: Option<RateLimit>) -> Self {
        Self {
            bucket: Mutex::new(limit.map(TokenBucket::new)),
            refused: AtomicU64::new(0),
        }
    }

    /// Changes or lifts the limit, with a full bucket.
    pub fn set(&self, limit: Option<RateLimit>) {
        *lock(&self.bucket) = limit.map(TokenBucket::new);
    }

    /// Whether one more request is over the limit now (counted as refused if it is).
    pub fn over(&self) -> bool {
        let over = lock(&self.bucket)
            .as_mut()
            .is_some_and(|b| b.take().is_err());
        if over {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        over
    }

    /// How many requests the limit refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}
