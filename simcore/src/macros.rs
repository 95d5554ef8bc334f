//! Macros the provider crates share.

/// Declares a status-like enum read from a provider's string, tolerant of values this SDK does
/// not know: each listed variant maps to one wire string, anything else becomes
/// `Unknown(String)` with the provider's word kept.
///
/// The enum gets `as_str`, `is_unknown`, `Display`, `From<&str>`, and serde as a string.
///
/// ```
/// simcore::open_enum! {
///     /// A door's state.
///     pub enum Door {
///         /// Open.
///         Open = "open",
///         /// Closed.
///         Closed = "closed",
///     }
/// }
/// assert_eq!(Door::from("open"), Door::Open);
/// assert_eq!(Door::from("ajar"), Door::Unknown("ajar".into()));
/// assert_eq!(serde_json::to_string(&Door::Closed).unwrap(), "\"closed\"");
/// let d: Door = serde_json::from_str("\"jammed\"").unwrap();
/// assert_eq!(d.as_str(), "jammed");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this SDK does not know, as the provider sent it.
            Unknown(::std::string::String),
        }

        impl $name {
            /// Every known variant, in declaration order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The provider's wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s,
                }
            }

            /// Whether this is a value this SDK does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::__private::serde::Deserialize>::deserialize(d)?;
                Ok($name::from(&*s))
            }
        }
    };
}
