//! The [`SimProvider`] trait: one interface over every provider.
//!
//! Each provider crate implements it on its `Client`, so a service can hold a
//! `Vec<Arc<dyn SimProvider>>` and activate, suspend or rename SIMs without knowing which provider
//! is behind each one. The provider-native APIs (builders with every field the provider offers) stay
//! available on each client; this trait is the common ground.
//!
//! ```
//! use std::sync::Arc;
//! use simcore::{Applied, CallOptions, Lifecycle, SimChange, SimProvider, SimSnapshot, SimState};
//!
//! # #[derive(Debug)] struct Fake;
//! # #[async_trait::async_trait]
//! # impl SimProvider for Fake {
//! #     fn name(&self) -> &'static str { "fake" }
//! #     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//! #     async fn fetch_with(&self, id: &str, _: &CallOptions) -> simcore::Result<SimSnapshot> {
//! #         Ok(SimSnapshot::new("fake", id, SimState::Inactive))
//! #     }
//! #     async fn apply_with(&self, id: &str, change: &SimChange, _: &CallOptions) -> simcore::Result<Applied> {
//! #         Ok(Applied::Done(Some(SimSnapshot::new("fake", id, change.state.clone().unwrap()))))
//! #     }
//! #     fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
//! #         simcore::SnapshotPages::new(futures_util::stream::empty())
//! #     }
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let providers: Vec<Arc<dyn SimProvider>> = vec![Arc::new(Fake)];
//! for p in &providers {
//!     let change = SimChange::new().state(SimState::Active);
//!     match p.apply("sim-1", &change).await? {
//!         Applied::Done(Some(sim)) => println!("{}: {} is {}", p.name(), sim.id, sim.state),
//!         Applied::Done(None) => println!("{}: done", p.name()),
//!         Applied::Pending(_) => println!("{}: accepted, applied later", p.name()),
//!         Applied::Unchanged => println!("{}: already so, nothing sent", p.name()),
//!     }
//! }
//! # Ok::<(), simcore::Error>(())
//! # }).unwrap();
//! ```

use std::fmt::Debug;

use async_trait::async_trait;

use crate::call::CallOptions;
use crate::charge::{Estimate, Pricing};
use crate::error::Result;
use crate::paging::PagePosition;
use crate::state::{Lifecycle, SimState};
use crate::validate::{SimName, ValidationError};

/// A provider's stable id: what [`SimProvider::name`] returns, what snapshots, plans and rows
/// carry. Super SIM is `supersim` whichever API serves it (Twilio's or KORE's: its client reports
/// the dialect apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProviderId {
    /// Super SIM, served by Twilio or by KORE (`"supersim"`).
    SuperSim,
    /// emnify (`"emnify"`).
    Emnify,
    /// Sixfab (`"sixfab"`).
    Sixfab,
    /// EdgeIQ (`"edgeiq"`).
    EdgeIq,
}

impl ProviderId {
    /// Every id, in the order the docs list them.
    pub const ALL: [ProviderId; 4] = [
        ProviderId::SuperSim,
        ProviderId::Emnify,
        ProviderId::Sixfab,
        ProviderId::EdgeIq,
    ];

