//! Bytes to text. In order: a byte-order mark; UTF-16 without one (a zero in every other
//! byte); UTF-8 (strict, or with a few broken sequences among many good ones); then a
//! statistical guess (chardetng) among the legacy encodings subtitles come in:
//! GB18030/GBK, Big5, Shift-JIS, EUC-KR, Windows-1252 and the other single-byte ones.

use encoding_rs::{Encoding, GB18030, GBK, UTF_8, UTF_16BE, UTF_16LE};

/// Decoded text and what it was decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The text, without a byte-order mark. Undecodable bytes are U+FFFD.
    pub text: String,
    /// The encoding's WHATWG name (`UTF-8`, `UTF-16LE`, `GBK`, `gb18030`, `Big5`,
    /// `Shift_JIS`, `windows-1252`, …).
    pub encoding: &'static str,
    /// Whether some bytes were not valid in that encoding (and became U+FFFD).
    pub malformed: bool,
}

/// Detects the encoding of `bytes` and decodes them.
///
/// Limits: short legacy-encoded texts can be misdetected (a few Chinese characters are
/// plausible as GBK and as Big5; a few accented letters as several single-byte
/// encodings). A line or two of text is usually enough; subtitle files are far longer.
pub fn decode(bytes: &[u8]) -> Decoded {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        return decode_as(encoding, &bytes[bom..]);
    }
    if let Some(encoding) = utf16_without_bom(bytes) {
        return decode_as(encoding, bytes);
    }
    if mostly_utf8(bytes) {
        return decode_as(UTF_8, bytes);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    // No top-level-domain hint: files come from anywhere. UTF-8 was ruled out above.
    let mut encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
    // chardetng says GBK for both; encoding_rs decodes GBK as GB18030 either way, so only
    // the name changes, to the one that says four-byte sequences are in use.
    if encoding == GBK && has_gb18030_four_byte_sequences(bytes) {
        encoding = GB18030;
    }
    decode_as(encoding, bytes)
}

fn decode_as(encoding: &'static Encoding, bytes: &[u8]) -> Decoded {
    let (text, malformed) = encoding.decode_without_bom_handling(bytes);
    Decoded { text: text.into_owned(), encoding: encoding.name(), malformed }
}

/// UTF-16 text of mostly ASCII-range characters (which subtitles are: timings, digits,
/// punctuation) has a zero in every other byte: in the odd positions for little-endian,
/// the even ones for big-endian. Looks at the first few kilobytes.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_zero = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_zero = sample.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if odd_zero * 10 > pairs * 3 && even_zero * 20 < pairs {
        Some(UTF_16LE)
    } else if even_zero * 10 > pairs * 3 && odd_zero * 20 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Valid UTF-8, or UTF-8 with a few broken sequences (a file cut and pasted together, one
/// stray Windows-1252 byte): legacy multi-byte text practically never forms many valid
/// UTF-8 sequences by chance, so many valid ones and few invalid ones mean UTF-8.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    bad == 0 || (good >= 16 && bad * 50 <= good)
}

/// GB18030 four-byte sequences: a lead byte 0x81–0xFE, then 0x30–0x39 (GBK two-byte
/// sequences never have a digit as the second byte), then a lead-range byte and a digit.
fn has_gb18030_four_byte_sequences(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
        } else if (0x81..=0xFE).contains(&b) {
            match bytes.get(i + 1..i + 4) {
                Some([b2, b3, b4]) if b2.is_ascii_digit() && (0x81..=0xFE).contains(b3) && b4.is_ascii_digit() => {
                    return true;
                }
                _ => i += 2,
            }
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_win_over_guessing() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("héllo".as_bytes());
        assert_eq!(decode(&bytes), Decoded { text: "héllo".into(), encoding: "UTF-8", malformed: false });
        let mut be = vec![0xFE, 0xFF];
        be.extend("hi 你好".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be).text, "hi 你好");
        assert_eq!(decode(&be).encoding, "UTF-16BE");
    }

    #[test]
    fn a_stray_byte_in_utf8_stays_utf8() {
        let mut bytes = "这是一段很长的中文字幕，用来确认少量坏字节不会改变编码判断。".repeat(2).into_bytes();
        bytes.insert(6, 0xE9);
        let decoded = decode(&bytes);
        assert_eq!(decoded.encoding, "UTF-8");
        assert!(decoded.malformed);
        assert!(decoded.text.contains('\u{FFFD}'));
    }

    #[test]
    fn gb18030_is_named_when_its_four_byte_sequences_appear() {
        let text = "字幕里有一个表情符号😀和一些普通的中文句子，这样检测器才有足够的信息。".repeat(3);
        let bytes = GB18030.encode(&text).0.into_owned();
        assert!(has_gb18030_four_byte_sequences(&bytes));
        assert!(!has_gb18030_four_byte_sequences(&GBK.encode("普通的中文句子").0));
        let decoded = decode(&bytes);
        assert_eq!((decoded.text.as_str(), decoded.encoding), (text.as_str(), "gb18030"));
    }

    #[test]
    fn utf16_without_bom_is_found_by_its_zeros() {
        assert_eq!(
            utf16_without_bom(&"00:00:01,000".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>()),
            Some(UTF_16LE)
        );
        assert_eq!(utf16_without_bom(b"00:00:01,000 --> x"), None);
        assert_eq!(utf16_without_bom(&[0; 64]), None, "all zeros is binary, not UTF-16");
    }
}
