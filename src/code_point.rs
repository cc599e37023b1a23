//! One macro, [`code_points!`], that writes a protocol registry once (the BGP registries of
//! `wire/`, the BFD fields of `bfd/`): from a single list of
//! `Variant = code, CONST, "name"` rows it generates the enum with an `Unknown(u8)` fallback
//! (smoltcp's `enum_with_unknown!`, routecore's `typeenum!`), both conversions, the name, and a
//! module of plain `u8` constants for callers that hold a code as a number. Properties that
//! depend on the code (expected flags, RFC 7606 actions) are then exhaustive `match`es on the
//! enum next to its registry, so a new row cannot be forgotten in any of them.
//!
//! A `closed` registry (message types, ORIGIN values, AS_PATH segment types: a code outside it
//! is an error, not a value to keep) gets a `#[repr(u8)]` enum without the fallback and
//! `from_u8 -> Option<Self>` instead.
//!
//! Owns no wire format and no I/O; it must stay a pure `const` mapping.

/// Writes an enum with an `Unknown(u8)` fallback, its conversions and a constants module, or
/// (`closed`) a `#[repr(u8)]` enum whose `from_u8` refuses codes outside the list.
///
/// ```text
/// code_points! {
///     /// Doc of the enum.
///     pub enum Kind, consts kind_code, unknown "UNKNOWN" {
///         /// Doc of a row (on the variant and the constant).
///         Foo = 1, FOO, "FOO";
///     }
/// }
/// code_points! {
///     pub enum Closed, closed {
///         Bar = 1, "BAR";
///     }
/// }
/// ```
macro_rules! code_points {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident, closed {
            $( $(#[$vmeta:meta])* $Variant:ident = $code:literal, $name:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $Enum {
            $( $(#[$vmeta])* $Variant = $code, )+
        }

        impl $Enum {
            /// The variant of a code, `None` for a code outside the registry.
            #[inline]
            pub const fn from_u8(code: u8) -> Option<Self> {
                match code {
                    $( $code => Some($Enum::$Variant), )+
                    _ => None,
                }
            }

            /// The code on the wire.
            #[inline]
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The name used in `anycastd decode` output and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )+
                }
            }

            /// Every variant, in registry order.
            pub const ALL: &'static [$Enum] = &[$( $Enum::$Variant, )+];
        }
    };

    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident, consts $consts:ident, unknown $unknown:literal {
            $( $(#[$vmeta:meta])* $Variant:ident = $code:literal, $CONST:ident, $name:literal; )+
        }
    ) => {
        #[doc = concat!("The codes of [`", stringify!($Enum), "`] as plain numbers.")]
        $vis mod $consts {
            $( $(#[$vmeta])* pub const $CONST: u8 = $code; )+
        }

        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $Enum {
            $( $(#[$vmeta])* $Variant, )+
            /// A code this codec does not know, kept so that it round-trips.
            Unknown(u8),
        }

        impl $Enum {
            /// The variant of a code: `Unknown(code)` for a code not in the registry.
            #[inline]
            pub const fn from_code(code: u8) -> Self {
                match code {
                    $( $code => $Enum::$Variant, )+
                    other => $Enum::Unknown(other),
                }
            }

            /// The code on the wire.
            #[inline]
            pub const fn code(self) -> u8 {
                match self {
                    $( $Enum::$Variant => $code, )+
                    $Enum::Unknown(other) => other,
                }
            }

            /// The name used in `anycastd decode` output and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )+
                    $Enum::Unknown(_) => $unknown,
                }
            }

            /// Every known variant, in registry order.
            pub const ALL: &'static [$Enum] = &[$( $Enum::$Variant, )+];
        }

        impl From<u8> for $Enum {
            #[inline]
            fn from(code: u8) -> Self {
                $Enum::from_code(code)
            }
        }

        impl From<$Enum> for u8 {
            #[inline]
            fn from(v: $Enum) -> u8 {
                v.code()
            }
        }
    };
}