    /// Reads a provider id, or one of its aliases, without regard to case, spaces, `-`, `_` or
    /// `.`: `"Super-SIM"`, `"EMNIFY"`, `"Edge IQ"`; Super SIM's dialect names (`"twilio"`,
    /// `"kore"`) stand for Super SIM. `None` for a name that is no provider's.
    ///
    /// ```
    /// use simcore::ProviderId;
    /// assert_eq!(ProviderId::parse("Super-SIM"), Some(ProviderId::SuperSim));
    /// assert_eq!(ProviderId::parse("KORE"), Some(ProviderId::SuperSim));
    /// assert_eq!(ProviderId::parse(" EMNIFY "), Some(ProviderId::Emnify));
    /// assert_eq!(ProviderId::parse("acme"), None);
    /// ```
    pub fn parse(name: &str) -> Option<ProviderId> {
        let folded: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '-' | '_' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match folded.as_str() {
            "supersim" | "twilio" | "twiliosupersim" | "kore" | "korewireless" | "koresupersim" => {
                ProviderId::SuperSim
            }
            "emnify" => ProviderId::Emnify,
            "sixfab" => ProviderId::Sixfab,
            "edgeiq" => ProviderId::EdgeIq,
            _ => return None,
        })
    }

    /// The id: `"supersim"`, `"emnify"`, `"sixfab"`, `"edgeiq"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::SuperSim => "supersim",
            ProviderId::Emnify => "emnify",
            ProviderId::Sixfab => "sixfab",
            ProviderId::EdgeIq => "edgeiq",
        }
    }

    /// Whether a provider that gives itself the name `provider_name`
    /// ([`SimProvider::name`]) is the one this id stands for.
    pub fn stands_for(self, provider_name: &str) -> bool {
        self.as_str() == provider_name
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIM as every provider can describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimSnapshot {
    /// The provider's stable id (`"supersim"`, `"emnify"`, …: [`ProviderId`]).
    pub provider: &'static str,
    /// The id the provider knows the SIM by (the one to pass back to [`SimProvider`] methods).
    pub id: String,
    /// The ICCID, when the provider reports it (as reported: some omit the Luhn digit).
    pub iccid: Option<String>,
    /// The canonical state.
    pub state: SimState,
    /// The provider's own word for the status (`"scheduled"`, `"Suspended"`, a carrier string).
    pub native_status: Option<String>,
    /// The display name, where the provider has one.
    pub display_name: Option<String>,
    /// Other ids the provider accepts for this SIM in place of [`id`](Self::id) (a Super SIM's
    /// unique name; a Sixfab asset's serial number, UUID, SIM SIDs and ICCIDs). A plan matches
    /// its rows against them when it reads a listing.
    pub aliases: Vec<String>,
}

impl SimSnapshot {
    /// A snapshot with an id and a state; other fields empty.
    pub fn new(provider: &'static str, id: impl Into<String>, state: SimState) -> Self {
        Self {
            provider,
            id: id.into(),
            iccid: None,
            state,
            native_status: None,
            display_name: None,
            aliases: Vec::new(),
        }
    }

    /// Adds an id the provider also accepts for this SIM (see [`aliases`](Self::aliases)).
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        let alias = alias.into();
        if !alias.is_empty() && alias != self.id && !self.aliases.contains(&alias) {
            self.aliases.push(alias);
        }
        self
    }

    /// Whether `id` names this SIM: its id or one of its aliases.
    pub fn answers_to(&self, id: &str) -> bool {
        self.id == id || self.aliases.iter().any(|a| a == id)
    }

    /// Sets the ICCID.
    pub fn with_iccid(mut self, iccid: impl Into<String>) -> Self {
        self.iccid = Some(iccid.into());
        self
    }

    /// Sets the provider's own status word.
    pub fn with_native_status(mut self, status: impl Into<String>) -> Self {
        self.native_status = Some(status.into());
        self
    }

    /// Sets the display name.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

/// What to change on a SIM, in canonical terms. Fields left `None` are left alone.
///
/// Build it with the chained setters:
/// ```
/// use simcore::{DisplayName, SimChange, SimState};
/// let change = SimChange::new()
///     .state(SimState::Inactive)
///     .display_name(DisplayName::parse("pump 7")?)
///     .known_state(SimState::Active);
/// assert!(!change.is_empty());
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimChange {
    /// The target state.
    pub state: Option<SimState>,
    /// The new name (each provider holds it to its own rule; providers without names refuse
    /// it with a typed error).
    pub display_name: Option<SimName>,
    /// The SIM's current state, when the caller knows it: the transition is then checked against
    /// the provider's lifecycle before anything is sent.
    pub known_state: Option<SimState>,
}

impl SimChange {
    /// An empty change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the target state.
    pub fn state(mut self, state: SimState) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets the name: a [`SimName`], or a [`DisplayName`](crate::DisplayName).
    pub fn display_name(mut self, name: impl Into<SimName>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Declares the current state, so the transition is checked before sending.
    pub fn known_state(mut self, state: SimState) -> Self {
        self.known_state = Some(state);
        self
    }

    /// Whether the change sets nothing (providers refuse an empty change before sending).
    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.display_name.is_none()
    }

    /// Whether the target state is the one the SIM is known to be in: that part of the change
    /// needs no request (and is never an error).
    pub fn state_already_there(&self) -> bool {
        self.state.is_some() && self.state == self.known_state
    }

    /// Whether the change asks for nothing the SIM does not already have, as far as is known:
    /// its target state is the known one and it sets no name. Providers answer it with
    /// [`Applied::Unchanged`] and send nothing.
    pub fn is_noop(&self) -> bool {
        self.state_already_there() && self.display_name.is_none()
    }

    /// The state to send: `None` when the SIM is known to be in it already.
    pub fn state_to_send(&self) -> Option<&SimState> {
        if self.state_already_there() {
            None
        } else {
            self.state.as_ref()
        }
    }
}

/// What an update did: one shape for every provider and every client.
///
/// `T` is what the provider returns for the resource: a provider's own model on its native
/// client, [`SimSnapshot`] through [`SimProvider`] (where it is [`Applied`]). The enum is the
/// SDK's own and exhaustive, so a `match` names its three cases and needs no `_`:
///
/// ```
/// use simcore::Updated;
/// fn says(u: &Updated<String>) -> String {
///     match u {
///         Updated::Done(Some(sim)) => format!("done: {sim}"),
///         Updated::Done(None) => "done (the provider returned no body)".to_owned(),
///         Updated::Pending(_) => "accepted, applied later".to_owned(),
///         Updated::Unchanged => "already so: nothing sent".to_owned(),
///     }
/// }
/// assert_eq!(says(&Updated::Done(Some("sim-1".to_owned()))), "done: sim-1");
/// assert_eq!(says(&Updated::Unchanged), "already so: nothing sent");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated<T> {
    /// Applied. The resource as the provider returned it, when its answer carried one (emnify
    /// answers `204` with no body: fetch to see the SIM).
    Done(Option<T>),
    /// Accepted and applied later (Twilio's `202` with `scheduled`). The resource as the
    /// provider returned it, when its answer carried one.
    Pending(Option<T>),
    /// Nothing was sent: the resource is known to be as the update asks already.
    Unchanged,
}

