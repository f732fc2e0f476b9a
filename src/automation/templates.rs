//! Offline auto-reply templates: a category, keywords and a reply per language. When nobody of
//! a conversation's group is online, a customer's message is answered by the active template
//! whose keywords it matches most (or the fallback), in the customer's language.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::intent::{hits, Keyword};
use super::texts::primary;
use crate::db::schema::{auto_replies, settings};
use crate::error::{AppError, AppResult};

const MAX_KEYWORDS: usize = 200;
const MAX_KEYWORD_CHARS: usize = 100;
const MAX_REPLY_CHARS: usize = 2000;
const SEEDED: &str = "seeded.auto_replies";

/// A template as admins write it (`POST`/`PUT /api/v1/auto-replies`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoReplyBody {
    /// Lower-case letters, digits and `_` (1–40): becomes the conversation's category.
    pub category: String,
    /// Words or phrases per language code, e.g. `{"en": ["late"], "ur": ["kahan"]}`. Any
    /// language's keywords match any customer; the language only picks the reply.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub keywords: BTreeMap<String, Vec<String>>,
    /// The reply per language code; English is used for languages without one.
    #[schema(value_type = Object)]
    pub replies: BTreeMap<String, String>,
    /// Used when no template's keywords match.
    #[serde(default)]
    pub is_fallback: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = auto_replies, check_for_backend(diesel::pg::Pg))]
pub struct AutoReplyRow {
    pub id: Uuid,
    pub category: String,
    #[schema(value_type = Object)]
    pub keywords: serde_json::Value,
    #[schema(value_type = Object)]
    pub replies: serde_json::Value,
    pub is_fallback: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn language_ok(code: &str) -> bool {
    (2..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase())
}

/// A category as conversations and templates carry it: 1 to 40 of `a-z 0-9 _` (trimmed).
pub fn valid_category(raw: &str) -> AppResult<String> {
    let c = raw.trim();
    if c.is_empty()
        || c.len() > 40
        || !c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(AppError::invalid(
            "category",
            "category must be 1 to 40 lower-case letters, digits or _",
        ));
    }
    Ok(c.to_owned())
}

impl AutoReplyBody {
    pub fn validate(&self) -> AppResult<()> {
        if valid_category(&self.category)? != self.category {
            return Err(AppError::invalid(
                "category",
                "category must not have spaces around it",
            ));
        }
        for (lang, words) in &self.keywords {
            if !language_ok(lang) {
                return Err(AppError::invalid(
                    "keywords",
                    format!("{lang:?} is not a language code (two or three lower-case letters)"),
                ));
            }
            if words.len() > MAX_KEYWORDS {
                return Err(AppError::invalid(
                    "keywords",
                    format!("at most {MAX_KEYWORDS} keywords per language"),
                ));
            }
            for w in words {
                crate::validate::text("keywords", w)?;
                if w.chars().count() > MAX_KEYWORD_CHARS || Keyword::new(w).is_none() {
                    return Err(AppError::invalid(
                        "keywords",
                        format!("each keyword must have a letter or digit and at most {MAX_KEYWORD_CHARS} characters"),
                    ));
                }
            }
        }
        if self.replies.is_empty() {
            return Err(AppError::invalid("replies", "at least one reply is needed"));
        }
        for (lang, reply) in &self.replies {
            if !language_ok(lang) {
                return Err(AppError::invalid(
                    "replies",
                    format!("{lang:?} is not a language code (two or three lower-case letters)"),
                ));
            }
            crate::validate::text("replies", reply)?;
            if reply.trim().is_empty() {
                return Err(AppError::invalid("replies", "a reply must not be empty"));
            }
            if reply.chars().count() > MAX_REPLY_CHARS {
                return Err(AppError::TooLong(format!(
                    "a reply is longer than {MAX_REPLY_CHARS} characters"
                )));
            }
        }
        Ok(())
    }
}

/// A template ready for matching.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: Uuid,
    pub category: String,
    keywords: Vec<Keyword>,
    replies: BTreeMap<String, String>,
    pub is_fallback: bool,
}

impl Template {
    /// The active ones among `rows`, fallbacks last; a row that does not read is skipped.
    pub fn active(rows: &[AutoReplyRow]) -> Vec<Template> {
        let mut templates: Vec<Template> = rows
            .iter()
            .filter(|r| r.active)
            .filter_map(|r| {
                let keywords: BTreeMap<String, Vec<String>> =
                    serde_json::from_value(r.keywords.clone()).ok()?;
                let replies: BTreeMap<String, String> =
                    serde_json::from_value(r.replies.clone()).ok()?;
                // A word listed under two languages counts once.
                let mut unique: Vec<Keyword> = Vec::new();
                for k in keywords.values().flatten().filter_map(|k| Keyword::new(k)) {
                    if !unique.iter().any(|u| u.same_words(&k)) {
                        unique.push(k);
                    }
                }
                Some(Template {
                    id: r.id,
                    category: r.category.clone(),
                    keywords: unique,
                    replies,
                    is_fallback: r.is_fallback,
                })
            })
            .collect();
        templates.sort_by(|a, b| (a.is_fallback, &a.category).cmp(&(b.is_fallback, &b.category)));
        templates
    }

