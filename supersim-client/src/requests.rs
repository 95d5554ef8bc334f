//! What this crate sends: identifiers, the update request as plain validated data
//! ([`UpdateSimRequest`]), and the fluent builders over it ([`UpdateSimBuilder`], [`ListSims`]).
//!
//! # Identifiers
//! Twilio SIDs are two capital letters and 32 hex digits: `HS…` for a Sim, `HF…` for a Fleet,
//! `AC…` for an Account. A SIM and a fleet can also be named by their **unique name**. The rule
//! this crate applies to tell them apart is deliberately simple:
//!
//! - a value shaped like a SID (34 characters: two ASCII capital letters, then 32 ASCII letters
//!   or digits) must be a well-formed SID of the expected kind (`HSXXXXXXXX…` or an `AC…` SID
//!   where a Sim is meant is refused);
//! - any other non-empty string is a unique name.
//!
//! A unique name being set on a SIM follows the same rule: it must not be empty nor shaped like a
//! SID, since it could then not be told apart from one when used to address the SIM.

use std::fmt;
use std::str::FromStr;

use std::sync::Mutex;

use simcore::paging::{Page, PagePosition, PageSource};
use simcore::validate::quote;
use simcore::{CallOptions, Error, Iccid, Result, Updated, ValidationError};
use url::Url;

use crate::client::Client;
pub use crate::models::CallbackMethod;
use crate::models::LIFECYCLE;
use crate::models::{Sim, SimsPage, Status};

/// Whether `s` looks like a SID of any kind: 34 characters, two ASCII capital letters, then 32
/// ASCII letters or digits.
fn sid_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..].iter().all(u8::is_ascii_alphanumeric)
}

/// Whether `s` is a well-formed SID with `prefix`: the prefix, then 32 hex digits.
pub fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Parses "a SID with `prefix` or a unique name" (see the module docs for the rule).
fn parse_ref(
    field: &'static str,
    prefix: &'static str,
    kind: &'static str,
    s: &str,
) -> std::result::Result<bool, ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(
            field,
            format!("must be a {kind} SID ({prefix} + 32 hex digits) or a unique name, not empty"),
            "an empty string",
        ));
    }
    if !sid_shaped(s) {
        // A unique name: it travels as one path segment, so it must be able to.
        simcore::validate::check_id(field, s)?;
        return Ok(false);
    }
    if is_sid(s, prefix) {
        return Ok(true);
    }
    let rule = if s.starts_with(prefix) {
        format!("a {kind} SID must be {prefix} followed by 32 hex digits")
    } else {
        format!(
            "must be a {kind} SID ({prefix} + 32 hex digits) or a unique name; this is shaped like a SID of another kind ({})",
            &s[..2]
        )
    };
    Err(ValidationError::new(field, rule, quote(s)))
}

/// Implements `as_str`, `Display` and `AsRef<str>` for a validated string newtype.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl $ty {
            /// The value as sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = ValidationError;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