impl<T> Updated<T> {
    /// The resource, when the provider returned one.
    pub fn resource(&self) -> Option<&T> {
        match self {
            Updated::Done(r) | Updated::Pending(r) => r.as_ref(),
            Updated::Unchanged => None,
        }
    }

    /// The resource, owned, when the provider returned one.
    pub fn into_resource(self) -> Option<T> {
        match self {
            Updated::Done(r) | Updated::Pending(r) => r,
            Updated::Unchanged => None,
        }
    }

    /// Whether the update was accepted to be applied later.
    pub fn is_pending(&self) -> bool {
        matches!(self, Updated::Pending(_))
    }

    /// Whether a request was sent (everything but [`Updated::Unchanged`]).
    pub fn was_sent(&self) -> bool {
        !matches!(self, Updated::Unchanged)
    }

    /// The same answer with the resource mapped (a provider's model into a [`SimSnapshot`]).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Updated<U> {
        match self {
            Updated::Done(r) => Updated::Done(r.map(f)),
            Updated::Pending(r) => Updated::Pending(r.map(f)),
            Updated::Unchanged => Updated::Unchanged,
        }
    }
}

/// What [`SimProvider::apply`] did: [`Updated`] with the SIM in canonical terms.
pub type Applied = Updated<SimSnapshot>;

impl Applied {
    /// The snapshot, when the provider returned one.
    pub fn snapshot(&self) -> Option<&SimSnapshot> {
        self.resource()
    }
}

/// How a listing is read (see [`SimProvider::list`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// SIMs per page; `None` leaves the provider's largest page (fewest requests).
    pub page_size: Option<u32>,
    /// The page to start at, to resume a listing an error interrupted
    /// ([`SnapshotPages::position`]); `None` starts at the first page. Keep the page size the
    /// interrupted listing had: a page number counts pages of that size.
    pub resume: Option<PagePosition>,
    /// Each page request's deadline and attempts cap ([`CallOptions`]).
    pub call: CallOptions,
}

impl ListOptions {
    /// Default options: the provider's largest page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the page size.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Starts at `position` (see [`resume`](Self::resume)).
    pub fn resume_from(mut self, position: PagePosition) -> Self {
        self.resume = Some(position);
        self
    }

