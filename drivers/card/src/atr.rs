//! What an answer-to-reset says about the card (ISO/IEC 7816-3 §8.2 and
//! 7816-4 §8.1.1): its historical bytes, and whether its card-capabilities
//! data object announces extended-length APDUs.

/// The historical bytes of `atr`, or `None` when the ATR is malformed.
pub fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    let (&ts, rest) = atr.split_first()?;
    if ts != 0x3B && ts != 0x3F {
        return None;
    }
    let (&t0, mut rest) = rest.split_first()?;
    let count = usize::from(t0 & 0x0F);
    // Walk the interface bytes: each TDi says which of TA/TB/TC/TD follow.
    let mut indicator = t0 >> 4;
    loop {
        let present = (indicator & 0x7).count_ones() as usize;
        let has_td = indicator & 0x8 != 0;
        let skip = present + usize::from(has_td);
        let td = if has_td {
            rest.get(skip - 1).copied()
        } else {
            None
        };
        rest = rest.get(skip..)?;
        match td {
            Some(td) => indicator = td >> 4,
            None => break,
        }
    }
    rest.get(..count)
}

/// Whether the card says it takes extended Lc and Le (the third
/// software-function byte of its card capabilities, compact-TLV tag 7,
/// bit b7). `None` when the ATR does not say.
pub fn extended_length(atr: &[u8]) -> Option<bool> {
    let historical = historical_bytes(atr)?;
    // Category indicator 0x80: compact-TLV objects follow, nothing after.
    let (&0x80, mut objects) = historical.split_first()? else {
        return None;
    };
    while let Some((&header, rest)) = objects.split_first() {
        let (tag, len) = (header >> 4, usize::from(header & 0x0F));
        let value = rest.get(..len)?;
        if tag == 0x7 && len >= 3 {
            return Some(value[2] & 0x40 != 0);
        }
        objects = rest.get(len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_card_capabilities_from_the_historical_bytes() {
        // 3B, T0 = 0xF? with TA1..TD1, TD1 -> TD2 (T=1), historical
        // 80 73 C8 21 C0 (card capabilities with b7 of the third byte set)
        let with = [
            0x3B, 0xD5, 0x18, 0xFF, 0x81, 0x91, 0xFE, 0x1F, 0xC3, 0x80, 0x73, 0xC8, 0x21, 0xC0,
            0x11,
        ];
        assert_eq!(historical_bytes(&with), Some(&with[9..14]));
        assert_eq!(extended_length(&with), Some(true));
        let mut without = with;
        without[13] = 0x80;
        assert_eq!(extended_length(&without), Some(false));
        // PC/SC part 3's contactless ATR with no capabilities object
        let contactless = [
            0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x11, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(historical_bytes(&contactless).map(<[u8]>::len), Some(15));
        assert_eq!(extended_length(&contactless), None);
        // malformed: wrong TS, historical bytes missing, empty
        assert_eq!(historical_bytes(&[0x00, 0x00]), None);
        assert_eq!(historical_bytes(&[0x3B, 0x85, 0x80]), None);
        assert_eq!(extended_length(&[]), None);
        assert_eq!(extended_length(&[0x3B, 0x03, 0x80, 0x73, 0x01]), None);
    }
}
