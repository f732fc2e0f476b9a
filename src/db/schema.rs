// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    auto_replies (id) {
        id -> Uuid,
        category -> Text,
        keywords -> Jsonb,
        replies -> Jsonb,
        is_fallback -> Bool,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deadlines (conversation_id, kind) {
        conversation_id -> Uuid,
        kind -> Text,
        due_at -> Timestamptz,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    assignments (id) {
        id -> Int8,
        conversation_id -> Uuid,
        operator_id -> Uuid,
        kind -> Text,
        assigned_at -> Timestamptz,
        unassigned_at -> Nullable<Timestamptz>,
        first_response_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        operator_id -> Nullable<Uuid>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        details -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> Uuid,
        shortcut -> Text,
        language -> Text,
        title -> Text,
        body -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    channel_identities (id) {
        id -> Uuid,
        contact_id -> Uuid,
        channel -> Text,
        external_id -> Bytea,
        lookup_hash -> Bytea,
        created_at -> Timestamptz,
        unreachable_at -> Nullable<Timestamptz>,
        refused_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        alias -> Text,
        language -> Text,
        created_at -> Timestamptz,
        blocked_at -> Nullable<Timestamptz>,
        blocked_until -> Nullable<Timestamptz>,
        block_reason -> Nullable<Text>,
        blocked_by -> Nullable<Uuid>,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    conversation_tags (conversation_id, tag_id) {
        conversation_id -> Uuid,
        tag_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        ticket -> Text,
        contact_id -> Uuid,
        channel -> Text,
        status -> Text,
        priority -> Int2,
        level -> Int2,
        assignee_id -> Nullable<Uuid>,
        language -> Text,
        category -> Nullable<Text>,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        assigned_at -> Nullable<Timestamptz>,
        first_response_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        last_seq -> Int8,
        last_message_at -> Nullable<Timestamptz>,
        unanswered -> Int4,
        visitor_read_seq -> Int8,
        operator_read_seq -> Int8,
        rating -> Nullable<Int2>,
        rating_comment -> Nullable<Text>,
        rated_at -> Nullable<Timestamptz>,
        group_id -> Uuid,
        automation -> Jsonb,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    events (conversation_id, seq) {
        conversation_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        author -> Text,
        author_id -> Nullable<Uuid>,
        author_name -> Text,
        body -> Text,
        data -> Nullable<Jsonb>,
        client_id -> Nullable<Text>,
        created_at -> Timestamptz,
        search -> Nullable<Tsvector>,
    }
}

diesel::table! {
    group_members (group_id, operator_id) {
        group_id -> Uuid,
        operator_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    groups (id) {
        id -> Uuid,
        name -> Text,
        strategy -> Text,
        is_default -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        business_hours -> Nullable<Jsonb>,
    }
}

diesel::table! {
    operator_sessions (id) {
        id -> Uuid,
        operator_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    operators (id) {
        id -> Uuid,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        tier -> Int2,
        max_concurrent -> Int4,
        accepting -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        status -> Text,
        last_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tags (id) {
        id -> Uuid,
        name -> Text,
        color -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    widget_sessions (id) {
        id -> Uuid,
        contact_id -> Uuid,
        conversation_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    telegram_inbox (id) {
        id -> Int8,
        update_id -> Nullable<Int8>,
        payload -> Nullable<Bytea>,
        received_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    telegram_outbox (id) {
        id -> Int8,
        lane -> Text,
        conversation_id -> Nullable<Uuid>,
        seq -> Nullable<Int8>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    telegram_posts (chat_id, message_id) {
        chat_id -> Int8,
        message_id -> Int8,
        conversation_id -> Uuid,
        seq -> Nullable<Int8>,
        created_at -> Timestamptz,
        card -> Bool,
    }
}

diesel::table! {
    telegram_topics (conversation_id) {
        conversation_id -> Uuid,
        chat_id -> Int8,
        thread_id -> Int8,
        closed -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    telegram_surveys (contact_id) {
        contact_id -> Uuid,
        conversation_id -> Uuid,
        score -> Int2,
        asked_at -> Timestamptz,
    }
}

diesel::table! {
    telegram_texts (key, language) {
        key -> Text,
        language -> Text,
        text -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    telegram_state (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    operator_telegram_links (operator_id) {
        operator_id -> Uuid,
        lookup_hash -> Bytea,
        linked_at -> Timestamptz,
        external_id -> Nullable<Bytea>,
    }
}

diesel::table! {
    operator_login_codes (operator_id) {
        operator_id -> Uuid,
        code_hash -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        attempts -> Int4,
    }
}

diesel::table! {
    operator_login_failures (id) {
        id -> Int8,
        account -> Bytea,
        client -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    telegram_link_codes (code_hash) {
        code_hash -> Bytea,
        operator_id -> Uuid,
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(assignments -> conversations (conversation_id));
diesel::joinable!(assignments -> operators (operator_id));
diesel::joinable!(audit_log -> operators (operator_id));
diesel::joinable!(channel_identities -> contacts (contact_id));
diesel::joinable!(conversation_tags -> conversations (conversation_id));
diesel::joinable!(conversation_tags -> tags (tag_id));
diesel::joinable!(conversations -> contacts (contact_id));
diesel::joinable!(conversations -> groups (group_id));
diesel::joinable!(conversations -> operators (assignee_id));
diesel::joinable!(events -> conversations (conversation_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> operators (operator_id));
diesel::joinable!(operator_sessions -> operators (operator_id));
diesel::joinable!(telegram_outbox -> conversations (conversation_id));
diesel::joinable!(telegram_posts -> conversations (conversation_id));
diesel::joinable!(operator_telegram_links -> operators (operator_id));
diesel::joinable!(widget_sessions -> contacts (contact_id));
diesel::joinable!(widget_sessions -> conversations (conversation_id));

diesel::joinable!(deadlines -> conversations (conversation_id));

diesel::allow_tables_to_appear_in_same_query!(
    auto_replies,
    deadlines,
    settings,
    telegram_surveys,
    telegram_texts,
    telegram_topics,
    operator_login_codes,
    operator_login_failures,
    telegram_inbox,
    telegram_outbox,
    telegram_posts,
    telegram_state,
    operator_telegram_links,
    telegram_link_codes,
    assignments,
    audit_log,
    canned_responses,
    channel_identities,
    contacts,
    conversation_tags,
    conversations,
    events,
    group_members,
    groups,
    operator_sessions,
    operators,
    tags,
    widget_sessions,
);