    /// Sets each page request's deadline and attempts cap.
    pub fn call(mut self, options: CallOptions) -> Self {
        self.call = options;
        self
    }
}

/// A page of snapshots, and the position of the page after it (`None` after the last).
pub type PositionedPage = (Vec<SimSnapshot>, Option<PagePosition>);

/// Pages of canonical snapshots, as [`SimProvider::list`] reads them: a stream of pages that
/// keeps its [`position`](Self::position), so that a listing an error interrupted can resume at
/// the page that failed ([`ListOptions::resume_from`]) rather than at the first.
///
/// ```
/// use futures_util::StreamExt;
/// use simcore::paging::PagePosition;
/// use simcore::{SimSnapshot, SimState, SnapshotPages};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sim = |id: &str| SimSnapshot::new("p", id, SimState::Active);
/// let pages = futures_util::stream::iter(vec![
///     Ok((vec![sim("a")], Some(PagePosition::Number(2)))),
///     Err(simcore::Error::Config("page 2 failed".into())),
/// ]);
/// let mut pages = SnapshotPages::resumable(Some(PagePosition::Number(1)), pages);
/// assert_eq!(pages.position(), Some(&PagePosition::Number(1)));
/// assert!(pages.next().await.unwrap().is_ok());
/// assert!(pages.next().await.unwrap().is_err());
/// // Resume here: the page that failed.
/// assert_eq!(pages.position(), Some(&PagePosition::Number(2)));
/// # });
/// ```
pub struct SnapshotPages<'a> {
    inner: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<PositionedPage>> + Send + 'a>>,
    position: Option<PagePosition>,
}

impl std::fmt::Debug for SnapshotPages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotPages")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl<'a> SnapshotPages<'a> {
    /// Pages whose positions are not known: [`position`](Self::position) is always `None` (a
    /// listing that cannot resume: read it again from the start).
    pub fn new(
        pages: impl futures_util::Stream<Item = Result<Vec<SimSnapshot>>> + Send + 'a,
    ) -> Self {
        use futures_util::StreamExt as _;
        Self {
            inner: Box::pin(pages.map(|r| r.map(|page| (page, None)))),
            position: None,
        }
    }

    /// Pages read from `start` (the first page's position; `None` when the first page has none,
    /// as Super SIM's first page has no token), each with the position of the page after it.
    pub fn resumable(
        start: Option<PagePosition>,
        pages: impl futures_util::Stream<Item = Result<PositionedPage>> + Send + 'a,
    ) -> Self {
        Self {
            inner: Box::pin(pages),
            position: start,
        }
    }

    /// The page to read next: before the first page, where the listing starts; after a page,
    /// the one after it (`None` after the last); after an error, the page that failed, which
    /// [`ListOptions::resume_from`] resumes at. `None` also when the provider's pages have no
    /// position (resume from the start).
    pub fn position(&self) -> Option<&PagePosition> {
        self.position.as_ref()
    }
}

impl futures_util::Stream for SnapshotPages<'_> {
    type Item = Result<Vec<SimSnapshot>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok((page, next)))) => {
                self.position = next;
                Poll::Ready(Some(Ok(page)))
            }
            // The position stays at the page that failed.
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One provider, seen through the common interface. Object safe: use it as
/// `Arc<dyn SimProvider>`.
///
/// Implementations validate and check transitions before sending: a change that cannot succeed
/// comes back as [`Error::Invalid`](crate::Error::Invalid) or
/// [`Error::Transition`](crate::Error::Transition) with nothing sent.
#[async_trait]
pub trait SimProvider: Send + Sync + Debug {
    /// The provider's stable id (`"supersim"`, `"emnify"`, `"sixfab"`, `"edgeiq"`: see
    /// [`ProviderId`]; your own provider names itself). It never depends on the credential or
    /// the dialect, so a plan made with one client matches a client of the other.
    fn name(&self) -> &'static str;

    /// The provider's lifecycle in canonical states (open for providers with free-text status).
    fn lifecycle(&self) -> Lifecycle<SimState>;

