//! What automation tells customers, written by the server in the customer's language
//! (English, Russian and Urdu; English otherwise), in the widget and in Telegram alike.

/// The customer's language: the primary subtag of the conversation's language.
pub fn primary(language: &str) -> &str {
    language.split(['-', '_']).next().unwrap_or(language)
}

pub fn prioritised(language: &str) -> &'static str {
    match primary(language) {
        "ru" | "uk" | "be" => "Ваше обращение передано старшим специалистам поддержки.",
        "ur" => "آپ کا معاملہ سینئر سپورٹ کو ترجیحی طور پر بھیج دیا گیا ہے۔",
        _ => "Your case has been prioritised to senior support.",
    }
}

pub fn idle_closed(language: &str, hours: i64) -> String {
    match primary(language) {
        "ru" | "uk" | "be" => format!(
            "Обращение закрыто: в нём не было сообщений {hours} ч. Если нужна помощь, просто напишите снова."
        ),
        "ur" => format!(
            "{hours} گھنٹے تک کوئی پیغام نہ آنے پر یہ گفتگو بند کر دی گئی ہے۔ مزید مدد کے لیے دوبارہ لکھیں۔"
        ),
        _ => format!(
            "This conversation was closed after {hours} hours without messages. Write again any time if you need more help."
        ),
    }
}

/// When the team is back, for the offline auto-reply outside business hours.
pub fn back_at(language: &str, date: &str, time: &str, zone: &str) -> String {
    match primary(language) {
        "ru" | "uk" | "be" => format!("Мы вернёмся {date} в {time} ({zone})."),
        "ur" => format!("ہم {date} کو {time} بجے ({zone}) واپس ہوں گے۔"),
        _ => format!("We are back on {date} at {time} ({zone})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_picks_the_text_and_english_is_the_default() {
        assert!(prioritised("en").contains("senior support"));
        assert!(prioritised("ru-RU").contains("старшим"));
        assert!(prioritised("ur").contains("سینئر"));
        assert_eq!(prioritised("de"), prioritised("en"));
        assert!(idle_closed("en", 24).contains("24 hours"));
        assert!(back_at("en", "2026-12-07", "09:00", "UTC").contains("2026-12-07 at 09:00"));
    }
}