    /// The reply in `language`, else English, else any.
    pub fn reply_in(&self, language: &str) -> Option<&str> {
        self.replies
            .get(primary(language))
            .or_else(|| self.replies.get("en"))
            .or_else(|| self.replies.values().next())
            .map(String::as_str)
    }
}

/// The template whose keywords `words` match most (the first by category on a tie), else the
/// first fallback.
pub fn choose<'a>(templates: &'a [Template], words: &[String]) -> Option<&'a Template> {
    let mut best: Option<(&Template, usize)> = None;
    for t in templates.iter().filter(|t| !t.is_fallback) {
        let n = hits(&t.keywords, words);
        if n > 0 && best.is_none_or(|(_, most)| n > most) {
            best = Some((t, n));
        }
    }
    best.map(|(t, _)| t)
        .or_else(|| templates.iter().find(|t| t.is_fallback))
}

pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AutoReplyRow>> {
    auto_replies::table
        .select(AutoReplyRow::as_select())
        .order((auto_replies::is_fallback, auto_replies::category))
        .load(conn)
        .await
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<AutoReplyRow> {
    auto_replies::table
        .find(id)
        .select(AutoReplyRow::as_select())
        .first(conn)
        .await
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    body: &AutoReplyBody,
) -> QueryResult<AutoReplyRow> {
    diesel::insert_into(auto_replies::table)
        .values((
            auto_replies::id.eq(Uuid::now_v7()),
            auto_replies::category.eq(&body.category),
            auto_replies::keywords.eq(json(&body.keywords)),
            auto_replies::replies.eq(json(&body.replies)),
            auto_replies::is_fallback.eq(body.is_fallback),
            auto_replies::active.eq(body.active),
        ))
        .returning(AutoReplyRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    body: &AutoReplyBody,
) -> QueryResult<AutoReplyRow> {
    diesel::update(auto_replies::table.find(id))
        .set((
            auto_replies::category.eq(&body.category),
            auto_replies::keywords.eq(json(&body.keywords)),
            auto_replies::replies.eq(json(&body.replies)),
            auto_replies::is_fallback.eq(body.is_fallback),
            auto_replies::active.eq(body.active),
            auto_replies::updated_at.eq(Utc::now()),
        ))
        .returning(AutoReplyRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::delete(auto_replies::table.find(id))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// On the first start only, the default templates: an admin who deleted them does not get
/// them back.
pub async fn seed(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    use diesel_async::AsyncConnection;
    conn.transaction::<(), diesel::result::Error, _>(async |conn| {
        let first = diesel::insert_into(settings::table)
            .values((
                settings::key.eq(SEEDED),
                settings::value.eq(serde_json::json!(true)),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if first == 0 {
            return Ok(());
        }
        // The table is empty: its first start is now.
        for body in defaults() {
            insert(conn, &body).await?;
        }
        Ok(())
    })
    .await
}

fn template(
    category: &str,
    keywords: &[(&str, &[&str])],
    replies: &[(&str, &str)],
    is_fallback: bool,
) -> AutoReplyBody {
    AutoReplyBody {
        category: category.to_owned(),
        keywords: keywords
            .iter()
            .map(|(l, k)| ((*l).to_owned(), k.iter().map(|s| (*s).to_owned()).collect()))
            .collect(),
        replies: replies
            .iter()
            .map(|(l, r)| ((*l).to_owned(), (*r).to_owned()))
            .collect(),
        is_fallback,
        active: true,
    }
}

/// The templates a new installation starts with, in English, Russian and Urdu.
pub fn defaults() -> Vec<AutoReplyBody> {
    vec![
        template(
            "order",
            &[
                ("en", &["late", "delay", "delayed", "delivery", "order", "where is my order"]),
                ("ru", &["заказ", "задержка", "опаздывает", "где мой заказ"]),
                ("ur", &["kahan", "order", "deir", "آرڈر", "کہاں", "دیر"]),
            ],
            &[
                ("en", "Thank you for writing about your order. Our team is offline right now; we will check your order and answer as soon as we are back."),
                ("ru", "Спасибо за сообщение о заказе. Сейчас операторов нет на месте; мы проверим ваш заказ и ответим, как только вернёмся."),
                ("ur", "آپ کے آرڈر کے بارے میں لکھنے کا شکریہ۔ ہماری ٹیم اس وقت آف لائن ہے؛ ہم واپس آتے ہی آپ کا آرڈر دیکھ کر جواب دیں گے۔"),
            ],
            false,
        ),
        template(
            "payment",
            &[
                ("en", &["refund", "payment", "paid", "charged", "money", "invoice"]),
                ("ru", &["возврат", "оплата", "деньги", "платеж", "списали"]),
                ("ur", &["paisay", "paise", "refund", "پیسے", "ریفنڈ", "ادائیگی"]),
            ],
            &[
                ("en", "Thank you for writing about a payment. Our team is offline right now; we will look into it and answer as soon as we are back."),
                ("ru", "Спасибо за сообщение об оплате. Сейчас операторов нет на месте; мы разберёмся и ответим, как только вернёмся."),
                ("ur", "ادائیگی کے بارے میں لکھنے کا شکریہ۔ ہماری ٹیم اس وقت آف لائن ہے؛ ہم واپس آتے ہی اسے دیکھ کر جواب دیں گے۔"),
            ],
            false,
        ),
        template(
            "delivery",
            &[
                ("en", &["shipping", "courier", "address", "tracking", "parcel"]),
                ("ru", &["доставка", "курьер", "адрес", "трек", "посылка"]),
                ("ur", &["courier", "pata", "کورئیر", "پتہ", "پارسل"]),
            ],
            &[
                ("en", "Thank you for writing about a delivery. Our team is offline right now; we will check with the courier and answer as soon as we are back."),
                ("ru", "Спасибо за сообщение о доставке. Сейчас операторов нет на месте; мы уточним у курьерской службы и ответим, как только вернёмся."),
                ("ur", "ڈیلیوری کے بارے میں لکھنے کا شکریہ۔ ہماری ٹیم اس وقت آف لائن ہے؛ ہم کورئیر سے معلوم کر کے واپس آتے ہی جواب دیں گے۔"),
            ],
            false,
        ),
        template(
            "technical",
            &[
                ("en", &["error", "bug", "crash", "login", "password", "not working", "app"]),
                ("ru", &["ошибка", "не работает", "пароль", "вход", "приложение"]),
                ("ur", &["masla", "kaam nahi", "مسئلہ", "ایپ", "پاس ورڈ"]),
            ],
            &[
                ("en", "Thank you for reporting the problem. Our team is offline right now; please tell us what you see, and we will answer as soon as we are back."),
                ("ru", "Спасибо, что сообщили о проблеме. Сейчас операторов нет на месте; опишите, пожалуйста, что вы видите, и мы ответим, как только вернёмся."),
                ("ur", "مسئلہ بتانے کا شکریہ۔ ہماری ٹیم اس وقت آف لائن ہے؛ براہ کرم بتائیں کہ آپ کو کیا نظر آ رہا ہے، ہم واپس آتے ہی جواب دیں گے۔"),
            ],
            false,
        ),
        template(
            "general",
            &[],
            &[
                ("en", "Thank you for your message. Our team is offline right now; we will answer as soon as we are back."),
                ("ru", "Спасибо за сообщение. Сейчас операторов нет на месте; мы ответим, как только вернёмся."),
                ("ur", "آپ کے پیغام کا شکریہ۔ ہماری ٹیم اس وقت آف لائن ہے؛ ہم واپس آتے ہی جواب دیں گے۔"),
            ],
            true,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::intent::words;
    use super::*;

    fn seeded() -> Vec<Template> {
        let rows: Vec<AutoReplyRow> = defaults()
            .into_iter()
            .map(|b| AutoReplyRow {
                id: Uuid::now_v7(),
                category: b.category.clone(),
                keywords: json(&b.keywords),
                replies: json(&b.replies),
                is_fallback: b.is_fallback,
                active: b.active,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            })
            .collect();
        Template::active(&rows)
    }

    fn category(text: &str) -> String {
        choose(&seeded(), &words(text))
            .map(|t| t.category.clone())
            .unwrap_or_default()
    }

    #[test]
    fn the_seeded_templates_are_valid_and_pick_the_seeds_examples() {
        for body in defaults() {
            body.validate().unwrap();
        }
        assert_eq!(category("My delivery is late"), "order");
        assert_eq!(category("mera order kahan hai"), "order");
        assert_eq!(category("I want a refund"), "payment");
        assert_eq!(category("mujhe paisay wapas chahiye"), "payment");
        assert_eq!(category("Где мой заказ?"), "order");
        assert_eq!(category("приложение не работает"), "technical");
        assert_eq!(category("میرا آرڈر کہاں ہے"), "order");
        assert_eq!(category("hello there"), "general");
    }

    #[test]
    fn the_reply_follows_the_customers_language() {
        let templates = seeded();
        let order = templates.iter().find(|t| t.category == "order").unwrap();
        assert!(order.reply_in("ur").unwrap().contains("آرڈر"));
        assert!(order.reply_in("ru-RU").unwrap().contains("заказ"));
        assert!(
            order.reply_in("de").unwrap().contains("order"),
            "English otherwise"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let mut body = defaults().remove(0);
        body.category = "Order Issue".into();
        assert!(body.validate().is_err());
        let mut body = defaults().remove(0);
        body.replies.clear();
        assert!(body.validate().is_err());
        let mut body = defaults().remove(0);
        body.keywords.insert("english".into(), vec!["x".into()]);
        assert!(body.validate().is_err());
        let mut body = defaults().remove(0);
        body.replies.insert("en".into(), "x".repeat(2001));
        assert!(body.validate().is_err());
    }
}
