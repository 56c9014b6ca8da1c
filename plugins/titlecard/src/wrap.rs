//! Line breaking for captions and titles.
//!
//! The renderer draws text in a box of a known width, but the template does not know the
//! font's metrics, so it breaks lines by character count: every character counts as one, which
//! is the width of a CJK ideograph at the font size and leaves Latin text (about half as wide)
//! comfortably short. Latin words are kept whole where they fit; CJK text may break between
//! any two characters, except that closing punctuation never starts a line and opening
//! punctuation never ends one (the basic rule of Chinese and Japanese typesetting).

/// Breaks `text` into lines of at most `max_chars` characters (at least 1). Line breaks in
/// the text are kept; blank lines and surrounding whitespace are dropped.
pub fn wrap(text: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    let mut lines = Vec::new();
    for paragraph in text.lines().map(str::trim).filter(|p| !p.is_empty()) {
        fill(&tokens(paragraph), max, &mut lines);
    }
    lines
}

/// An unbreakable piece of a paragraph: a Latin word or a CJK character, with the punctuation
/// that must stay on its line.
struct Token {
    text: String,
    /// Characters in `text`.
    width: usize,
    /// Whether whitespace preceded it, so joining it to the previous token on a line needs a
    /// space.
    space_before: bool,
}

/// Splits a paragraph into tokens.
fn tokens(paragraph: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    // Whitespace seen since the last token.
    let mut space = false;
    // Opening punctuation waiting to be glued to the next token.
    let mut opening = String::new();
    // Whether the last token is a Latin word that the next word character extends.
    let mut in_word = false;
    for c in paragraph.chars() {
        if c.is_whitespace() {
            space = true;
            in_word = false;
            continue;
        }
        if is_closing(c)
            && !space
            && opening.is_empty()
            && let Some(last) = tokens.last_mut()
        {
            last.text.push(c);
            last.width += 1;
            in_word = false;
            continue;
        }
        if is_opening(c) {
            opening.push(c);
            in_word = false;
            continue;
        }
        if in_word && opening.is_empty() && !is_cjk(c) {
            if let Some(last) = tokens.last_mut() {
                last.text.push(c);
                last.width += 1;
            }
            continue;
        }
        let mut text = std::mem::take(&mut opening);
        text.push(c);
        tokens.push(Token { width: text.chars().count(), text, space_before: space });
        space = false;
        in_word = !is_cjk(c);
    }
    if !opening.is_empty() {
        // Opening punctuation at the very end: nothing follows, so it stays with what precedes.
        match tokens.last_mut() {
            Some(last) if !space => {
                last.width += opening.chars().count();
                last.text.push_str(&opening);
            }
            _ => tokens.push(Token { width: opening.chars().count(), text: opening, space_before: space }),
        }
    }
    tokens
}

/// Greedily fills lines of at most `max` characters with `tokens`, splitting only tokens that
/// are longer than a whole line.
fn fill(tokens: &[Token], max: usize, lines: &mut Vec<String>) {
    let mut line = String::new();
    let mut width = 0;
    for token in tokens {
        let gap = usize::from(token.space_before && !line.is_empty());
        if width + gap + token.width <= max {
            if gap == 1 {
                line.push(' ');
            }
            line.push_str(&token.text);
            width += gap + token.width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if token.width <= max {
            line.push_str(&token.text);
            width = token.width;
        } else {
            let chars: Vec<char> = token.text.chars().collect();
            for piece in chars.chunks(max) {
                if piece.len() == max {
                    lines.push(piece.iter().collect());
                } else {
                    line = piece.iter().collect();
                }
            }
            width = line.chars().count();
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
}

/// Characters that may be broken around like words: CJK ideographs, kana, Hangul, CJK
/// punctuation and full-width forms.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{2E80}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7AF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FFEF}'
        | '\u{20000}'..='\u{3FFFF}')
}

/// Punctuation that must not start a line.
fn is_closing(c: char) -> bool {
    "，。、；：？！）」』》〉】〕”’…—～·！？，．：；）］｝".contains(c)
}

/// Punctuation that must not end a line.
fn is_opening(c: char) -> bool {
    "（「『《〈【〔“‘（［｛".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_breaks_anywhere_by_character_count() {
        assert_eq!(wrap("贫僧刚从西天取经回来", 4), ["贫僧刚从", "西天取经", "回来"]);
        assert_eq!(wrap("贫僧刚从西天取经回来", 10), ["贫僧刚从西天取经回来"]);
    }

    #[test]
    fn latin_words_stay_whole() {
        assert_eq!(wrap("the monk came back from the west", 12), ["the monk", "came back", "from the", "west"]);
        assert_eq!(wrap("  spaced   out  ", 20), ["spaced out"]);
    }

    #[test]
    fn long_words_are_split() {
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("x abcdefghij", 4), ["x", "abcd", "efgh", "ij"]);
    }

    #[test]
    fn punctuation_stays_with_its_neighbour() {
        // The comma would start line 2 with a plain greedy break.
        assert_eq!(wrap("阿弥陀佛，贫僧", 4), ["阿弥陀", "佛，贫僧"]);
        // The opening bracket would end line 1.
        assert_eq!(wrap("他说「好」", 3), ["他说", "「好」"]);
    }

    #[test]
    fn mixed_scripts() {
        assert_eq!(wrap("唐僧 loves 相亲", 8), ["唐僧 loves", "相亲"]);
    }

    #[test]
    fn explicit_breaks_are_kept_and_no_line_is_too_long() {
        assert_eq!(wrap("第一行\n\n第二行", 10), ["第一行", "第二行"]);
        let text = "悟空，你又调皮了！（八戒在一旁偷笑）……“师父，这位女施主想见您。” Yes, really.";
        for max in 1..20 {
            for line in wrap(text, max) {
                assert!(line.chars().count() <= max, "{max}: {line:?}");
                assert!(!line.is_empty());
            }
        }
        assert!(wrap("", 5).is_empty());
        assert_eq!(wrap("abc", 0), ["a", "b", "c"]);
    }
}
