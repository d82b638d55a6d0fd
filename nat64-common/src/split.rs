//! Splitting an IPv6 packet into fragments (RFC 8200 §4.5), for the slow path: an IPv4
//! packet with DF=0 may be larger than the IPv6 path carries, and its sender will not do
//! path MTU discovery, so the translator sends it as fragments no larger than the
//! operator's `lowest-ipv6-mtu` (RFC 7915 §4; Jool does the same).
//!
//! The packet handed in is already translated: a 40-byte IPv6 header, optionally a
//! Fragment header (the IPv4 packet was itself a fragment), then the payload. Nothing
//! else sits between (the translator never emits other extension headers), so the
//! unfragmentable part is the IPv6 header alone.

pub const IPV6_HLEN: usize = 40;
pub const FRAG_HLEN: usize = 8;
/// Next Header value of the Fragment header.
pub const NH_FRAGMENT: u8 = 44;
/// RFC 8200 §5: no IPv6 link is smaller, so no fragment needs to be.
pub const IPV6_MIN_MTU: u32 = 1280;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// Not an IPv6 packet, or shorter than its header and Payload Length say.
    Malformed,
    /// Fragments must hold at least 1280 bytes (RFC 8200 §5).
    MtuTooSmall,
    /// The fragments' offsets would run past the 13-bit Fragment Offset field.
    TooLong,
}

impl SplitError {
    pub const fn reason(&self) -> &'static str {
        match self {
            SplitError::Malformed => "not a complete IPv6 packet",
            SplitError::MtuTooSmall => "fragments must be at least 1280 bytes (RFC 8200 §5)",
            SplitError::TooLong => "the packet's data runs past the largest fragment offset",
        }
    }
}

/// Produces the fragments of one packet, one at a time, into a caller's buffer.
pub struct Splitter<'a> {
    header: [u8; IPV6_HLEN],
    /// Next Header of the fragmentable part (the transport protocol).
    next_header: u8,
    payload: &'a [u8],
    /// Offset of `payload` in the original datagram (non-zero when the packet already was
    /// a fragment).
    base: usize,
    /// The packet already was a fragment with more to follow: so is its last piece.
    more_after: bool,
    ident: u32,
    /// Payload bytes per fragment, a multiple of 8.
    chunk: usize,
    pos: usize,
    /// The packet fits and has no Fragment header: it goes out unchanged.
    whole: bool,
    done: bool,
}