/// Declares a reference that is either a SID of one kind or a unique name.
macro_rules! sid_or_name {
    ($(#[$doc:meta])* $ty:ident, field = $field:literal, prefix = $prefix:literal, kind = $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $ty {
            #[doc = concat!("A ", $kind, " SID.")]
            Sid(String),
            /// A unique name.
            UniqueName(String),
        }

        impl $ty {
            /// The field name used in errors.
            pub const FIELD: &'static str = $field;

            #[doc = concat!("Parses a ", $kind, " SID (`", $prefix, "` + 32 hex digits) or a unique name.")]
            pub fn parse(s: &str) -> std::result::Result<Self, ValidationError> {
                Ok(if parse_ref(Self::FIELD, $prefix, $kind, s)? {
                    $ty::Sid(s.to_owned())
                } else {
                    $ty::UniqueName(s.to_owned())
                })
            }

            /// The SID or unique name, as sent.
            pub fn as_str(&self) -> &str {
                match self {
                    $ty::Sid(s) | $ty::UniqueName(s) => s,
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

sid_or_name!(
    /// How a request names a Super SIM: its SID (`HS` + 32 hex digits) or its unique name.
    ///
    /// ```
    /// use supersim_client::SimRef;
    ///
    /// assert!(matches!(SimRef::parse("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")?, SimRef::Sid(_)));
    /// assert!(matches!(SimRef::parse("pump station 7")?, SimRef::UniqueName(_)));
    /// // Shaped like a SID but not a Sim SID: refused, not taken for a unique name.
    /// let err = SimRef::parse("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap_err();
    /// assert_eq!(err.field(), "sim");
    /// assert!(SimRef::parse("HSXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").is_err());
    /// # Ok::<(), simcore::ValidationError>(())
    /// ```
    SimRef,
    field = "sim",
    prefix = "HS",
    kind = "Sim"
);

sid_or_name!(
    /// A fleet, named by its SID (`HF` + 32 hex digits) or its unique name (`Fleet` accepts both).
    ///
    /// ```
    /// use supersim_client::FleetRef;
    /// assert!(matches!(FleetRef::parse("HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")?, FleetRef::Sid(_)));
    /// assert!(matches!(FleetRef::parse("My Fleet")?, FleetRef::UniqueName(_)));
    /// assert!(FleetRef::parse("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
    /// # Ok::<(), simcore::ValidationError>(())
    /// ```
    FleetRef,
    field = "fleet",
    prefix = "HF",
    kind = "Fleet"
);

/// An Account SID: `AC` + 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountSid(String);

impl AccountSid {
    /// The field name used in errors.
    pub const FIELD: &'static str = "account_sid";

    /// Parses an Account SID.
    pub fn parse(s: &str) -> std::result::Result<Self, ValidationError> {
        if !is_sid(s, "AC") {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be AC followed by 32 hex digits",
                quote(s),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(AccountSid);

/// A unique name to give a SIM: not empty, not shaped like a SID (it could then not be told
/// apart from one when it addresses the SIM), and able to address the SIM as one path segment
/// (not `.` or `..`, no control characters: see [`simcore::validate::check_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UniqueName(String);

impl UniqueName {
    /// The field name used in errors.
    pub const FIELD: &'static str = "unique_name";

    /// Parses a unique name.
    pub fn parse(s: &str) -> std::result::Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not be empty",
                "an empty string",
            ));
        }
        if sid_shaped(s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not be shaped like a SID (two capital letters and 32 letters or digits)",
                quote(s),
            ));
        }
        // A unique name addresses the SIM as one path segment afterwards.
        simcore::validate::check_id(Self::FIELD, s)?;
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(UniqueName);

/// The URL Twilio (or KORE) calls when an asynchronous update has finished: an absolute `http` or
/// `https` URL with a host, sent in its normalised form.
///
/// The spec says `format: uri`, so what is sent must be a URI: the value is parsed as a URL and
/// sent as the parser writes it back, with spaces and non-ASCII characters percent-encoded and
/// an international host name in its ASCII (punycode) form. Surrounding whitespace and control
/// characters are refused rather than cleaned, so nothing is dropped silently.
///
/// ```
/// use supersim_client::CallbackUrl;
/// let url = CallbackUrl::parse("https://example.com/sim done?site=Zürich")?;
/// assert_eq!(url.as_str(), "https://example.com/sim%20done?site=Z%C3%BCrich");
/// assert_eq!(CallbackUrl::parse("https://bücher.example/x")?.as_str(), "https://xn--bcher-kva.example/x");
/// assert!(CallbackUrl::parse("https://example.com/\n").is_err());
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallbackUrl(String);

impl CallbackUrl {
    /// The field name used in errors.
    pub const FIELD: &'static str = "callback_url";

    /// Parses a callback URL and normalises it.
    pub fn parse(s: &str) -> std::result::Result<Self, ValidationError> {
        let rule = "must be an absolute http or https URL with a host";
        if s.trim() != s || s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not contain surrounding whitespace or control characters",
                quote(s),
            ));
        }
        match Url::parse(s) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty()) =>
            {
                Ok(Self(u.into()))
            }
            _ => Err(ValidationError::new(Self::FIELD, rule, quote(s))),
        }
    }
}
string_newtype!(CallbackUrl);

/// A status an update may set. Twilio reads five statuses ([`Status`]) but accepts only these
/// three in an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettableStatus {
    /// `ready` (only from `new`).
    Ready,
    /// `active`.
    Active,
    /// `inactive`.
    Inactive,
}

impl SettableStatus {
    /// Every settable status.
    pub const ALL: [SettableStatus; 3] = [
        SettableStatus::Ready,
        SettableStatus::Active,
        SettableStatus::Inactive,
    ];

    /// Twilio's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SettableStatus::Ready => "ready",
            SettableStatus::Active => "active",
            SettableStatus::Inactive => "inactive",
        }
    }
}

