//! Canonical SIM states and lifecycles as data.
//!
//! Every provider names its SIM statuses its own way. [`SimState`] is the common vocabulary the
//! [`SimProvider`](crate::SimProvider) trait speaks; each provider crate maps its own status type
//! onto it (and keeps the provider's own word in the snapshot).
//!
//! A [`Lifecycle`] is a provider's transition table as plain data, over any status type: the
//! provider crates declare theirs over their own status enums, and expose a canonical view.
//!
//! ```
//! use simcore::{Lifecycle, SimState};
//!
//! static TABLE: &[(SimState, SimState)] = &[
//!     (SimState::Active, SimState::Inactive),
//!     (SimState::Inactive, SimState::Active),
//! ];
//! let lifecycle = Lifecycle::table("example", TABLE);
//! assert!(lifecycle.allows(&SimState::Active, &SimState::Inactive));
//! let err = lifecycle.check(&SimState::Active, &SimState::Deleted).unwrap_err();
//! assert_eq!(err.to_string(), "example: a SIM in state active cannot move to deleted (allowed: inactive)");
//! ```

use std::borrow::Cow;
use std::fmt;

/// The canonical state of a SIM, common to all providers.
///
/// Read from a provider, a state this SDK does not know becomes [`SimState::Unknown`] with the
/// provider's own word; `Unknown` is never a valid target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimState {
    /// Delivered but never used (Twilio `new`, emnify Issued).
    New,
    /// Ready for use and billing starts on first use or after a while (Twilio `ready`, emnify
    /// Factory Test).
    Ready,
    /// May connect; charged (Twilio `active`, emnify Activated, Sixfab `active`, EdgeIQ `active`).
    Active,
    /// Kept but barred from connecting; can be activated again (Twilio `inactive`, emnify
    /// Suspended, Sixfab `inactive`, EdgeIQ `inactive` and `suspended`).
    Inactive,
    /// Taken out of service at the carrier (EdgeIQ `deactivated` and `retired`).
    Retired,
    /// Deleted (emnify Deleted).
    Deleted,
    /// A change was accepted and is being applied (Twilio `scheduled`).
    Pending,
    /// A state this SDK does not know, with the provider's word for it.
    Unknown(String),
}

impl SimState {
    /// The lowercase word for the state (`"active"`), or the provider's word for `Unknown`.
    pub fn as_str(&self) -> &str {
        match self {
            SimState::New => "new",
            SimState::Ready => "ready",
            SimState::Active => "active",
            SimState::Inactive => "inactive",
            SimState::Retired => "retired",
            SimState::Deleted => "deleted",
            SimState::Pending => "pending",
            SimState::Unknown(s) => s,
        }
    }

    /// Parses the canonical words (case-insensitive); anything else is `Unknown`.
    pub fn from_word(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "new" => SimState::New,
            "ready" => SimState::Ready,
            "active" => SimState::Active,
            "inactive" => SimState::Inactive,
            "retired" => SimState::Retired,
            "deleted" => SimState::Deleted,
            "pending" => SimState::Pending,
            _ => SimState::Unknown(s.to_owned()),
        }
    }

    /// Whether this is the `Unknown` arm.
    pub fn is_unknown(&self) -> bool {
        matches!(self, SimState::Unknown(_))
    }
}

impl fmt::Display for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a lifecycle says of a move from one status to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// The SIM is already in the target status: nothing needs to be sent.
    AlreadyThere,
    /// The lifecycle allows the move (or is open).
    Allowed,
    /// The lifecycle forbids it.
    Forbidden(TransitionError),
}

impl Move {
    /// The refusal, if the move is forbidden.
    pub fn into_result(self) -> Result<Move, TransitionError> {
        match self {
            Move::Forbidden(e) => Err(e),
            other => Ok(other),
        }
    }
}

impl SimState {
    /// Reads a canonical word; used by serde. `Unknown` keeps the word.
    fn from_serialized(s: &str) -> Self {
        Self::from_word(s)
    }
}

impl serde::Serialize for SimState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SimState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(SimState::from_serialized(&s))
    }
}