impl<'a> Splitter<'a> {
    /// `ident` names the fragments unless the packet already has a Fragment header
    /// (whose Identification is kept, so the receiver reassembles all of them together).
    pub fn new(packet: &'a [u8], mtu: u32, ident: u32) -> Result<Splitter<'a>, SplitError> {
        if mtu < IPV6_MIN_MTU {
            return Err(SplitError::MtuTooSmall);
        }
        if packet.len() < IPV6_HLEN || packet[0] >> 4 != 6 {
            return Err(SplitError::Malformed);
        }
        let plen = u16::from_be_bytes([packet[4], packet[5]]) as usize;
        let end = IPV6_HLEN + plen;
        if packet.len() < end {
            return Err(SplitError::Malformed);
        }
        let mut header = [0u8; IPV6_HLEN];
        header.copy_from_slice(&packet[..IPV6_HLEN]);
        let (next_header, payload, base, more_after, ident) = if packet[6] == NH_FRAGMENT {
            if plen < FRAG_HLEN {
                return Err(SplitError::Malformed);
            }
            let f = &packet[IPV6_HLEN..IPV6_HLEN + FRAG_HLEN];
            let off_m = u16::from_be_bytes([f[2], f[3]]);
            (
                f[0],
                &packet[IPV6_HLEN + FRAG_HLEN..end],
                usize::from(off_m & !7),
                off_m & 1 != 0,
                u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
            )
        } else {
            (packet[6], &packet[IPV6_HLEN..end], 0, false, ident)
        };
        let mtu = mtu.min(u32::from(u16::MAX)) as usize;
        let chunk = (mtu - IPV6_HLEN - FRAG_HLEN) & !7;
        let whole = packet[6] != NH_FRAGMENT && end <= mtu;
        // The last fragment's offset must fit 13 bits of 8-byte units.
        if !whole && base + payload.len().saturating_sub(1) / chunk * chunk > 0xfff8 {
            return Err(SplitError::TooLong);
        }
        Ok(Splitter {
            header,
            next_header,
            payload,
            base,
            more_after,
            ident,
            chunk,
            pos: 0,
            whole,
            done: false,
        })
    }

    /// How many packets [`Splitter::next_into`] will produce.
    pub fn count(&self) -> usize {
        if self.whole {
            1
        } else {
            self.payload.len().div_ceil(self.chunk).max(1)
        }
    }

    /// Largest packet [`Splitter::next_into`] writes.
    pub fn max_len(&self) -> usize {
        if self.whole {
            IPV6_HLEN + self.payload.len()
        } else {
            IPV6_HLEN + FRAG_HLEN + self.chunk.min(self.payload.len())
        }
    }

    /// Writes the next packet into `out` and returns its length; `None` when all are out
    /// or `out` is shorter than [`Splitter::max_len`].
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.done || out.len() < self.max_len() {
            return None;
        }
        if self.whole {
            self.done = true;
            let n = IPV6_HLEN + self.payload.len();
            out[..IPV6_HLEN].copy_from_slice(&self.header);
            out[IPV6_HLEN..n].copy_from_slice(self.payload);
            return Some(n);
        }
        let take = self.chunk.min(self.payload.len() - self.pos);
        let last = self.pos + take >= self.payload.len();
        out[..IPV6_HLEN].copy_from_slice(&self.header);
        out[4..6].copy_from_slice(&((FRAG_HLEN + take) as u16).to_be_bytes());
        out[6] = NH_FRAGMENT;
        let off_m = (self.base + self.pos) as u16 | u16::from(!last || self.more_after);
        let f = &mut out[IPV6_HLEN..IPV6_HLEN + FRAG_HLEN];
        f[0] = self.next_header;
        f[1] = 0;
        f[2..4].copy_from_slice(&off_m.to_be_bytes());
        f[4..8].copy_from_slice(&self.ident.to_be_bytes());
        let start = IPV6_HLEN + FRAG_HLEN;
        out[start..start + take].copy_from_slice(&self.payload[self.pos..self.pos + take]);
        self.pos += take;
        self.done = last;
        Some(start + take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload_len: usize, nh: u8) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; IPV6_HLEN + payload_len];
        p[0] = 0x60;
        p[1] = 0x12; // traffic class/flow label bits kept in every fragment
        p[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
        p[6] = nh;
        p[7] = 63;
        p[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 1, 0, 0, 0, 0, 0, 0, 198, 51, 100, 2]);
        for (i, b) in p[IPV6_HLEN..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        p
    }

