//! The parts of a Telegram `Update` the gateway acts on, read leniently: unknown fields and
//! kinds are ignored rather than failing the whole update, so a new Telegram feature never
//! costs a customer's text. (teloxide's own `Update` turns any nested surprise into an empty
//! `Error` kind; the raw update is kept in the inbox either way.)

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub edited_message: Option<Message>,
    #[serde(default)]
    pub channel_post: Option<serde_json::Value>,
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
    #[serde(default)]
    pub my_chat_member: Option<ChatMemberUpdated>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Chat {
    pub fn is_private(&self) -> bool {
        self.kind == "private"
    }
}

/// Only the presence of a media field matters (what kind it is); its contents stay with
/// Telegram, and the message is copied by id.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: i64,
    #[serde(default)]
    pub from: Option<User>,
    pub chat: Chat,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Sent in a forum topic (a reply chain in an ordinary group has a thread id too).
    #[serde(default)]
    pub is_topic_message: bool,
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
    #[serde(default)]
    pub media_group_id: Option<String>,
    #[serde(default)]
    pub edit_date: Option<i64>,
    #[serde(default)]
    photo: Option<serde_json::Value>,
    #[serde(default)]
    document: Option<serde_json::Value>,
    #[serde(default)]
    voice: Option<serde_json::Value>,
    #[serde(default)]
    video: Option<serde_json::Value>,
    #[serde(default)]
    video_note: Option<serde_json::Value>,
    #[serde(default)]
    audio: Option<serde_json::Value>,
    #[serde(default)]
    sticker: Option<serde_json::Value>,
    #[serde(default)]
    animation: Option<serde_json::Value>,
}

impl Message {
    /// The kind of media the message carries, if any.
    pub fn media(&self) -> Option<&'static str> {
        // An animation also carries `document`: it is named first.
        [
            ("animation", &self.animation),
            ("photo", &self.photo),
            ("video", &self.video),
            ("video_note", &self.video_note),
            ("voice", &self.voice),
            ("audio", &self.audio),
            ("sticker", &self.sticker),
            ("document", &self.document),
        ]
        .into_iter()
        .find(|(_, field)| field.is_some())
        .map(|(name, _)| name)
    }

    /// Text or caption.
    pub fn content(&self) -> Option<&str> {
        self.text.as_deref().or(self.caption.as_deref())
    }

    /// A command (`/start`, `/link@bot CODE`) and what follows it.
    pub fn command(&self) -> Option<(String, &str)> {
        let text = self.text.as_deref()?.trim_start();
        let rest = text.strip_prefix('/')?;
        let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = word.split('@').next().unwrap_or(word).to_ascii_lowercase();
        Some((name, args.trim()))
    }

    /// The message this one really replies to: in a forum topic every message carries the
    /// topic's first message as `reply_to_message`, which is not a reply.
    pub fn replied_to(&self) -> Option<&Message> {
        let reply = self.reply_to_message.as_deref()?;
        match self.message_thread_id {
            Some(thread) if self.is_topic_message && reply.message_id == thread => None,
            _ => Some(reply),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMemberUpdated {
    pub chat: Chat,
    pub new_chat_member: ChatMember,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMember {
    pub status: String,
}

/// The chat an update belongs to, for keeping each chat's updates in order.
pub fn chat_of(update: &Update) -> Option<i64> {
    if let Some(m) = update.message.as_ref().or(update.edited_message.as_ref()) {
        return Some(m.chat.id);
    }
    if let Some(q) = &update.callback_query {
        return Some(q.message.as_ref().map_or(q.from.id, |m| m.chat.id));
    }
    update.my_chat_member.as_ref().map(|m| m.chat.id)
}

/// `update_id` alone, from any JSON object that has one (even one we cannot otherwise read).
pub fn update_id_of(raw: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Id {
        update_id: i64,
    }
    serde_json::from_str::<Id>(raw).ok().map(|i| i.update_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_with_or_without_the_bot_name() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "message_id": 1, "chat": {"id": 5, "type": "private"}, "text": "/Link@SupportBot  AB12 "
        }))
        .unwrap();
        assert_eq!(m.command(), Some(("link".to_owned(), "AB12")));
    }

    #[test]
    fn a_topic_root_is_not_a_reply() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "message_id": 9, "chat": {"id": -100, "type": "supergroup"}, "message_thread_id": 3,
            "is_topic_message": true,
            "reply_to_message": {"message_id": 3, "chat": {"id": -100, "type": "supergroup"}}
        }))
        .unwrap();
        assert!(m.replied_to().is_none());
        // In an ordinary group a reply chain has a thread id too: a reply to its first
        // message (the card) is a real reply.
        let m: Message = serde_json::from_value(serde_json::json!({
            "message_id": 9, "chat": {"id": -100, "type": "supergroup"}, "message_thread_id": 3,
            "reply_to_message": {"message_id": 3, "chat": {"id": -100, "type": "supergroup"}}
        }))
        .unwrap();
        assert_eq!(m.replied_to().map(|r| r.message_id), Some(3));
    }

    #[test]
    fn unknown_fields_and_kinds_do_not_fail_the_update() {
        let u: Update = serde_json::from_str(
            r#"{"update_id": 7, "message": {"message_id": 2, "chat": {"id": 1, "type": "private"},
                "text": "hi", "brand_new_field": {"x": [1]}}, "poll": {"id": "p"}}"#,
        )
        .unwrap();
        assert_eq!(u.message.unwrap().text.as_deref(), Some("hi"));
        assert_eq!(update_id_of(r#"{"update_id": 3, "whatever": 1}"#), Some(3));
        assert_eq!(update_id_of("not json"), None);
    }
}