    /// Fetches a SIM's current snapshot, with this call's [`CallOptions`] (its deadline and
    /// attempts cap). `id` is the provider's id for the SIM.
    async fn fetch_with(&self, id: &str, options: &CallOptions) -> Result<SimSnapshot>;

    /// Applies a change and says what happened, with this call's [`CallOptions`].
    async fn apply_with(
        &self,
        id: &str,
        change: &SimChange,
        options: &CallOptions,
    ) -> Result<Applied>;

    /// Fetches a SIM's current snapshot with the client's own deadline and retry policy.
    async fn fetch(&self, id: &str) -> Result<SimSnapshot> {
        self.fetch_with(id, &CallOptions::new()).await
    }

    /// Applies a change with the client's own deadline and retry policy.
    async fn apply(&self, id: &str, change: &SimChange) -> Result<Applied> {
        self.apply_with(id, change, &CallOptions::new()).await
    }

    /// Checks a change without sending anything: the change sets something, and when the
    /// current state is known, the lifecycle allows the move. Providers add their own rules
    /// (the id's format, which targets they can express).
    ///
    /// A target the SIM is already in is not a refusal ([`Lifecycle::judge`]): the change needs
    /// no request for it.
    fn validate(&self, id: &str, change: &SimChange) -> Result<()> {
        let _ = id;
        if change.is_empty() {
            return Err(ValidationError::empty_update().into());
        }
        if let (Some(from), Some(to)) = (&change.known_state, &change.state) {
            self.lifecycle().judge(from, to).into_result()?;
        }
        Ok(())
    }

    /// Every SIM of the account, a page at a time, in canonical terms: the cheap way to read a
    /// whole fleet (one request per page rather than one per SIM). Each item is one page of the
    /// provider's own list endpoint; an error ends the stream, and
    /// [`SnapshotPages::position`] is then the page that failed: a listing started with
    /// [`ListOptions::resume_from`] at that position reads on from there.
    ///
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_>;

    /// What the change would cost, where this provider can say: `Some` for a provider that
    /// implements [`ChargePreview`] (its documented billing rules and published prices), `None`
    /// for one that does not (a preview then prices the SIM's state from the caller's price book
    /// alone: [`flat_preview`](crate::charge::flat_preview)).
    ///
    /// A provider that implements [`ChargePreview`] returns `Some(self)`.
    fn charges(&self) -> Option<&dyn ChargePreview> {
        None
    }
}

/// Charge previews: what a change would cost, by the provider's documented billing rules and
/// published prices. An extension of [`SimProvider`] that only providers with billing rules to
/// apply implement; [`SimProvider::charges`] finds it behind a `dyn SimProvider`.
#[async_trait]
pub trait ChargePreview: SimProvider {
    /// What the change would cost, by the provider's documented billing rules and the price book
    /// in `pricing` (layered over the provider's published prices, where it has any), as of
    /// `pricing.as_of`. Nothing is changed; a provider may read the SIM (one `GET`).
    ///
    /// The answer is an [`Estimate`]: a [`Charge`](crate::charge::Charge) whose figures are
    /// ranges with the rule and assumptions behind every line, or
    /// [`Unpriced`](crate::charge::Unpriced) with the reason (never a `$0.00` that means
    /// "unknown"). A change that would be refused is refused here too, with nothing sent. A price
    /// book that names another provider is an [`Error::Config`](crate::Error::Config).
    async fn estimate_charge(
        &self,
        id: &str,
        change: &SimChange,
        pricing: &Pricing,
    ) -> Result<Estimate>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    static PAIRS: &[(SimState, SimState)] = &[
        (SimState::New, SimState::Active),
        (SimState::Active, SimState::Inactive),
        (SimState::Inactive, SimState::Active),
    ];

    /// A provider kept in memory, answering like a real one would.
    #[derive(Debug)]
    struct Fake {
        name: &'static str,
        pending: bool,
        sims: Mutex<HashMap<String, SimState>>,
    }