    fn all(s: &mut Splitter) -> std::vec::Vec<std::vec::Vec<u8>> {
        let mut out = std::vec::Vec::new();
        let mut buf = std::vec![0u8; 65600];
        while let Some(n) = s.next_into(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn splits_into_eight_byte_aligned_fragments_of_at_most_mtu() {
        let p = packet(3008, 17);
        let mut s = Splitter::new(&p, 1280, 0x1234).unwrap();
        assert_eq!(s.count(), 3);
        let frags = all(&mut s);
        assert_eq!(frags.len(), 3);
        // 1280 − 48 = 1232 payload bytes per fragment (a multiple of 8).
        let lens: std::vec::Vec<usize> = frags.iter().map(|f| f.len()).collect();
        assert_eq!(lens, [1280, 1280, 48 + 3008 - 2 * 1232]);
        let mut joined = std::vec::Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert_eq!(&f[..4], &p[..4], "version, class and flow label kept");
            assert_eq!(&f[7..40], &p[7..40], "hop limit and addresses kept");
            assert_eq!(f[6], NH_FRAGMENT);
            assert_eq!(
                u16::from_be_bytes([f[4], f[5]]) as usize,
                f.len() - IPV6_HLEN
            );
            let h = &f[40..48];
            assert_eq!(h[0], 17);
            assert_eq!(h[1], 0);
            let off_m = u16::from_be_bytes([h[2], h[3]]);
            assert_eq!(usize::from(off_m & !7), i * 1232);
            assert_eq!(off_m & 6, 0, "reserved bits zero");
            assert_eq!(off_m & 1 == 1, i < 2, "M set on all but the last");
            assert_eq!(&h[4..8], &[0, 0, 0x12, 0x34]);
            joined.extend_from_slice(&f[48..]);
        }
        assert_eq!(joined, &p[40..]);
    }

    #[test]
    fn exact_bytes_of_a_small_split() {
        // 1300 bytes of payload at MTU 1280: 1232 + 68.
        let p = packet(1300, 6);
        let frags = all(&mut Splitter::new(&p, 1280, 7).unwrap());
        let mut want0 = p[..40].to_vec();
        want0[4..6].copy_from_slice(&1240u16.to_be_bytes());
        want0[6] = 44;
        want0.extend_from_slice(&[6, 0, 0x00, 0x01, 0, 0, 0, 7]);
        want0.extend_from_slice(&p[40..40 + 1232]);
        let mut want1 = p[..40].to_vec();
        want1[4..6].copy_from_slice(&76u16.to_be_bytes());
        want1[6] = 44;
        // offset 1232 = 154 × 8 → 0x04d0, M = 0
        want1.extend_from_slice(&[6, 0, 0x04, 0xd0, 0, 0, 0, 7]);
        want1.extend_from_slice(&p[40 + 1232..]);
        assert_eq!(frags, [want0, want1]);
    }

    #[test]
    fn a_packet_that_fits_goes_out_unchanged() {
        let p = packet(1240, 17);
        let mut s = Splitter::new(&p, 1280, 1).unwrap();
        assert_eq!(s.count(), 1);
        assert_eq!(all(&mut s), [p]);
    }

    #[test]
    fn an_existing_fragment_header_is_refragmented_in_place() {
        // A middle fragment (offset 2960, M=1, id 0xabcd) of 1480 payload bytes.
        let mut p = packet(8 + 1480, NH_FRAGMENT);
        p[40..48].copy_from_slice(&[17, 0, 0x0b, 0x91, 0, 0, 0xab, 0xcd]);
        let frags = all(&mut Splitter::new(&p, 1280, 99).unwrap());
        assert_eq!(frags.len(), 2);
        let h0 = &frags[0][40..48];
        let h1 = &frags[1][40..48];
        assert_eq!(h0, &[17, 0, 0x0b, 0x91, 0, 0, 0xab, 0xcd]);
        // 2960 + 1232 = 4192 = 0x1060, and M stays set: more fragments follow the original.
        assert_eq!(h1, &[17, 0, 0x10, 0x61, 0, 0, 0xab, 0xcd]);
        assert_eq!(frags[0].len(), 1280);
        assert_eq!(frags[1].len(), 48 + 1480 - 1232);
        assert_eq!([&frags[0][48..], &frags[1][48..]].concat(), &p[48..]);
    }

    #[test]
    fn refuses_what_it_cannot_split() {
        let p = packet(2000, 17);
        assert_eq!(
            Splitter::new(&p, 1279, 0).err(),
            Some(SplitError::MtuTooSmall)
        );
        assert_eq!(
            Splitter::new(&p[..1000], 1280, 0).err(),
            Some(SplitError::Malformed)
        );
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert_eq!(
            Splitter::new(&v4, 1280, 0).err(),
            Some(SplitError::Malformed)
        );
        // A fragment at offset 65000 with 2000 more bytes cannot be expressed.
        let mut f = packet(8 + 2000, NH_FRAGMENT);
        f[40..48].copy_from_slice(&[17, 0, 0xfd, 0xe9, 0, 0, 0, 1]);
        assert_eq!(Splitter::new(&f, 1280, 0).err(), Some(SplitError::TooLong));
        // A buffer too small for a fragment yields nothing rather than a short packet.
        let mut s = Splitter::new(&p, 1280, 0).unwrap();
        assert_eq!(s.next_into(&mut [0u8; 100]), None);
    }
}