/// A status change a lifecycle does not allow; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionError {
    /// The provider whose lifecycle refused the change.
    pub provider: Cow<'static, str>,
    /// The current status, in the provider's words.
    pub from: String,
    /// The requested status, in the provider's words.
    pub to: String,
    /// The statuses that may follow `from`, in the provider's words (empty: none).
    pub allowed: Vec<String>,
    /// Why, where a plain "not in the table" is not the whole story (e.g. "use delete_sim").
    pub hint: Option<String>,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: a SIM in state {} cannot move to {} (allowed: ",
            self.provider, self.from, self.to
        )?;
        if self.allowed.is_empty() {
            f.write_str("none")?;
        } else {
            f.write_str(&self.allowed.join(", "))?;
        }
        f.write_str(")")?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransitionError {}

/// A provider's status lifecycle as data: either a table of allowed `(from, to)` pairs, or open
/// (any value may follow any other, for providers whose status is free carrier text).
#[derive(Debug, Clone)]
pub struct Lifecycle<S: Clone + 'static> {
    provider: Cow<'static, str>,
    table: Option<Cow<'static, [(S, S)]>>,
}

impl<S> Lifecycle<S>
where
    S: Clone + PartialEq + fmt::Display + 'static,
{
    /// A lifecycle given by its allowed transitions.
    pub const fn table(provider: &'static str, pairs: &'static [(S, S)]) -> Self {
        Self {
            provider: Cow::Borrowed(provider),
            table: Some(Cow::Borrowed(pairs)),
        }
    }

    /// A lifecycle with no table: every change is allowed (the value itself is validated
    /// elsewhere).
    pub const fn open(provider: &'static str) -> Self {
        Self {
            provider: Cow::Borrowed(provider),
            table: None,
        }
    }

    /// The same lifecycle under another provider's name (a provider served by two companies,
    /// such as Super SIM on Twilio and on KORE).
    pub fn with_provider(mut self, provider: &'static str) -> Self {
        self.provider = Cow::Borrowed(provider);
        self
    }

    /// A copy that borrows this lifecycle's table rather than copying it: free, for a lifecycle
    /// mapped once into a `static` and handed out at every call (each provider's canonical one).
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use simcore::{Lifecycle, SimState};
    /// static NATIVE: Lifecycle<u8> = Lifecycle::table("demo", &[(1, 2)]);
    /// static CANONICAL: LazyLock<Lifecycle<SimState>> = LazyLock::new(|| {
    ///     NATIVE.map(|s| if *s == 1 { SimState::Inactive } else { SimState::Active })
    /// });
    /// let l = LazyLock::force(&CANONICAL).shared();
    /// assert!(l.allows(&SimState::Inactive, &SimState::Active));
    /// assert!(!l.allows(&SimState::Active, &SimState::Inactive));
    /// assert_eq!(l.provider(), "demo");
    /// ```
    pub fn shared(&'static self) -> Self {
        let provider: &'static str = &self.provider;
        Self {
            provider: Cow::Borrowed(provider),
            table: self.table.as_deref().map(Cow::Borrowed),
        }
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether the lifecycle is open (no table).
    pub fn is_open(&self) -> bool {
        self.table.is_none()
    }

    /// The allowed pairs, or `None` for an open lifecycle.
    pub fn pairs(&self) -> Option<&[(S, S)]> {
        self.table.as_deref()
    }

    /// Whether `from -> to` is allowed.
    pub fn allows(&self, from: &S, to: &S) -> bool {
        match &self.table {
            None => true,
            Some(t) => t.iter().any(|(f, t)| f == from && t == to),
        }
    }

    /// The states that may follow `from`, in table order (`None` for an open lifecycle).
    pub fn targets(&self, from: &S) -> Option<Vec<S>> {
        self.table.as_ref().map(|t| {
            t.iter()
                .filter(|(f, _)| f == from)
                .map(|(_, to)| to.clone())
                .collect()
        })
    }

    /// What the lifecycle says of `from -> to`: [`Move::AlreadyThere`] when they are the same
    /// status (whatever the table says: setting what is already there is not an error, and
    /// needs no request), [`Move::Allowed`], or [`Move::Forbidden`] with the refusal.
    pub fn judge(&self, from: &S, to: &S) -> Move {
        if from == to {
            return Move::AlreadyThere;
        }
        match self.check(from, to) {
            Ok(()) => Move::Allowed,
            Err(e) => Move::Forbidden(e),
        }
    }

    /// `Ok` when `from -> to` is allowed, otherwise a [`TransitionError`] naming both and the
    /// allowed targets. A move to the status the SIM already has is not in any table: see
    /// [`judge`](Self::judge), which tells it apart.
    pub fn check(&self, from: &S, to: &S) -> Result<(), TransitionError> {
        if self.allows(from, to) {
            return Ok(());
        }
        Err(TransitionError {
            provider: self.provider.clone(),
            from: from.to_string(),
            to: to.to_string(),
            allowed: self
                .targets(from)
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect(),
            hint: None,
        })
    }

    /// The same lifecycle over another status type (e.g. a provider's table seen as
    /// [`SimState`]s). Pairs that map to the same pair appear once.
    pub fn map<T, F>(&self, f: F) -> Lifecycle<T>
    where
        T: Clone + PartialEq + fmt::Display + 'static,
        F: Fn(&S) -> T,
    {
        let table = self.table.as_ref().map(|t| {
            let mut out: Vec<(T, T)> = Vec::with_capacity(t.len());
            for (a, b) in t.iter() {
                let pair = (f(a), f(b));
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
            Cow::Owned(out)
        });
        Lifecycle {
            provider: self.provider.clone(),
            table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PAIRS: &[(SimState, SimState)] = &[
        (SimState::New, SimState::Active),
        (SimState::Active, SimState::Inactive),
        (SimState::Inactive, SimState::Active),
    ];

    #[test]
    fn already_there_is_not_forbidden() {
        let l = Lifecycle::table("demo", PAIRS);
        assert_eq!(
            l.judge(&SimState::Active, &SimState::Active),
            Move::AlreadyThere
        );
        assert_eq!(
            l.judge(&SimState::Active, &SimState::Inactive),
            Move::Allowed
        );
        assert!(matches!(
            l.judge(&SimState::Active, &SimState::New),
            Move::Forbidden(e) if e.allowed == ["inactive"]
        ));
        let open: Lifecycle<String> = Lifecycle::open("free");
        assert_eq!(open.judge(&"a".into(), &"a".into()), Move::AlreadyThere);
        assert_eq!(open.judge(&"a".into(), &"b".into()), Move::Allowed);
        for s in [SimState::Active, SimState::Unknown("frozen".into())] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<SimState>(&json).unwrap(), s);
        }
    }

    #[test]
    fn unknown_is_never_a_target() {
        let l = Lifecycle::table("demo", PAIRS);
        let u = SimState::Unknown("weird".into());
        for s in [SimState::New, SimState::Active, SimState::Inactive] {
            assert!(!l.allows(&s, &u));
        }
    }

    #[test]
    fn open_lifecycle_allows_everything() {
        let l: Lifecycle<String> = Lifecycle::open("free");
        assert!(l.is_open());
        assert!(l.allows(&"a".to_string(), &"b".to_string()));
        assert_eq!(l.targets(&"a".to_string()), None);
    }

    #[test]
    fn map_deduplicates() {
        #[derive(Clone, PartialEq, Debug)]
        enum P {
            A,
            B,
            C,
        }
        impl fmt::Display for P {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{self:?}")
            }
        }
        static T: &[(P, P)] = &[(P::A, P::C), (P::B, P::C)];
        let l = Lifecycle::table("p", T);
        let canon = l.map(|p| match p {
            P::A | P::B => SimState::Inactive,
            P::C => SimState::Active,
        });
        assert_eq!(
            canon.pairs().unwrap(),
            &[(SimState::Inactive, SimState::Active)]
        );
    }

    #[test]
    fn words_round_trip() {
        for s in [
            SimState::New,
            SimState::Ready,
            SimState::Active,
            SimState::Inactive,
            SimState::Retired,
            SimState::Deleted,
            SimState::Pending,
        ] {
            assert_eq!(SimState::from_word(s.as_str()), s);
        }
        assert_eq!(
            SimState::from_word("Frozen"),
            SimState::Unknown("Frozen".into())
        );
    }
}