    #[async_trait]
    impl SimProvider for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::table(self.name, PAIRS)
        }
        async fn fetch_with(&self, id: &str, _: &CallOptions) -> Result<SimSnapshot> {
            let sims = self.sims.lock().unwrap();
            let state = sims
                .get(id)
                .cloned()
                .ok_or_else(|| Error::from(crate::ApiError::new(self.name, 404)))?;
            Ok(SimSnapshot::new(self.name, id, state))
        }
        async fn apply_with(
            &self,
            id: &str,
            change: &SimChange,
            _: &CallOptions,
        ) -> Result<Applied> {
            let Some(target) = &change.state else {
                return Err(ValidationError::new("change", "must set a state", "nothing").into());
            };
            let current = self.fetch(id).await?.state;
            self.lifecycle().check(&current, target)?;
            self.sims
                .lock()
                .unwrap()
                .insert(id.to_owned(), target.clone());
            let snap = SimSnapshot::new(self.name, id, target.clone());
            Ok(if self.pending {
                Applied::Pending(Some(snap))
            } else {
                Applied::Done(Some(snap))
            })
        }
        fn list(&self, _: &ListOptions) -> SnapshotPages<'_> {
            let sims: Vec<SimSnapshot> = (self.sims.lock().unwrap().iter())
                .map(|(id, state)| SimSnapshot::new(self.name, id, state.clone()))
                .collect();
            SnapshotPages::new(futures_util::stream::iter([Ok(sims)]))
        }
    }

    fn fake(name: &'static str, pending: bool) -> Arc<dyn SimProvider> {
        let sims = HashMap::from([("a".to_owned(), SimState::New)]);
        Arc::new(Fake {
            name,
            pending,
            sims: Mutex::new(sims),
        })
    }

    #[tokio::test]
    async fn a_vec_of_dyn_providers_works() {
        let providers: Vec<Arc<dyn SimProvider>> = vec![fake("one", false), fake("two", true)];
        let mut seen = Vec::new();
        for p in &providers {
            let change = SimChange::new().state(SimState::Active);
            let applied = p.apply("a", &change).await.unwrap();
            seen.push((p.name(), applied.is_pending()));
            assert_eq!(p.fetch("a").await.unwrap().state, SimState::Active);
            // Active -> New is not in the table: refused with the allowed targets.
            let err = p
                .apply("a", &SimChange::new().state(SimState::New))
                .await
                .unwrap_err();
            match err {
                Error::Transition(t) => assert_eq!(t.allowed, vec!["inactive".to_string()]),
                other => panic!("unexpected {other:?}"),
            }
            assert!(p.fetch("missing").await.unwrap_err().is_not_found());
        }
        assert_eq!(seen, vec![("one", false), ("two", true)]);
    }

    #[tokio::test]
    async fn the_flat_preview_is_unpriced_until_a_price_book_is_given() {
        use crate::charge::{Money, PriceBook, Pricing, SimPrices, UnpricedReason, preview};
        let p = fake("one", false);
        // A provider without billing rules of its own: the flat preview.
        assert!(p.charges().is_none());
        let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        let on = SimChange::new().state(SimState::Active);
        // No price book: unpriced, without a read ("missing" would fail to fetch).
        let e = preview(
            &*p,
            "missing",
            &on,
            &Pricing::new(PriceBook::default(), day),
        )
        .await
        .unwrap();
        assert_eq!(
            e.reason(),
            Some(&UnpricedReason::NoPublishedPrice {
                item: "one SIMs".into(),
                key: "sim.active_monthly".into()
            })
        );
        let book = PriceBook {
            sim: SimPrices {
                active_monthly: Some(Money::from_cents(120)),
                activation_month_billed: Some(true),
                ..SimPrices::default()
            },
            ..PriceBook::default()
        };
        let pricing = Pricing::new(book.clone(), day);
        // The current state is read: "a" is New.
        let e = preview(&*p, "a", &on, &pricing).await.unwrap();
        let c = e.charge().unwrap();
        assert_eq!(
            (c.now.high, c.monthly.low),
            (Money::from_cents(120), Money::from_cents(120))
        );
        // An empty change is refused, as apply would.
        let err = preview(&*p, "a", &SimChange::new(), &pricing)
            .await
            .unwrap_err();
        assert!(err.was_not_sent());
        // A book for another provider is refused.
        let other = PriceBook {
            provider: Some("two".into()),
            ..book
        };
        let err = preview(&*p, "a", &on, &Pricing::new(other, day))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn trait_objects_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn SimProvider>();
    }
}