impl fmt::Display for SettableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SettableStatus> for Status {
    fn from(s: SettableStatus) -> Status {
        match s {
            SettableStatus::Ready => Status::Ready,
            SettableStatus::Active => Status::Active,
            SettableStatus::Inactive => Status::Inactive,
        }
    }
}

impl TryFrom<&Status> for SettableStatus {
    type Error = ValidationError;
    fn try_from(s: &Status) -> std::result::Result<Self, ValidationError> {
        match s {
            Status::Ready => Ok(SettableStatus::Ready),
            Status::Active => Ok(SettableStatus::Active),
            Status::Inactive => Ok(SettableStatus::Inactive),
            other => Err(ValidationError::new(
                "status",
                "must be ready, active or inactive",
                quote(other.as_str()),
            )),
        }
    }
}

impl FromStr for SettableStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> std::result::Result<Self, ValidationError> {
        SettableStatus::try_from(&Status::from(s))
    }
}

/// `POST /v1/Sims/{Sid}` as plain, validated data: every field optional, and only the fields set
/// are sent.
///
/// Build it with [`Client::update_sim`] and [`UpdateSimBuilder::into_request`], or directly
/// from parsed values; send it with [`Client::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateSimRequest {
    /// The SIM to update.
    pub sim: SimRef,
    /// `UniqueName`.
    pub unique_name: Option<UniqueName>,
    /// `Status`.
    pub status: Option<SettableStatus>,
    /// `Fleet`: a Fleet SID or a fleet's unique name.
    pub fleet: Option<FleetRef>,
    /// `CallbackUrl`: called when an asynchronous update has finished.
    pub callback_url: Option<CallbackUrl>,
    /// `CallbackMethod`: how the callback URL is called.
    pub callback_method: Option<CallbackMethod>,
    /// `AccountSid`: moves the SIM to this account (only while its status is `new`).
    pub account_sid: Option<AccountSid>,
    /// This call's deadline and attempts cap, honoured by [`Client::send`]; never part of the
    /// form sent. [`UpdateSimBuilder::into_request`] sets the builder's.
    pub options: CallOptions,
}

impl UpdateSimRequest {
    /// A request for `sim` that sets nothing yet.
    pub fn new(sim: SimRef) -> Self {
        Self {
            sim,
            unique_name: None,
            status: None,
            fleet: None,
            callback_url: None,
            callback_method: None,
            account_sid: None,
            options: CallOptions::new(),
        }
    }

    /// Sets this call's deadline and attempts cap ([`CallOptions`]), replacing any set before;
    /// [`Client::send`] honours them.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Checks what the builder checks and the types cannot hold: something is set, and the SIM
    /// and the fleet follow the rules of [`SimRef::parse`] and [`FleetRef::parse`] (their
    /// variants are public, so a value can be built unchecked). Refused naming the field.
    pub fn validate(&self) -> std::result::Result<(), ValidationError> {
        SimRef::parse(self.sim.as_str())?;
        if let Some(fleet) = &self.fleet {
            FleetRef::parse(fleet.as_str())?;
        }
        if self.is_empty() {
            return Err(ValidationError::empty_update());
        }
        Ok(())
    }

    /// Whether no field is set (such a request is refused before sending).
    pub fn is_empty(&self) -> bool {
        self.form_pairs().is_empty()
    }

