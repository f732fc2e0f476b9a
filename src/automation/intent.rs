//! Keyword matching for intents and escalation triggers: case- and diacritics-insensitive,
//! whole words, in Latin, Cyrillic and Arabic (Urdu) script alike.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The words of `text`, folded: lower case, without diacritics (`é` → `e`, `ё` → `е`, Arabic
/// short vowels dropped), Arabic letter forms mapped to the Urdu ones, and split at anything
/// that is neither a letter nor a digit.
pub fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c) && !is_invisible(*c))
        .flat_map(char::to_lowercase)
        .map(urdu_form)
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Joiners and the Arabic elongation mark shape a word's look, not its letters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200c}' | '\u{200d}' | '\u{0640}' | '\u{200e}' | '\u{200f}'
    )
}

/// Arabic letters Urdu writes with its own forms (a keyboard may produce either).
fn urdu_form(c: char) -> char {
    match c {
        '\u{064a}' | '\u{0649}' => '\u{06cc}', // yeh, alef maksura → farsi yeh
        '\u{0643}' => '\u{06a9}',              // kaf → keheh
        '\u{0647}' => '\u{06c1}',              // heh → heh goal
        _ => c,
    }
}

/// A keyword (one word or a phrase), folded like the text it is looked for in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    pub text: String,
    words: Vec<String>,
}

impl Keyword {
    pub fn new(text: &str) -> Option<Keyword> {
        let words = words(text);
        (!words.is_empty()).then(|| Keyword {
            text: text.trim().to_owned(),
            words,
        })
    }

    /// Whether two keywords are the same once folded (`Late` and `late`).
    pub fn same_words(&self, other: &Keyword) -> bool {
        self.words == other.words
    }

    /// Whether the keyword's words occur in `text` (folded by `words`) as whole words, in order
    /// and next to each other.
    pub fn found_in(&self, text: &[String]) -> bool {
        text.windows(self.words.len()).any(|w| w == self.words)
    }
}

/// How many of `keywords` occur in `text`.
pub fn hits(keywords: &[Keyword], text: &[String]) -> usize {
    keywords.iter().filter(|k| k.found_in(text)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(keyword: &str, text: &str) -> bool {
        Keyword::new(keyword)
            .map(|k| k.found_in(&words(text)))
            .unwrap_or(false)
    }

    #[test]
    fn case_and_diacritics_do_not_matter() {
        assert!(found("late", "My order is LATE!"));
        assert!(found("cafe", "the Café was closed"));
        assert!(found("жалоба", "У меня ЖАЛОБА на курьера"));
        assert!(found("ещё", "еще раз"), "ё and е are one letter here");
        // Whole words: an inflected form is another word (admins list the forms they want).
        assert!(!found("оператор", "позовите оператора"));
    }

    #[test]
    fn only_whole_words_count() {
        assert!(!found("late", "I will translate it"));
        assert!(!found("order", "the border"));
        assert!(found("where is my order", "Hi, where is my order? Thanks"));
        assert!(!found("where is my order", "where is my new order"));
    }

    #[test]
    fn urdu_script_matches_across_letter_forms_and_vowel_marks() {
        // Arabic yeh and kaf typed for Urdu's; a zer vowel mark; a zero-width non-joiner.
        assert!(found("کہاں", "میرا آرڈر كہاں ہے؟"));
        assert!(found("پیسے", "میرے پیسے واپس کریں"));
        assert!(found("پیسے", "میرے پي\u{0650}سے واپس"));
        assert!(found("مسئلہ", "ایک مس\u{200c}ئلہ ہے"));
        assert!(found("kahan", "mera order kahan hai"));
    }

    #[test]
    fn an_empty_keyword_is_no_keyword() {
        assert!(Keyword::new("  !! ").is_none());
        assert_eq!(hits(&[], &words("anything")), 0);
    }
}
