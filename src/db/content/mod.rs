//! Queries for tags, canned responses, search, statistics and contact history.

pub mod canned;
pub mod history;
pub mod operator_names;
pub mod search;
pub mod stats;
pub mod tags;

diesel::define_sql_function!(
    /// SQL `lower()`, for case-insensitive ordering and lookups.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

/// `text` as a `LIKE` pattern matching everything that starts with it: the wildcards a user
/// typed are escaped, so `50%` looks for a literal percent sign.
pub fn prefix_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn prefix_pattern_escapes_wildcards() {
        assert_eq!(prefix_pattern("ref"), "ref%");
        assert_eq!(prefix_pattern("50%_\\"), "50\\%\\_\\\\%");
    }
}