    /// The form pairs sent, in the spec's order, exactly the fields set.
    ///
    /// ```
    /// use supersim_client::{SettableStatus, SimRef, UpdateSimRequest};
    /// let mut request = UpdateSimRequest::new(SimRef::parse("pump 7")?);
    /// request.status = Some(SettableStatus::Active);
    /// assert_eq!(request.form_pairs(), [("Status", "active")]);
    /// # Ok::<(), simcore::ValidationError>(())
    /// ```
    pub fn form_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = Vec::with_capacity(6);
        if let Some(v) = &self.unique_name {
            pairs.push(("UniqueName", v.as_str()));
        }
        if let Some(v) = self.status {
            pairs.push(("Status", v.as_str()));
        }
        if let Some(v) = &self.fleet {
            pairs.push(("Fleet", v.as_str()));
        }
        if let Some(v) = &self.callback_url {
            pairs.push(("CallbackUrl", v.as_str()));
        }
        if let Some(v) = self.callback_method {
            pairs.push(("CallbackMethod", v.as_str()));
        }
        if let Some(v) = &self.account_sid {
            pairs.push(("AccountSid", v.as_str()));
        }
        pairs
    }

    /// Checks the request against the SIM's current status, before sending:
    /// - `account_sid` only while the status is `new` (a status this crate does not know is left
    ///   for Twilio to judge);
    /// - a status change only where the Super SIM lifecycle ([`LIFECYCLE`]) allows it, or to the
    ///   status the SIM already has (not an error: see [`UpdateSimBuilder::send`]); a status this crate
    ///   does not know, and `scheduled`, are left for Twilio to judge;
    /// - no `fleet` change while the SIM is `scheduled` (Twilio would answer 83009).
    pub fn check_against(&self, current: &Status) -> Result<()> {
        // Only a status this crate knows says the SIM is not `new`; an unknown one is Twilio's
        // to judge.
        if self.account_sid.is_some() && *current != Status::New && !current.is_unknown() {
            return Err(ValidationError::new(
                AccountSid::FIELD,
                "can be set only while the SIM's status is new",
                format!("status {current}"),
            )
            .into());
        }
        if let Some(target) = self.status {
            // While `scheduled`, Twilio documents only that a Fleet change fails (83009): a
            // status change is Twilio's to judge then, as is a status this crate does not know.
            if !current.is_unknown() && *current != Status::Scheduled {
                LIFECYCLE.judge(current, &target.into()).into_result()?;
            }
        }
        if self.fleet.is_some() && *current == Status::Scheduled {
            return Err(ValidationError::new(
                FleetRef::FIELD,
                "cannot change while the SIM is scheduled (Twilio error 83009)",
                "status scheduled",
            )
            .into());
        }
        Ok(())
    }
}

/// The update builder returned by [`Client::update_sim`]: set fields, then [`send`](Self::send).
///
/// Setters only record; every value is validated by [`send`](Self::send) (or
/// [`into_request`](Self::into_request)) before anything is sent.
#[derive(Debug, Clone)]
#[must_use = "an update does nothing until it is sent"]
pub struct UpdateSimBuilder {
    client: Client,
    sim: String,
    unique_name: Option<String>,
    status: Option<SettableStatus>,
    fleet: Option<String>,
    callback_url: Option<String>,
    callback_method: Option<CallbackMethod>,
    account_sid: Option<String>,
    known_status: Option<Status>,
    fetch_current: bool,
    options: CallOptions,
}

