//! Octet readers shared by the decoders: nom's big-endian number parsers and `take`, kept behind
//! a one-value error type so that nom's types never leak out of `wire/`. Each decoder turns a
//! [`Short`] into the NOTIFICATION its RFC names.

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;

/// The input ended before the value did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short;

pub(crate) type R<'a, T> = Result<(&'a [u8], T), Short>;

#[inline]
pub(crate) fn u8(i: &[u8]) -> R<'_, u8> {
    be_u8::<_, ()>(i).map_err(|_| Short)
}

#[inline]
pub(crate) fn u16(i: &[u8]) -> R<'_, u16> {
    be_u16::<_, ()>(i).map_err(|_| Short)
}

#[inline]
pub(crate) fn u32(i: &[u8]) -> R<'_, u32> {
    be_u32::<_, ()>(i).map_err(|_| Short)
}

#[inline]
pub(crate) fn bytes(i: &[u8], n: usize) -> R<'_, &[u8]> {
    take::<_, _, ()>(n).parse(i).map_err(|_| Short)
}

#[inline]
pub(crate) fn ipv4(i: &[u8]) -> R<'_, std::net::Ipv4Addr> {
    let (i, v) = u32(i)?;
    Ok((i, std::net::Ipv4Addr::from(v)))
}

#[inline]
pub(crate) fn ipv6(i: &[u8]) -> R<'_, std::net::Ipv6Addr> {
    let (i, b) = bytes(i, 16)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ok((i, std::net::Ipv6Addr::from(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_short() {
        assert_eq!(u16(&[1, 2, 3]), Ok((&[3u8][..], 0x0102)));
        assert_eq!(u32(&[1, 2, 3]), Err(Short));
        assert_eq!(bytes(&[1, 2], 3), Err(Short));
        assert_eq!(bytes(&[1, 2], 2), Ok((&[][..], &[1u8, 2][..])));
    }
}
