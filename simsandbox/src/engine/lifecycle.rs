//! A state machine as a table.

/// A record's lifecycle: the moves `(from, to)` an update may make, and for the moves it may not,
/// which refusal each gets. A provider sandbox states its lifecycle as data and asks it.
///
/// ```
/// use simsandbox::engine::Lifecycle;
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Status { New, Active, Deleted }
/// use Status::*;
///
/// /// Refusals, as the provider words them.
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Refusal { UseDelete, NotAllowed }
///
/// const LIFE: Lifecycle<Status, Refusal> = Lifecycle::new(
///     &[(New, Active)],
///     &[(None, Deleted, Refusal::UseDelete)],
///     Refusal::NotAllowed,
/// );
/// assert_eq!(LIFE.check(New, Active), Ok(()));
/// assert_eq!(LIFE.check(Active, Deleted), Err(Refusal::UseDelete));
/// assert_eq!(LIFE.check(Active, New), Err(Refusal::NotAllowed));
/// assert!(LIFE.allows(New, Active));
/// assert_eq!(LIFE.targets(New).collect::<Vec<_>>(), vec![Active]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle<S: 'static, E: 'static = ()> {
    moves: &'static [(S, S)],
    refusals: &'static [(Option<S>, S, E)],
    otherwise: E,
}

impl<S: Copy + PartialEq, E: Copy> Lifecycle<S, E> {
    /// The moves allowed; the refusals of particular moves (`(None, to, e)`: every move to `to`),
    /// the first that fits answering; and the refusal of every other move.
    pub const fn new(
        moves: &'static [(S, S)],
        refusals: &'static [(Option<S>, S, E)],
        otherwise: E,
    ) -> Self {
        Self {
            moves,
            refusals,
            otherwise,
        }
    }

    /// Whether a record may move from `from` to `to`.
    pub fn allows(&self, from: S, to: S) -> bool {
        self.moves.contains(&(from, to))
    }

    /// The move's verdict: allowed, or the refusal it gets.
    pub fn check(&self, from: S, to: S) -> Result<(), E> {
        if self.allows(from, to) {
            return Ok(());
        }
        let refusal = self
            .refusals
            .iter()
            .find(|(f, t, _)| *t == to && f.is_none_or(|f| f == from));
        Err(refusal.map_or(self.otherwise, |(_, _, e)| *e))
    }

    /// The states a record may move to from `from`, in the table's order.
    pub fn targets(&self, from: S) -> impl Iterator<Item = S> + '_ {
        self.moves
            .iter()
            .filter(move |(f, _)| *f == from)
            .map(|(_, t)| *t)
    }

    /// Every move allowed.
    pub fn moves(&self) -> &'static [(S, S)] {
        self.moves
    }
}