impl UpdateSimBuilder {
    pub(crate) fn new(client: Client, sim: String) -> Self {
        Self {
            client,
            sim,
            unique_name: None,
            status: None,
            fleet: None,
            callback_url: None,
            callback_method: None,
            account_sid: None,
            known_status: None,
            fetch_current: false,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();

    /// Sets `UniqueName` (not empty, not shaped like a SID).
    pub fn unique_name(mut self, name: impl Into<String>) -> Self {
        self.unique_name = Some(name.into());
        self
    }

    /// Sets `Status` (`ready`, `active` or `inactive`).
    pub fn status(mut self, status: impl Into<SettableStatus>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Sets `Fleet`: a Fleet SID (`HF` + 32 hex digits) or a fleet's unique name.
    pub fn fleet(mut self, fleet: impl Into<String>) -> Self {
        self.fleet = Some(fleet.into());
        self
    }

    /// Sets `CallbackUrl`, called when an asynchronous update has finished (an absolute `http`
    /// or `https` URL, sent normalised: see [`CallbackUrl`]).
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    /// Sets `CallbackMethod` (Twilio's default is `POST`).
    pub fn callback_method(mut self, method: impl Into<CallbackMethod>) -> Self {
        self.callback_method = Some(method.into());
        self
    }

    /// Sets `AccountSid` (`AC` + 32 hex digits): moves the SIM to that account, which must be
    /// the requesting account or one of its subaccounts. Only valid while the SIM is `new`.
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = Some(sid.into());
        self
    }

    /// Declares the SIM's current status, so [`send`](Self::send) checks the update against it
    /// (see [`UpdateSimRequest::check_against`]) before sending.
    pub fn known_status(mut self, status: impl Into<Status>) -> Self {
        self.known_status = Some(status.into());
        self
    }

    /// Declares the SIM's current status from a fetched [`Sim`] (nothing is declared if Twilio
    /// reported no status).
    pub fn current(mut self, sim: &Sim) -> Self {
        if let Some(s) = &sim.status {
            self.known_status = Some(s.clone());
        }
        self
    }

    /// Opts in to fetching the SIM first, so the update is checked against its status as the
    /// API reports it now. Costs one `GET` before the update, within this call's deadline: the
    /// read and the update share it (and each has this call's attempts cap).
    pub fn fetch_current(mut self) -> Self {
        self.fetch_current = true;
        self
    }

    /// Validates every value and this call's options, and returns the request as plain data,
    /// carrying those options; also checks it against the declared current status, if any.
    /// Nothing is sent: [`Client::send`] sends it, with those options.
    pub fn into_request(self) -> Result<UpdateSimRequest> {
        self.request_unnamed().map_err(|e| self.client.own(e))
    }

    fn request_unnamed(&self) -> Result<UpdateSimRequest> {
        self.options.check()?;
        let mut request = UpdateSimRequest::new(SimRef::parse(&self.sim)?).options(self.options);
        request.unique_name = self
            .unique_name
            .as_deref()
            .map(UniqueName::parse)
            .transpose()?;
        request.status = self.status;
        request.fleet = self.fleet.as_deref().map(FleetRef::parse).transpose()?;
        request.callback_url = self
            .callback_url
            .as_deref()
            .map(CallbackUrl::parse)
            .transpose()?;
        request.callback_method = self.callback_method;
        request.account_sid = self
            .account_sid
            .as_deref()
            .map(AccountSid::parse)
            .transpose()?;
        if request.is_empty() {
            return Err(ValidationError::empty_update().into());
        }
        if let Some(current) = &self.known_status {
            request.check_against(current)?;
        }
        Ok(request)
    }

    /// Validates, checks against the current status (declared, or fetched with
    /// [`fetch_current`](Self::fetch_current)), sends, and says whether the update is done
    /// ([`Updated::Done`]) or scheduled ([`Updated::Pending`]: the API calls the callback URL
    /// given, if any, when it has finished), with the SIM as the API returned it.
    ///
    /// Setting the status the SIM is known to have is not an error: `Status` is left out of the
    /// request, and an update left with nothing to send is not sent ([`Updated::Unchanged`]).
    ///
    /// The call's deadline counts from here and spans every request it sends: the read of
    /// [`fetch_current`](Self::fetch_current) and the update together.
    pub async fn send(self) -> Result<Updated<Sim>> {
        self.options.check()?;
        let options = self.options.started();
        let client = self.client.clone();
        let fetch = self.fetch_current;
        let mut current = self.known_status.clone();
        let mut request = self.into_request()?.options(options);
        if fetch {
            let sim = client.get_sim_with(request.sim.as_str(), options).await?;
            if let Some(status) = &sim.status {
                request.check_against(status).map_err(|e| client.own(e))?;
            }
            current = sim.status;
        }
        if let (Some(now), Some(target)) = (&current, request.status) {
            if *now == Status::from(target) {
                request.status = None;
                if request.is_empty() {
                    return Ok(Updated::Unchanged);
                }
            }
        }
        client.send_with(&request, options).await
    }
}

/// The list builder returned by [`Client::list_sims`]: filters, a page size, then the list
/// verbs: [`first_page`](Self::first_page), [`pages`](Self::pages), [`stream`](Self::stream),
/// [`collect_all`](Self::collect_all), from the first page or the one
/// [`resume_from`](Self::resume_from) names.
///
/// The list is paged by link: each page's `next` is a [`PagePosition::Token`] holding the API's
/// `meta.next_page_url`, which carries the filters and page size it was made with. A list
/// resumed from one ([`resume_from`](Self::resume_from)) reads with that URL's filters, the
/// listing's own, not with those set on the resuming list; those are still checked, so an
/// out-of-range page size or a bad filter is refused with nothing sent. A next-page
/// URL is followed only on the base URL's scheme, host and port (credentials never go to another
/// host), and never when it names the page just read: either ends the listing with an
/// [`Error::Invalid`] for `meta.next_page_url`, with nothing sent.
///
/// The call's options ([`deadline`](Self::deadline), [`attempts`](Self::attempts)) apply to
/// each page request on its own: a listing of many pages is not held to one deadline.
///
/// ```no_run
/// # async fn run(client: supersim_client::Client) -> simcore::Result<()> {
/// use supersim_client::Status;
/// let page = client.list_sims().status(Status::Active).page_size(100).first_page().await?;
/// if let Some(next) = page.next {
///     // Later, or after an error: read on from there.
///     let rest = client.list_sims().resume_from(next).collect_all().await?;
///     println!("{} more", rest.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a list does nothing until it is read"]
pub struct ListSims {
    client: Client,
    status: Option<Status>,
    fleet: Option<String>,
    iccid: Option<String>,
    page_size: Option<u32>,
    /// Read of each SIM only what a snapshot holds (for `SimProvider::list`).
    snapshot_only: bool,
    start: Option<PagePosition>,
    options: CallOptions,
    /// The URL of the page this list read last: a next-page URL naming it again is refused.
    last_read: Mutex<Option<String>>,
}

/// A clone is a list of its own: it starts with no page read.
impl Clone for ListSims {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            status: self.status.clone(),
            fleet: self.fleet.clone(),
            iccid: self.iccid.clone(),
            page_size: self.page_size,
            snapshot_only: self.snapshot_only,
            start: self.start.clone(),
            options: self.options,
            last_read: Mutex::new(None),
        }
    }
}

impl ListSims {
    /// The largest page Twilio serves.
    pub const MAX_PAGE_SIZE: u32 = 1000;

    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            status: None,
            fleet: None,
            iccid: None,
            page_size: None,
            snapshot_only: false,
            start: None,
            options: CallOptions::new(),
            last_read: Mutex::new(None),
        }
    }

    simcore::call_options_methods!();
    simcore::list_methods!(Sim);

    /// Reads of each SIM only its SID, unique name, ICCID and status, skipping the rest unread:
    /// the cheap read a fleet-wide snapshot needs.
    pub(crate) fn snapshot_only(mut self) -> Self {
        self.snapshot_only = true;
        self
    }

    /// Only SIMs in this status (`Status`).
    pub fn status(mut self, status: impl Into<Status>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only SIMs in this fleet (`Fleet`: a Fleet SID or a fleet's unique name).
    pub fn fleet(mut self, fleet: impl Into<String>) -> Self {
        self.fleet = Some(fleet.into());
        self
    }

    /// Only the SIM with this ICCID (`Iccid`; 18 to 22 digits): zero or one SIM.
    pub fn iccid(mut self, iccid: impl Into<String>) -> Self {
        self.iccid = Some(iccid.into());
        self
    }

    /// SIMs per page (`PageSize`, 1 to 1000; Twilio's default is 50).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The validated query pairs, in the spec's order. Nothing is sent.
    pub fn query_pairs(&self) -> Result<Vec<(&'static str, String)>> {
        let mut pairs = Vec::with_capacity(4);
        if let Some(s) = &self.status {
            if s.is_unknown() {
                return Err(ValidationError::new(
                    "status",
                    "must be new, ready, active, inactive or scheduled",
                    quote(s.as_str()),
                )
                .into());
            }
            pairs.push(("Status", s.as_str().to_owned()));
        }
        if let Some(f) = &self.fleet {
            pairs.push(("Fleet", FleetRef::parse(f)?.as_str().to_owned()));
        }
        if let Some(i) = &self.iccid {
            pairs.push(("Iccid", Iccid::parse(i)?.into_string()));
        }
        if let Some(n) = self.page_size {
            if !(1..=Self::MAX_PAGE_SIZE).contains(&n) {
                return Err(
                    ValidationError::new("page_size", "must be 1 to 1000", n.to_string()).into(),
                );
            }
            pairs.push(("PageSize", n.to_string()));
        }
        Ok(pairs)
    }
}

/// Reads `GET /v1/Sims` by link: the first page with the filters, then each page's
/// `meta.next_page_url` (see [`ListSims`] for the URLs it refuses to follow).
impl PageSource for ListSims {
    type Item = Sim;

    async fn read_page(&self, at: Option<&PagePosition>) -> Result<Page<Sim>> {
        let page: SimsPage = match at {
            None => {
                let pairs = self.query_pairs()?;
                let page = (self.client)
                    .first_page(&pairs, self.snapshot_only, self.options)
                    .await?;
                self.read(page.meta.url.clone().unwrap_or_default());
                page
            }
            Some(PagePosition::Token(url)) => {
                // The URL carries the listing's own filters; this list's are still checked,
                // so a bad one is refused here as it would be on a first page.
                self.query_pairs()?;
                if self.last_read().as_deref() == Some(url.as_str()) {
                    return Err(Error::Invalid(ValidationError::new(
                        "meta.next_page_url",
                        "must differ from the page just read",
                        quote(url),
                    )));
                }
                let page = (self.client)
                    .page_at(url, self.snapshot_only, self.options)
                    .await?;
                self.read(url.clone());
                page
            }
            Some(other) => {
                return Err(ValidationError::new(
                    "page",
                    "Super SIM's list is paged by link: resume from a page's next (its next_page_url)",
                    other.to_string(),
                )
                .into());
            }
        };
        let next = page
            .next_page_url()
            .map(|u| PagePosition::Token(u.to_owned()));
        Ok(Page::new(page.sims, next))
    }

    fn key(item: &Sim) -> String {
        item.sid.clone().unwrap_or_default()
    }
}

impl ListSims {
    fn read(&self, url: String) {
        *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(url);
    }

    fn last_read(&self) -> Option<String> {
        self.last_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HS: &str = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HF: &str = "HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const AC: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn sim_refs() {
        assert_eq!(SimRef::parse(HS).unwrap(), SimRef::Sid(HS.into()));
        assert_eq!(
            SimRef::parse("HS0123456789ABCDEFabcdef0123456789").unwrap(),
            SimRef::Sid("HS0123456789ABCDEFabcdef0123456789".into())
        );
        for name in [
            "My SIM",
            "HS",
            "HSBC pump",
            "hsaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "日本",
        ] {
            assert_eq!(
                SimRef::parse(name).unwrap(),
                SimRef::UniqueName(name.into()),
                "{name}"
            );
        }
        let cases = [
            (
                "",
                "must be a Sim SID (HS + 32 hex digits) or a unique name, not empty",
            ),
            (
                "HSXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                "a Sim SID must be HS followed by 32 hex digits",
            ),
            (
                AC,
                "must be a Sim SID (HS + 32 hex digits) or a unique name; this is shaped like a SID of another kind (AC)",
            ),
            (
                HF,
                "must be a Sim SID (HS + 32 hex digits) or a unique name; this is shaped like a SID of another kind (HF)",
            ),
        ];
        for (s, rule) in cases {
            let e = SimRef::parse(s).unwrap_err();
            assert_eq!((e.field(), e.rule()), ("sim", rule), "{s}");
        }
    }

    #[test]
    fn fleet_refs_and_account_sids() {
        assert_eq!(FleetRef::parse(HF).unwrap(), FleetRef::Sid(HF.into()));
        assert_eq!(
            FleetRef::parse("My Fleet").unwrap(),
            FleetRef::UniqueName("My Fleet".into())
        );
        let e = FleetRef::parse(HS).unwrap_err();
        assert_eq!(e.field(), "fleet");
        let e = FleetRef::parse("HFzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").unwrap_err();
        assert_eq!(e.rule(), "a Fleet SID must be HF followed by 32 hex digits");
        assert_eq!(AccountSid::parse(AC).unwrap().as_str(), AC);
        for bad in [
            "",
            "AC",
            &AC[..33],
            "ACgggggggggggggggggggggggggggggggg",
            HS,
        ] {
            let e = AccountSid::parse(bad).unwrap_err();
            assert_eq!(
                (e.field(), e.rule()),
                ("account_sid", "must be AC followed by 32 hex digits")
            );
        }
    }

    #[test]
    fn unique_names_and_callback_urls() {
        assert!(UniqueName::parse("MySIM").is_ok());
        assert_eq!(
            UniqueName::parse("").unwrap_err().rule(),
            "must not be empty"
        );
        assert_eq!(UniqueName::parse(HS).unwrap_err().field(), "unique_name");
        for ok in [
            "https://example.com/cb",
            "http://127.0.0.1:9876/path",
            "https://example.com/cb?x=1#f",
        ] {
            assert_eq!(CallbackUrl::parse(ok).unwrap().as_str(), ok);
        }
        for (given, sent) in [
            ("https://example.com", "https://example.com/"),
            ("HTTPS://Example.COM:443/a b", "https://example.com/a%20b"),
            (
                "https://example.com/?q=a b&é=ü",
                "https://example.com/?q=a%20b&%C3%A9=%C3%BC",
            ),
            ("https://例え.jp/cb", "https://xn--r8jz45g.jp/cb"),
            ("http://127.0.0.1:80/x", "http://127.0.0.1/x"),
        ] {
            assert_eq!(CallbackUrl::parse(given).unwrap().as_str(), sent, "{given}");
        }
        for bad in [
            "",
            "/relative",
            "example.com/cb",
            "ftp://example.com/x",
            "mailto:a@example.com",
            " https://example.com",
            "https://example.com/\n",
            "https://",
        ] {
            let e = CallbackUrl::parse(bad).unwrap_err();
            assert_eq!(e.field(), "callback_url", "{bad:?}");
        }
    }

    #[test]
    fn settable_statuses() {
        for s in SettableStatus::ALL {
            let status: Status = s.into();
            assert_eq!(status.as_str(), s.as_str());
            assert_eq!(SettableStatus::try_from(&status).unwrap(), s);
            assert_eq!(s.as_str().parse::<SettableStatus>().unwrap(), s);
        }
        for s in ["new", "scheduled", "ACTIVE", "suspended"] {
            assert!(s.parse::<SettableStatus>().is_err(), "{s}");
        }
        assert_eq!(CallbackMethod::default(), CallbackMethod::Post);
        assert_eq!(CallbackMethod::Get.to_string(), "GET");
    }

    #[test]
    fn check_against_the_current_status() {
        let mut r = UpdateSimRequest::new(SimRef::parse(HS).unwrap());
        r.account_sid = Some(AccountSid::parse(AC).unwrap());
        assert!(r.check_against(&Status::New).is_ok());
        for s in [Status::Ready, Status::Active, Status::Scheduled] {
            match r.check_against(&s).unwrap_err() {
                Error::Invalid(e) => assert_eq!(e.field(), "account_sid"),
                other => panic!("{other:?}"),
            }
        }
        let mut r = UpdateSimRequest::new(SimRef::parse(HS).unwrap());
        r.status = Some(SettableStatus::Ready);
        assert!(r.check_against(&Status::New).is_ok());
        match r.check_against(&Status::Active).unwrap_err() {
            Error::Transition(t) => {
                assert_eq!((t.from.as_str(), t.to.as_str()), ("active", "ready"));
                assert_eq!(t.allowed, vec!["inactive".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        // While scheduled, Twilio documents only that a Fleet change fails: a status change is
        // Twilio's to judge. So is a status this crate does not know.
        assert!(r.check_against(&Status::Scheduled).is_ok());
        assert!(r.check_against(&Status::from("suspended")).is_ok());
        // The status it already has is not a refusal.
        r.status = Some(SettableStatus::Active);
        assert!(r.check_against(&Status::Active).is_ok());
        // AccountSid: refused for a known status other than new, left to Twilio for an
        // unknown one.
        let mut t = UpdateSimRequest::new(SimRef::parse(HS).unwrap());
        t.account_sid = Some(AccountSid::parse(AC).unwrap());
        assert!(t.check_against(&Status::from("suspended")).is_ok());
        let mut r = UpdateSimRequest::new(SimRef::parse(HS).unwrap());
        r.fleet = Some(FleetRef::parse(HF).unwrap());
        assert!(r.check_against(&Status::Active).is_ok());
        match r.check_against(&Status::Scheduled).unwrap_err() {
            Error::Invalid(e) => assert_eq!(e.field(), "fleet"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn form_pairs_follow_the_spec_order() {
        let mut r = UpdateSimRequest::new(SimRef::parse(HS).unwrap());
        assert!(r.is_empty());
        r.account_sid = Some(AccountSid::parse(AC).unwrap());
        r.callback_method = Some(CallbackMethod::Get);
        r.callback_url = Some(CallbackUrl::parse("https://example.com/cb").unwrap());
        r.fleet = Some(FleetRef::parse("My Fleet").unwrap());
        r.status = Some(SettableStatus::Inactive);
        r.unique_name = Some(UniqueName::parse("MySIM").unwrap());
        let keys: Vec<_> = r.form_pairs().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "UniqueName",
                "Status",
                "Fleet",
                "CallbackUrl",
                "CallbackMethod",
                "AccountSid"
            ]
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = SimRef::parse(&s);
            let _ = FleetRef::parse(&s);
            let _ = AccountSid::parse(&s);
            let _ = UniqueName::parse(&s);
            let _ = CallbackUrl::parse(&s);
            let _ = s.parse::<SettableStatus>();
        }

        #[test]
        fn well_formed_sids_are_sids(hex in "[0-9a-fA-F]{32}") {
            let hs = format!("HS{hex}");
            prop_assert_eq!(SimRef::parse(&hs).unwrap(), SimRef::Sid(hs.clone()));
            let hf = format!("HF{hex}");
            prop_assert_eq!(FleetRef::parse(&hf).unwrap(), FleetRef::Sid(hf.clone()));
            let ac = format!("AC{hex}");
            prop_assert!(AccountSid::parse(&ac).is_ok());
            prop_assert!(UniqueName::parse(&hs).is_err());
        }
    }
}
